package skab_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"millwright/models"
	"millwright/models/skab"
)

// constant is a detector that always returns the same score.
type constant struct {
	v float64
	n uint64
}

func (c *constant) Update([]float64) float64 { c.n++; return c.v }
func (c *constant) Score([]float64) float64  { return c.v }
func (c *constant) Kind() string             { return "constant" }
func (c *constant) Samples() uint64          { return c.n }

func newConstant(v float64) func(int, uint64) models.Detector {
	return func(int, uint64) models.Detector { return &constant{v: v} }
}

var (
	loadOnce  sync.Once
	loadFiles []skab.File
	loadErr   error
)

// files loads the real data once per test binary, failing (not skipping)
// when it is missing.
func files(t testing.TB) []skab.File {
	t.Helper()
	loadOnce.Do(func() {
		dir, err := skab.FindDir()
		if err != nil {
			loadErr = err
			return
		}
		loadFiles, loadErr = skab.Load(dir)
	})
	if loadErr != nil {
		t.Fatalf("SKAB data: %v", loadErr)
	}
	return loadFiles
}

func TestLoadRealData(t *testing.T) {
	fs := files(t)
	if len(fs) != 34 {
		t.Fatalf("%d files, want 34 (valve1 16, valve2 4, other 14)", len(fs))
	}
	if fs[0].Name != "valve1/0.csv" || fs[len(fs)-1].Name != "other/14.csv" {
		t.Fatalf("order: first %s last %s", fs[0].Name, fs[len(fs)-1].Name)
	}
	for _, f := range fs {
		if len(f.X) != len(f.Time) || len(f.X) != len(f.Anomaly) || len(f.X) != len(f.Changepoint) {
			t.Fatalf("%s: ragged columns", f.Name)
		}
	}
}

func TestHarnessAnchors(t *testing.T) {
	fs := files(t)
	var testRows, anomalous int
	for _, f := range fs {
		for _, a := range f.Anomaly[skab.WarmUp:] {
			testRows++
			if a {
				anomalous++
			}
		}
	}
	always := skab.Score(fs, newConstant(1)).At(0.5)
	never := skab.Score(fs, newConstant(0)).At(0.5)

	if got := always.Rows.Total(); got != uint64(testRows) {
		t.Fatalf("rows counted = %d, want %d", got, testRows)
	}
	if always.FAR() != 1 || always.MAR() != 0 {
		t.Errorf("always alarm: FAR %v MAR %v, want 1 and 0", always.FAR(), always.MAR())
	}
	wantF1 := 2 * float64(anomalous) / float64(testRows+anomalous)
	if math.Abs(always.F1()-wantF1) > 1e-12 || math.Abs(always.F1()-0.70) > 0.01 {
		t.Errorf("always alarm: F1 %v, want %v ≈ 0.70", always.F1(), wantF1)
	}
	if never.F1() != 0 || never.FAR() != 0 || never.MAR() != 1 {
		t.Errorf("never alarm: F1 %v FAR %v MAR %v, want 0, 0, 1", never.F1(), never.FAR(), never.MAR())
	}
	for p, prof := range skab.Profiles {
		if never.NAB[p] != 0 {
			t.Errorf("never alarm: NAB %s = %v, want 0", prof.Name, never.NAB[p])
		}
		// An always-on alarm has no edge after the first test row: it is
		// silent as a changepoint detector.
		if always.NAB[p] != 0 {
			t.Errorf("always alarm: NAB %s = %v, want 0", prof.Name, always.NAB[p])
		}
	}
	if never.Events.Missed != never.Events.Windows || never.Events.Windows < 34 {
		t.Errorf("never alarm events: %+v", never.Events)
	}
}

