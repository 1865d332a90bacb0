package pca_test

import (
	"fmt"
	"math/rand/v2"

	"millwright/models/pca"
)

func Example() {
	// Two sensors that move together: flow and motor current, say.
	d, err := pca.New(2, pca.Options{})
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a := r.NormFloat64()
		d.Update([]float64{30 + a, 1 + 0.1*a + 0.01*r.NormFloat64()})
	}
	fmt.Printf("usual pair:  %.2f\n", d.Score([]float64{31, 1.1}))
	fmt.Printf("broken pair: %.2f\n", d.Score([]float64{31, 0.9}))
	// Output:
	// usual pair:  0.40
	// broken pair: 1.00
}
