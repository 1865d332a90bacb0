package plant

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Label is the ground truth of one fault, or of one outage of a device
// (Kind LabelOutage): not a fault of the machine, but time in which its
// readings arrive late, in a burst, or never, which a detector's scorer
// should leave out.
type Label struct {
	Gateway  string  `json:"gateway"`
	Machine  string  `json:"machine"`
	Kind     string  `json:"kind"`
	Sensor   string  `json:"sensor,omitempty"` // sensor faults only
	Severity float64 `json:"severity"`
	// Onset, Failure and Repair are true times. For an outage, Onset is
	// when the device goes offline and Failure when it is back.
	Onset   time.Time  `json:"onset"`
	Failure time.Time  `json:"failure"`
	Repair  *time.Time `json:"repair,omitempty"`
	// Location and DefectHz say where a bearing-wear defect is and the
	// frequency at which its impacts repeat at the machine's mean speed
	// (BPFO, BPFI, 2×BSF or FTF).
	Location string  `json:"location,omitempty"`
	DefectHz float64 `json:"defect_hz,omitempty"`
	// Delivery is what happens to an outage's readings: DeliveryBurst or
	// DeliveryLost.
	Delivery string `json:"delivery,omitempty"`
	// SkewMs is the device clock's offset from true time.
	SkewMs int64 `json:"skew_ms"`
	// Windows are the fault's phases in the device's event time, the time
	// its telemetry carries (true time plus skew).
	Windows []Window `json:"windows"`
}

// Window is a phase of a fault in event time: [Start, End); End is nil while
// the phase never ends.
type Window struct {
	Phase string     `json:"phase"` // PhaseDegrading or PhaseFailed
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// Fault phases, and the phase of an outage.
const (
	PhaseDegrading = "degrading" // onset to failure
	PhaseFailed    = "failed"    // failure to repair
	PhaseOffline   = "offline"   // an outage: the device is not reachable
)

// LabelOutage is the Kind of an outage's label.
const LabelOutage = "outage"

// What happens to the readings of an offline device.
const (
	DeliveryBurst = "burst" // kept and sent in a burst when back
	DeliveryLost  = "lost"  // lost
)

// Labels returns the ground truth of every fault in the scenario, in
// scenario order. Outages are in OutageLabels; AllLabels has both.
func (g *Generator) Labels() []Label {
	var out []Label
	i := 0
	for _, gw := range g.sc.Gateways {
		for _, m := range gw.Machines {
			gm := g.machines[i]
			i++
			for _, f := range gm.st.faults {
				out = append(out, g.label(gw.ID, m.ID, gm, f))
			}
		}
	}
	return out
}

func (g *Generator) label(gw, machine string, gm *genMachine, f activeFault) Label {
	skew := gm.skew
	at := func(sec float64) time.Time {
		return time.Unix(0, g.start+int64(sec*1e9)).UTC()
	}
	l := Label{
		Gateway: gw, Machine: machine, Kind: f.kind, Severity: f.k,
		Onset: at(f.onset), Failure: at(f.failure), SkewMs: skew / int64(time.Millisecond),
	}
	if f.isSensor {
		l.Sensor = sensorNameOf[f.sensor]
	}
	if f.kind == FaultBearingWear {
		l.Location = f.location
		l.DefectHz = math.Round(defectRate(gm.st.geo.frequencies(gm.nominalShaft()).Defects, f.location)*100) / 100
	}
	sk := time.Duration(skew)
	if f.failure > f.onset {
		end := l.Failure.Add(sk)
		l.Windows = append(l.Windows, Window{Phase: PhaseDegrading, Start: l.Onset.Add(sk), End: &end})
	}
	w := Window{Phase: PhaseFailed, Start: l.Failure.Add(sk)}
	if f.repair < 1e300 {
		r := at(f.repair)
		l.Repair = &r
		end := r.Add(sk)
		w.End = &end
	}
	l.Windows = append(l.Windows, w)
	return l
}

// OutageLabels returns the ground truth of every outage in the network:
// one label per machine offline (all of a gateway's for a gateway
// outage), with one PhaseOffline window in the device's event time, in
// the scenario's order of outages.
func (g *Generator) OutageLabels() []Label {
	var out []Label
	for _, o := range g.sc.Network.Outages {
		for _, gm := range g.machines {
			if o.Machine != gm.st.id && (o.Machine != "" || o.Gateway != gm.gw) {
				continue
			}
			from := time.Unix(0, g.start+int64(o.At)).UTC()
			to := from.Add(o.Duration.D())
			sk := time.Duration(gm.skew)
			end := to.Add(sk)
			l := Label{Gateway: gm.gw, Machine: gm.st.id, Kind: LabelOutage, Onset: from, Failure: to,
				SkewMs: gm.skew / int64(time.Millisecond), Delivery: DeliveryBurst,
				Windows: []Window{{Phase: PhaseOffline, Start: from.Add(sk), End: &end}}}
			if o.Lose {
				l.Delivery = DeliveryLost
			}
			out = append(out, l)
		}
	}
	return out
}

// AllLabels is Labels followed by OutageLabels: what Run and ExportCSV
// write.
func (g *Generator) AllLabels() []Label { return append(g.Labels(), g.OutageLabels()...) }

// WriteLabels writes labels as JSON to path and as CSV beside it (the same
// name with the extension .csv; a path ending in .csv gets its JSON beside
// it as .json). Each file is replaced atomically.
func WriteLabels(path string, labels []Label) error {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	jsonPath, csvPath := path, base+".csv"
	if strings.EqualFold(ext, ".csv") {
		jsonPath, csvPath = base+".json", path
	}
	if labels == nil {
		labels = []Label{}
	}
	j, err := json.MarshalIndent(labels, "", "  ")
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	if err := writeAtomic(jsonPath, append(j, '\n')); err != nil {
		return err
	}
	return writeAtomic(csvPath, labelsCSV(labels))
}

// CSVHeader is the header of the labels CSV: one row per fault phase.
var CSVHeader = []string{"gateway", "machine", "kind", "sensor", "severity", "onset", "failure", "skew_ms", "phase", "start", "end", "start_ms", "end_ms",
	"location", "defect_hz", "delivery"}

func labelsCSV(labels []Label) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(CSVHeader)
	for _, l := range labels {
		defectHz := ""
		if l.DefectHz != 0 {
			defectHz = strconv.FormatFloat(l.DefectHz, 'g', -1, 64)
		}
		for _, win := range l.Windows {
			end, endMs := "", ""
			if win.End != nil {
				end, endMs = win.End.Format(time.RFC3339Nano), strconv.FormatInt(win.End.UnixMilli(), 10)
			}
			w.Write([]string{
				l.Gateway, l.Machine, l.Kind, l.Sensor, strconv.FormatFloat(l.Severity, 'g', -1, 64),
				l.Onset.Format(time.RFC3339Nano), l.Failure.Format(time.RFC3339Nano), strconv.FormatInt(l.SkewMs, 10),
				win.Phase, win.Start.Format(time.RFC3339Nano), end, strconv.FormatInt(win.Start.UnixMilli(), 10), endMs,
				l.Location, defectHz, l.Delivery,
			})
		}
	}
	w.Flush()
	return b.Bytes()
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// defectRate is the rate of a bearing defect's impacts at location.
func defectRate(d Defects, location string) float64 {
	switch location {
	case LocationInnerRace:
		return d.BPFI
	case LocationBall:
		return 2 * d.BSF
	case LocationCage:
		return d.FTF
	}
	return d.BPFO
}
