package eval_test

import (
	"fmt"

	"millwright/models/eval"
)

func Example() {
	labels := []bool{false, false, true, true, true, false}
	alarms := []bool{false, true, false, true, true, false}
	var (
		c eval.Confusion
		n eval.NAB
	)
	for i := range labels {
		c.Add(labels[i], alarms[i])
		n.Add(labels[i], alarms[i])
	}
	n.Break()
	fmt.Printf("F1 %.2f FAR %.0f%% MAR %.0f%%\n", c.F1(), 100*c.FAR(), 100*c.MAR())
	fmt.Printf("NAB standard %.1f\n", n.Score(eval.Standard))
	// Output:
	// F1 0.67 FAR 33% MAR 33%
	// NAB standard 91.7
}
