package forecast_test

import (
	"fmt"

	"millwright/models/forecast"
)

func Example() {
	// A sensor that oscillates: its level never leaves [-1, 1], but a value
	// out of step with the rhythm is a surprise.
	d, err := forecast.New(1, forecast.Options{})
	if err != nil {
		panic(err)
	}
	wave := []float64{0, 1, 0, -1}
	for i := range 4000 {
		d.Update([]float64{wave[i%4] + 0.01*float64(i%7-3)})
	}
	// The next value in step is 0; -1 is in range but out of step.
	fmt.Printf("in step:     %.2f\n", d.Score([]float64{0}))
	fmt.Printf("out of step: %.2f\n", d.Score([]float64{-1}))
	// Output:
	// in step:     0.41
	// out of step: 1.00
}
