package calibrate_test

import (
	"fmt"
	"math/rand/v2"

	"millwright/models/calibrate"
)

func Example() {
	c := calibrate.New(calibrate.Options{})
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		// Raw scores of some detector: any scale, higher is more anomalous.
		c.Update(50 + 10*r.NormFloat64())
	}
	fmt.Printf("median raw score: %.1f\n", c.Prob(50))
	fmt.Printf("extreme raw score: %.4f\n", c.Prob(120))
	// Output:
	// median raw score: 0.5
	// extreme raw score: 1.0000
}
