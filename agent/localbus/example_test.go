package localbus_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"millwright/agent/localbus"
	"millwright/internal/conf"
	"millwright/wire"
)

// A pump's accelerometer and bearing temperature on emulated chips, read
// for a moment.
func ExampleInput_Run() {
	cfg := localbus.Config{
		Machine: "pump-1",
		Emulate: true,
		Sensors: []localbus.Sensor{
			{Kind: localbus.KindADXL345, Name: "vib", Interval: conf.Duration(100 * time.Millisecond)},
			{Kind: localbus.KindBME280, Temperature: "bearing_temp", Interval: conf.Duration(100 * time.Millisecond)},
		},
	}
	seen := map[string]bool{}
	done := make(chan struct{})
	in, err := localbus.New(cfg, localbus.Options{Sink: func(t *wire.Telemetry) {
		// Called from Run's goroutines, one call at a time; t is reused.
		for _, r := range t.Readings {
			seen[r.Sensor] = true
		}
		if len(seen) == 4 && done != nil {
			close(done)
			done = nil
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func(done <-chan struct{}) {
		<-done
		cancel()
	}(done)
	if err := in.Run(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(seen["vib_x"], seen["vib_y"], seen["vib_z"], seen["bearing_temp"])
	// Output: true true true true
}
