package plant_test

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
)

func TestWriteLabelsJSONAndCSV(t *testing.T) {
	sc := plant.Demo()
	sc.Gateways[1].Machines[2].Skew = conf.Duration(-2 * time.Second)
	sc.Gateways[1].Machines[2].Faults = []plant.Fault{{Kind: plant.FaultStuck, Onset: conf.Duration(time.Minute), Repair: conf.Duration(time.Minute)}}
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := g.Labels()
	tests := []struct{ path, jsonPath, csvPath string }{
		{"labels.json", "labels.json", "labels.csv"},
		{"truth.csv", "truth.json", "truth.csv"},
		{"noext", "noext", "noext.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			dir := t.TempDir()
			if err := plant.WriteLabels(filepath.Join(dir, tt.path), want); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, tt.jsonPath))
			if err != nil {
				t.Fatal(err)
			}
			var got []plant.Label
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Machine != "motor-1" || !got[0].Onset.Equal(want[0].Onset) || !got[0].Failure.Equal(want[0].Failure) {
				t.Fatalf("JSON labels %+v, want %+v", got, want)
			}
			stuck := got[1]
			if stuck.Sensor != plant.SensorTemperature || stuck.SkewMs != -2000 || len(stuck.Windows) != 1 || stuck.Repair == nil {
				t.Fatalf("stuck label %+v", stuck)
			}
			if w := stuck.Windows[0]; !w.Start.Equal(stuck.Failure.Add(-2*time.Second)) || w.End == nil || !w.End.Equal(stuck.Repair.Add(-2*time.Second)) {
				t.Fatalf("stuck window %+v: want the failed phase in device time (skew -2s)", w)
			}
			f, err := os.Open(filepath.Join(dir, tt.csvPath))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(rows[0], ",") != strings.Join(plant.CSVHeader, ",") {
				t.Fatalf("header %v", rows[0])
			}
			if len(rows) != 1+3 { // bearing wear: degrading + failed; stuck: failed
				t.Fatalf("%d rows, want 4", len(rows))
			}
			if rows[1][8] != plant.PhaseDegrading || rows[1][9] != want[0].Onset.Format(time.RFC3339Nano) ||
				rows[1][11] != strconv.FormatInt(want[0].Onset.UnixMilli(), 10) {
				t.Fatalf("row %v", rows[1])
			}
			if rows[2][8] != plant.PhaseFailed || rows[2][10] != "" {
				t.Fatalf("open failed phase row %v: want an empty end", rows[2])
			}
		})
	}
}

func TestExportCSV(t *testing.T) {
	dir := t.TempDir()
	if err := plant.ExportCSV(dir, plant.Demo(), t0, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gw1/pump-1.csv", "gw1/motor-1.csv", "gw1/comp-1.csv", "gw2/pump-2.csv", "gw2/motor-2.csv", "gw2/comp-2.csv", "labels.json", "labels.csv"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "gw1", "motor-1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "time,vib_rms,bearing_temp,current,rpm,anomaly" {
		t.Fatalf("header %s", got)
	}
	if len(rows) != 1+360 {
		t.Fatalf("%d rows, want 360 readings plus a header", len(rows)-1)
	}
	// The labels say where the anomaly column is 1, and the signal agrees.
	var pre, late float64
	var anomalies int
	for i, r := range rows[1:] {
		ts, err := time.Parse(time.RFC3339Nano, r[0])
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i) * 500 * time.Millisecond); !ts.Equal(want) {
			t.Fatalf("row %d time %v, want %v", i, ts, want)
		}
		inFault := ts.Sub(t0) >= time.Minute
		if (r[5] == "1") != inFault {
			t.Fatalf("row %d at %v: anomaly %s", i, ts.Sub(t0), r[5])
		}
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		switch d := ts.Sub(t0); {
		case d >= 30*time.Second && d < time.Minute:
			pre += v / 60
		case d >= 130*time.Second && d < 150*time.Second:
			late += v / 40
		}
		if r[5] == "1" {
			anomalies++
		}
	}
	if late < 3*pre {
		t.Fatalf("vibration %.2f before onset, %.2f before failure", pre, late)
	}
	if anomalies != 240 {
		t.Fatalf("%d anomalous rows, want 240", anomalies)
	}
}
