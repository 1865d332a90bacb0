package drift_test

import (
	"fmt"

	"millwright/models/drift"
)

func ExampleADWIN() {
	a := drift.NewADWIN(drift.ADWINOptions{})
	for i := range 4000 {
		x := 0.0
		if i >= 2000 {
			x = 1 // the mean jumps
		}
		if a.Add(x+0.1*float64(i%5-2)) && a.Drifts() == 1 {
			fmt.Println("first drift soon after the jump:", i >= 2000 && i < 2100)
		}
	}
	fmt.Printf("window mean %.1f\n", a.Mean())
	// Output:
	// first drift soon after the jump: true
	// window mean 1.0
}
