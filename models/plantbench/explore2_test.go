package plantbench_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models/pca"
	"millwright/models/plantbench"
)

func TestExploreRealistic(t *testing.T) {
	if os.Getenv("PLANTBENCH_EXPLORE") == "" {
		t.Skip("set PLANTBENCH_EXPLORE=1")
	}
	sc, err := plant.LoadScenario(filepath.Join("..", "..", "firmware-sim", "testdata", "scenarios", "realistic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	q1 := pca.Options{Components: 1, Statistic: pca.StatQ, Robust: 5, CalibrateUntil: 600}

	for _, c := range []cand{
		pcaC("Q1 pk.999 r5", q1),
	} {
		for _, pol := range []plantbench.Policy{plantbench.Learn} {
			cfg := plantbench.Config{New: c.new, Policy: pol, Alert: plantbench.Alert{Threshold: 0.999, Clear: 0.99, Consecutive: 3}}
			var mx float64
			cfg.Trace = func(m string, at time.Time, x []float64, v float64) {
				if m != os.Getenv("TRACE") {
					return
				}
				mx = max(mx, v)
				if at.Sub(t0)%(30*time.Second) == 0 {
					fmt.Printf("%v %v %.6f\n", at.Sub(t0), x, mx)
					mx = 0
				}
			}
			r, err := plantbench.Run(sc, t0, 40*time.Minute, cfg)
			if err != nil {
				t.Fatal(err)
			}
			plantbench.WriteTable(os.Stdout, c.name+" "+pol.String(), r)
		}
	}
}
