package plantbench_test

import (
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
	q1 := pca.Options{Components: 1, Statistic: pca.StatQ, Robust: 5}
	q1.Calibrate.Skip = 0.999
	for _, c := range []cand{
		pcaC("Q1 pk.999 r5", q1),
	} {
		for _, pol := range []plantbench.Policy{plantbench.Learn} {
			cfg := plantbench.Config{New: c.new, Policy: pol, Alert: plantbench.Alert{Threshold: 0.9999, Clear: 0.999, Consecutive: 3}}
			r, err := plantbench.Run(sc, t0, 40*time.Minute, cfg)
			if err != nil {
				t.Fatal(err)
			}
			plantbench.WriteTable(os.Stdout, c.name+" "+pol.String(), r)
		}
	}
}
