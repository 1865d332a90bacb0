package replay

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/golden")

// ewmaZ is a deterministic test detector that belongs to this test, so
// that the golden files pin replay's output (fields, quoting, order, score
// format, alert decision, skipped rows), not the tuning of models/ that
// other tests check: the score is |z| of the first non-NaN feature against
// an EWMA mean and variance, squashed into [0, 1).
type ewmaZ struct {
	n        uint64
	mean, vr float64
}

func (d *ewmaZ) Score(x []float64) float64 {
	for _, v := range x {
		if v == v {
			z := math.Abs(v-d.mean) / math.Sqrt(d.vr+1e-9)
			return z / (1 + z)
		}
	}
	return 0
}

func (d *ewmaZ) Update(x []float64) float64 {
	s := d.Score(x)
	for _, v := range x {
		if v == v {
			if d.n == 0 {
				d.mean = v
			}
			diff := v - d.mean
			d.mean += 0.1 * diff
			d.vr = 0.9 * (d.vr + 0.1*diff*diff)
			break
		}
	}
	d.n++
	return s
}

func (d *ewmaZ) Kind() string    { return "ewmaz" }
func (d *ewmaZ) Samples() uint64 { return d.n }

// TestGolden pins the whole output of a few replays. Run with -update
// after an intended change and review the diff.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts Options
	}{
		{"comma", "comma.csv", Options{Threshold: 0.9}},
		{"comma.b", "comma.csv", Options{Columns: []string{"b"}, Threshold: 0.6}},
		{"semicolon", "semicolon.csv", Options{Threshold: 0.6}},
		{"malformed", "malformed.csv", Options{Threshold: 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.opts.In, tt.opts.Out, tt.opts.Detector = open(t, tt.in), &out, new(ewmaZ)
			if _, err := Run(t.Context(), tt.opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.name+".csv")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("golden file missing (run go test -update): %v", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s (run go test -update and review the diff)", path)
			}
		})
	}
}
