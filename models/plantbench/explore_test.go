package plantbench_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models"
	"millwright/models/baseline"
	_ "millwright/models/catalog"
	"millwright/models/pca"
	"millwright/models/plantbench"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func healthyDemo(seed uint64, rate float64) plant.Scenario {
	sc := plant.Demo()
	sc.Seed, sc.Rate = seed, rate
	for g := range sc.Gateways {
		for m := range sc.Gateways[g].Machines {
			sc.Gateways[g].Machines[m].Faults = nil
		}
	}
	return sc
}

type cand struct {
	name string
	new  func(int, uint64) (models.Detector, error)
}

func pcaC(name string, o pca.Options) cand {
	return cand{name, func(d int, s uint64) (models.Detector, error) { return pca.New(d, o) }}
}
func baseC(name string, o baseline.Options) cand {
	return cand{name, func(d int, s uint64) (models.Detector, error) { return baseline.New(d, o) }}
}

func TestExplore(t *testing.T) {
	if os.Getenv("PLANTBENCH_EXPLORE") == "" {
		t.Skip("set PLANTBENCH_EXPLORE=1")
	}
	q1 := pca.Options{Components: 1, Statistic: pca.StatQ}
	with := func(o pca.Options, f func(*pca.Options)) pca.Options { f(&o); return o }
	sk := func(o *pca.Options, skip float64) { o.Calibrate.Skip = skip }
	_ = sk
	var cands []cand
	for _, k := range []int{1, 2, 0} {
		for _, st := range []int{pca.StatQ, pca.StatR, pca.StatT2Q} {
			for _, rb := range []float64{2, 5} {
				for _, fg := range []float64{0.999, 0.9999} {
					for _, cu := range []uint64{600, 0} {
						o := pca.Options{Components: k, Statistic: st, Robust: rb, Forget: fg, CalibrateUntil: cu}
						cands = append(cands, pcaC(fmt.Sprintf("k%d s%d r%g f%g cu%d", k, st, rb, fg, cu), o))
					}
				}
			}
		}
	}
	if k := os.Getenv("CANDS"); k != "" {
		var sel []cand
		for _, c := range cands {
			if c.name == k {
				sel = append(sel, c)
			}
		}
		cands = sel
	}
	for _, c := range cands {
		for _, pol := range []plantbench.Policy{plantbench.Learn} {
			for _, al := range []plantbench.Alert{{Threshold: 0.999, Clear: 0.99, Consecutive: 3}} {
				th := al.Threshold
				cfg := plantbench.Config{New: c.new, Policy: pol, Alert: al}
				line := fmt.Sprintf("%-28s %-6s th %.4f c%2d:", c.name, pol, th, al.Consecutive)
				for _, onset := range []time.Duration{time.Minute, 5 * time.Minute} {
					demo := plant.DemoWithOnset(onset)
					demo.Rate = 5
					r, err := plantbench.Run(demo, t0, onset+20*time.Minute, cfg)
					if err != nil {
						t.Fatal(err)
					}
					f := r.Faults[0]
					if f.Detected {
						line += fmt.Sprintf(" onset %v delay %5.1fs", onset, f.Delay.Seconds())
					} else {
						line += fmt.Sprintf(" onset %v delay   -   ", onset)
					}
				}
				sc, err := plant.LoadScenario(filepath.Join("..", "..", "firmware-sim", "testdata", "scenarios", "realistic.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				r, err := plantbench.Run(sc, t0, 40*time.Minute, cfg)
				if err != nil {
					t.Fatal(err)
				}
				det, phys := 0, 0
				var maxd time.Duration
				for _, f := range r.Faults {
					switch f.Kind {
					case "cavitation", "misalignment", "overheating", "bearing-wear", "clogging", "imbalance":
						phys++
						if f.Detected {
							det++
							maxd = max(maxd, f.Delay)
						}
					}
				}
				fa := 0
				for _, m := range r.Machines {
					fa += m.FalseAlarms
				}
				line += fmt.Sprintf(" real %d/%d (max %4.0fs) FA %d", det, phys, maxd.Seconds(), fa)
				var rs []plantbench.Result
				for seed := range uint64(2) {
					r, err := plantbench.Run(healthyDemo(seed+10, 5), t0, 4*time.Hour, cfg)
					if err != nil {
						t.Fatal(err)
					}
					rs = append(rs, r)
				}
				m := plantbench.Merge(rs...)
				rate, weeks := m.FalseAlarmsPerWeek()
				fmt.Printf("%s FA/wk %7.1f (%.2f wk)\n", line, rate, weeks)
			}
		}
	}
}
