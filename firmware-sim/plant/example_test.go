package plant_test

import (
	"fmt"
	"time"

	"millwright/firmware-sim/plant"
)

// A generator runs the plant without I/O, as fast as it is asked to: here
// three minutes of the demo plant, then the ground truth.
func ExampleNewGenerator() {
	g, err := plant.NewGenerator(plant.Demo(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	for range int(3 * time.Minute / g.Interval()) {
		for _, f := range g.Next() {
			_ = f.Telemetry // publish, encode or score it here
		}
	}
	frames := g.Next()
	fmt.Println(len(frames), "machines; first:", frames[0].Gateway, frames[0].Telemetry.Machine, len(frames[0].Telemetry.Readings), "readings")
	for _, l := range g.Labels() {
		fmt.Println(l.Gateway, l.Machine, l.Kind, l.Onset.Format(time.TimeOnly), "→", l.Failure.Format(time.TimeOnly))
	}
	// Output:
	// 6 machines; first: gw1 pump-1 5 readings
	// gw1 motor-1 bearing-wear 00:01:00 → 00:02:30
}
