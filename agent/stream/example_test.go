package stream_test

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"millwright/agent/stream/derive"
	"millwright/agent/stream/features"
	"millwright/agent/stream/ingest"
	"millwright/agent/stream/reorder"
)

// Example composes the four stages for one asset: JSON messages on
// arbitrary topics are decoded, put back in event-time order per sensor,
// extended by a derived signal and aggregated into one feature vector per
// one-second window.
func Example() {
	router, err := ingest.NewRouter([]ingest.Mapping{{
		Topic: "plant/{site}/{line}/{asset}/{sensor}",
		JSON:  ingest.JSONPaths{Value: "v", Time: "t"},
	}})
	if err != nil {
		panic(err)
	}
	sensors := reorder.NewSet[float64](reorder.SetOptions{
		Options: reorder.Options{Lateness: 250 * time.Millisecond},
	})
	der, err := derive.New([]string{"voltage", "current"}, []derive.Def{
		{Name: "power", Expr: "voltage * current", Field: "assets[0].derive[0]"},
	})
	if err != nil {
		panic(err)
	}
	var join *features.Joiner
	join, err = features.NewJoiner(features.Options{
		Size: time.Second,
		Signals: []features.Signal{
			{Name: "current", Aggs: []features.Agg{features.Mean, features.Slope}},
			{Name: "power", Aggs: []features.Agg{features.Mean, features.Max}},
		},
		Emit: func(w *features.Window) {
			fmt.Printf("[%ds, %ds)", w.Start/int64(time.Second), w.End/int64(time.Second))
			for i, name := range join.Names() {
				fmt.Printf(" %s=%.4g", name, w.Values[i])
			}
			fmt.Println()
		},
	})
	if err != nil {
		panic(err)
	}

	vec := make([]float64, len(der.Names())) // voltage, current, power
	for i := range vec {
		vec[i] = math.NaN()
	}
	current, power := join.Index("current"), join.Index("power")
	handle := func(released []reorder.Released[float64]) {
		for _, r := range released {
			switch r.Sensor {
			case "voltage":
				vec[0] = r.V
			case "current":
				vec[1] = r.V
				join.Add(current, r.Time, r.V)
				if err := der.Eval(vec); err == nil && !math.IsNaN(vec[2]) {
					join.Add(power, r.Time, vec[2])
				}
			}
		}
	}

	// Three seconds of readings every 100ms; the current steps up each
	// second; every fourth message of a sensor arrives 200ms late.
	type msg struct {
		sensor string
		ms     int64
		v      float64
	}
	var msgs []msg
	for ms := int64(0); ms < 3000; ms += 100 {
		msgs = append(msgs, msg{"voltage", ms, 230}, msg{"current", ms, float64(1 + ms/1000)})
	}
	for i := 0; i+4 < len(msgs); i += 8 {
		msgs[i], msgs[i+4] = msgs[i+4], msgs[i]
	}
	var readings []ingest.Reading
	var released []reorder.Released[float64]
	for _, m := range msgs {
		payload := `{"v": ` + strconv.FormatFloat(m.v, 'g', -1, 64) + `, "t": ` + strconv.FormatInt(1e12+m.ms, 10) + `}`
		readings, err = router.Decode("plant/berlin/l1/press-7/"+m.sensor, []byte(payload), 0, readings[:0])
		if err != nil {
			panic(err)
		}
		for _, r := range readings {
			released, _, _ = sensors.Push(r.Sensor, reorder.Item[float64]{Time: r.Time - 1e12*1e6, V: r.Value}, released[:0])
			handle(released)
		}
	}
	handle(sensors.Drain(released[:0]))
	join.Flush()
	fmt.Println("late:", sensors.Stats().Late, "windows:", join.Stats().Windows)
	// Output:
	// [0s, 1s) current.mean=1 current.slope=0 power.mean=230 power.max=230
	// [1s, 2s) current.mean=2 current.slope=0 power.mean=460 power.max=460
	// [2s, 3s) current.mean=3 current.slope=0 power.mean=690 power.max=690
	// late: 0 windows: 3
}
