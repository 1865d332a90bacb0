package plant_test

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/wire"
)

// TestOutageLabels: every outage of the realistic scenario is labelled,
// per machine, and the labels say what the network did: during a labelled
// window, a device's readings arrive only when it is back, in a burst, or
// never; outside of one, a device is never silent that long.
func TestOutageLabels(t *testing.T) {
	sc, err := plant.LoadScenario(filepath.Join(scenarios, "realistic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	outages := g.OutageLabels()
	want := map[string]string{"ma1": plant.DeliveryBurst, "pb1": plant.DeliveryBurst, "mb1": plant.DeliveryBurst, "cb1": plant.DeliveryBurst, "pa1": plant.DeliveryLost}
	if len(outages) != len(want) {
		t.Fatalf("%d outage labels, want %d: %+v", len(outages), len(want), outages)
	}
	byMachine := map[string]plant.Label{}
	for _, l := range outages {
		if l.Kind != plant.LabelOutage || want[l.Machine] != l.Delivery || len(l.Windows) != 1 || l.Windows[0].Phase != plant.PhaseOffline || l.Windows[0].End == nil {
			t.Fatalf("outage label %+v", l)
		}
		if l.Windows[0].Start.Sub(l.Onset) != time.Duration(l.SkewMs)*time.Millisecond {
			t.Fatalf("%s: window %v not in event time (onset %v, skew %d ms)", l.Machine, l.Windows[0].Start, l.Onset, l.SkewMs)
		}
		byMachine[l.Machine] = l
	}
	if all := g.AllLabels(); len(all) != len(g.Labels())+len(outages) {
		t.Fatalf("AllLabels has %d, want faults and outages", len(all))
	}

	const d = 30 * time.Minute
	inWindow, burstLate := map[string]int{}, map[string]int{}
	err = plant.Deliver(sc, t0, d, plant.FormatCBOR, func(at time.Time, _ string, payload []byte) error {
		var tm wire.Telemetry
		if err := wire.DecodeTelemetry(payload, "", 0, &tm); err != nil {
			return err
		}
		l, ok := byMachine[tm.Machine]
		if !ok {
			return nil
		}
		ev := time.Unix(0, tm.Env.Time)
		w := l.Windows[0]
		if ev.Before(w.Start) || !ev.Before(*w.End) {
			return nil
		}
		inWindow[tm.Machine]++
		if !at.Before(l.Failure) {
			burstLate[tm.Machine]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for m, l := range byMachine {
		n := int(l.Failure.Sub(l.Onset) / (500 * time.Millisecond))
		switch l.Delivery {
		case plant.DeliveryLost:
			if inWindow[m] != 0 {
				t.Errorf("%s: %d readings of a lost outage delivered", m, inWindow[m])
			}
		default:
			// A reading at the window's edge may be a duplicate or cross
			// it by its skew rounding; the rest come in the burst.
			if inWindow[m] < n || burstLate[m] < n-1 {
				t.Errorf("%s: %d readings in the offline window, %d delivered after it ended; want about %d, all in the burst", m, inWindow[m], burstLate[m], n)
			}
		}
	}

	// In the files: JSON and CSV, as their own kind.
	dir := t.TempDir()
	if err := plant.ExportCSV(dir, sc, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []plant.Label
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	jsonOutages, csvOutages := 0, 0
	for _, l := range got {
		if l.Kind == plant.LabelOutage {
			jsonOutages++
		}
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, r := range rows[1:] {
		if r[col["kind"]] == plant.LabelOutage {
			csvOutages++
			if r[col["phase"]] != plant.PhaseOffline || r[col["end_ms"]] == "" || r[col["delivery"]] == "" {
				t.Errorf("outage row %v", r)
			}
		}
	}
	if jsonOutages != len(want) || csvOutages != len(want) {
		t.Errorf("%d outages in labels.json, %d in labels.csv, want %d", jsonOutages, csvOutages, len(want))
	}
}
