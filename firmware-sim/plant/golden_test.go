package plant_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"millwright/firmware-sim/plant"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the first ticks of the demo plant, and of the bench
// plant (conveyors, normal life, vibration frames and their features), so
// a change to the physics or the encodings is a visible diff (go test
// -update to accept it).
func TestGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// Other architectures may fuse multiply-adds, changing the last bits.
		t.Skip("golden files are recorded on amd64")
	}
	cases := []struct {
		name string
		sc   plant.Scenario
		f    plant.Format
	}{
		{"demo", plant.Demo(), plant.FormatJSON},
		{"demo", plant.Demo(), plant.FormatCBOR},
		{"bench", plant.Bench(), plant.FormatJSON},
	}
	for _, c := range cases {
		f := c.f
		t.Run(c.name+"/"+string(f), func(t *testing.T) {
			g, err := plant.NewGenerator(c.sc, t0)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for range 3 {
				for _, fr := range g.Next() {
					if got, err = plant.AppendEncode(got, fr.Telemetry, f); err != nil {
						t.Fatal(err)
					}
					got = append(got, '\n')
				}
			}
			path := filepath.Join("..", "testdata", "golden", c.name+"-3ticks."+string(f))
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s output differs from %s; if intended, go test ./firmware-sim/plant -run TestGolden -update\ngot:\n%.600s", c.name, path, got)
			}
		})
	}
}
