package plant

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Label is the ground truth of one fault.
type Label struct {
	Gateway  string  `json:"gateway"`
	Machine  string  `json:"machine"`
	Kind     string  `json:"kind"`
	Sensor   string  `json:"sensor,omitempty"` // sensor faults only
	Severity float64 `json:"severity"`
	// Onset, Failure and Repair are true times.
	Onset   time.Time  `json:"onset"`
	Failure time.Time  `json:"failure"`
	Repair  *time.Time `json:"repair,omitempty"`
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

// Fault phases.
const (
	PhaseDegrading = "degrading" // onset to failure
	PhaseFailed    = "failed"    // failure to repair
)

// Labels returns the ground truth of every fault in the scenario, in
// scenario order.
func (g *Generator) Labels() []Label {
	var out []Label
	i := 0
	for _, gw := range g.sc.Gateways {
		for _, m := range gw.Machines {
			gm := g.machines[i]
			i++
			for _, f := range gm.st.faults {
				out = append(out, g.label(gw.ID, m.ID, gm.skew, f))
			}
		}
	}
	return out
}

func (g *Generator) label(gw, machine string, skew int64, f activeFault) Label {
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
var CSVHeader = []string{"gateway", "machine", "kind", "sensor", "severity", "onset", "failure", "skew_ms", "phase", "start", "end", "start_ms", "end_ms"}

func labelsCSV(labels []Label) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(CSVHeader)
	for _, l := range labels {
		for _, win := range l.Windows {
			end, endMs := "", ""
			if win.End != nil {
				end, endMs = win.End.Format(time.RFC3339Nano), strconv.FormatInt(win.End.UnixMilli(), 10)
			}
			w.Write([]string{
				l.Gateway, l.Machine, l.Kind, l.Sensor, strconv.FormatFloat(l.Severity, 'g', -1, 64),
				l.Onset.Format(time.RFC3339Nano), l.Failure.Format(time.RFC3339Nano), strconv.FormatInt(l.SkewMs, 10),
				win.Phase, win.Start.Format(time.RFC3339Nano), end, strconv.FormatInt(win.Start.UnixMilli(), 10), endMs,
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
