package plantbench_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models/pca"
)

func TestDiag(t *testing.T) {
	if os.Getenv("PLANTBENCH_EXPLORE") == "" {
		t.Skip("set PLANTBENCH_EXPLORE=1")
	}
	sc := healthyDemo(10, 5)
	g, _ := plant.NewGenerator(sc, t0)
	d, _ := pca.New(4, pca.Options{Components: 1, Statistic: pca.StatQ, Uncalibrated: true})
	x := make([]float64, 4)
	var mx float64
	for i := range 5 * 3600 * 2 {
		fr := g.Next()[4] // motor-2
		for j, r := range fr.Telemetry.Readings {
			x[j] = r.Value
		}
		var p float64
		if i < 600 {
			p = d.Update(x)
		} else {
			p = d.Score(x)
		}
		mx = max(mx, p/(1-p))
		if i%300 == 0 {
			fmt.Printf("%5ds %v raw max %.2f now %.2f\n", i/5, fmtv(x), mx, p/(1-p))
			mx = 0
		}
	}
	_ = time.Second
}

func fmtv(x []float64) string {
	s := ""
	for _, v := range x {
		s += fmt.Sprintf("%9.3f", v)
	}
	return s
}