func TestHarnessOracles(t *testing.T) {
	fs := files(t)
	sc := skab.Score(fs, newConstant(0))
	label := sc.Decide(func(i, j int, _ float64) bool { return fs[i].Anomaly[skab.WarmUp+j] })
	if label.F1() != 1 || label.FAR() != 0 || label.MAR() != 0 {
		t.Errorf("label oracle: F1 %v FAR %v MAR %v, want 1, 0, 0", label.F1(), label.FAR(), label.MAR())
	}
	if label.Events.Detected != label.Events.Windows || label.Events.MeanDelay != 0 || label.Events.FalseAlarms != 0 {
		t.Errorf("label oracle events: %+v", label.Events)
	}
	// Pulses on the labelled changepoints put an edge on the first row of
	// every window, and the falling edge right after stays inside it.
	cp := sc.Decide(func(i, j int, _ float64) bool { return fs[i].Changepoint[skab.WarmUp+j] })
	if math.Abs(cp.NAB[0]-100) > 1e-9 {
		t.Errorf("changepoint oracle: NAB %v, want 100", cp.NAB[0])
	}
	// The label oracle's edges are the episodes' ends: a good but imperfect
	// changepoint detector.
	if label.NAB[0] <= 50 || label.NAB[0] >= 100 {
		t.Errorf("label oracle: NAB %v, want in (50, 100)", label.NAB[0])
	}
	// Late pulses (30 s after each changepoint) score less than on time.
	late := sc.Decide(func(i, j int, _ float64) bool {
		k := skab.WarmUp + j - 30
		return k >= 0 && fs[i].Changepoint[k]
	})
	if !(late.NAB[0] < cp.NAB[0] && late.NAB[0] > 0) {
		t.Errorf("late changepoint oracle: NAB %v, want in (0, %v)", late.NAB[0], cp.NAB[0])
	}
}

func TestEvaluateMatchesScore(t *testing.T) {
	dir, err := skab.FindDir()
	if err != nil {
		t.Fatal(err)
	}
	r, err := skab.Evaluate(dir, newConstant(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 34 || r.FAR() != 1 {
		t.Fatalf("Evaluate: %d files, FAR %v", r.Files, r.FAR())
	}
}

func TestFindDirMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nowhere")
	t.Setenv("MILLWRIGHT_DATA", dir)
	_, err := skab.FindDir()
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want one naming %s", err, dir)
	}
}

func TestLoadSmall(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint\n")
	for i := range skab.WarmUp + 3 {
		a := "0.0"
		if i > skab.WarmUp {
			a = "1.0"
		}
		b.WriteString("2020-03-09 10:14:33;1;2;3;4;5;6;7;8;" + a + ";0.0\n")
		_ = i
	}
	for _, g := range skab.Groups {
		if err := os.MkdirAll(filepath.Join(dir, g), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"10.csv", "2.csv"} {
			if err := os.WriteFile(filepath.Join(dir, g, n), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fs, err := skab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 6 || fs[0].Name != "valve1/2.csv" || fs[1].Name != "valve1/10.csv" {
		t.Fatalf("loaded %d files, first %s %s", len(fs), fs[0].Name, fs[1].Name)
	}
	if fs[0].X[0] != [skab.Dim]float64{1, 2, 3, 4, 5, 6, 7, 8} || !fs[0].Anomaly[skab.WarmUp+1] || fs[0].Anomaly[skab.WarmUp] {
		t.Fatalf("parsed %v, anomaly %v", fs[0].X[0], fs[0].Anomaly[skab.WarmUp:])
	}
	// A malformed file is refused, naming it.
	bad := filepath.Join(dir, "other", "3.csv")
	if err := os.WriteFile(bad, []byte("datetime;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := skab.Load(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want one naming %s", err, bad)
	}
}

func TestCrossValidateRefusesNoConfigurations(t *testing.T) {
	if _, _, err := skab.CrossValidate(files(t), nil, skab.ConstrainedF1); err == nil {
		t.Fatal("cross-validation without configurations accepted")
	}
}

func TestConstrainedF1(t *testing.T) {
	fs := files(t)
	sc := skab.Score(fs, newConstant(1))
	always, never := sc.At(0.5), sc.At(2)
	// Always alarming has the higher F1 but breaks the FAR bound; never
	// alarming breaks the MAR bound: F1 decides between the two.
	if !skab.ConstrainedF1(always, never) || skab.ConstrainedF1(never, always) {
		t.Fatal("between two results outside the bounds, the higher F1 must win")
	}
	label := sc.Decide(func(i, j int, _ float64) bool { return fs[i].Anomaly[skab.WarmUp+j] })
	if !skab.ConstrainedF1(label, always) || skab.ConstrainedF1(always, label) {
		t.Fatal("a result within the bounds must beat one outside them")
	}
}
