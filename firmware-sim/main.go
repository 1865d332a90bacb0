// Command firmware-sim simulates a plant of machines that publish telemetry
// over MQTT, with faults and their ground truth; see package plant.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"millwright/firmware-sim/plant"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], slog.New(slog.NewTextHandler(os.Stderr, nil)))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "firmware-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("firmware-sim", flag.ContinueOnError)
	var (
		o        plant.Options
		file     = fs.String("scenario", "", "scenario: a YAML file, or a built-in one: "+strings.Join(plant.PresetNames(), ", ")+" (default demo)")
		frames   = fs.Bool("frames", false, "compute raw vibration frames and publish their features (vib_peak, vib_kurtosis, vib_defect)")
		seed     = fs.Uint64("seed", 0, "random seed (overrides the scenario's)")
		speed    = fs.Float64("speed", 1, "time compression: simulated seconds per second")
		rate     = fs.Float64("rate", plant.DefaultRate, "readings per machine per simulated second")
		export   = fs.String("export-csv", "", "write each machine's signals as CSV into this directory instead of publishing")
		load     = fs.Int("load", 0, "load-generator mode: this many synthetic devices")
		target   = fs.Float64("target-rate", 1000, "load-generator mode: total messages per second to aim for")
		clients  = fs.Int("clients", 4, "load-generator mode: MQTT connections")
		onset    = fs.Duration("fault-onset", time.Minute, "demo scenario: when gw1's motor starts to wear (simulated time)")
		duration time.Duration
	)
	o.Format = plant.FormatCBOR
	fs.StringVar(&o.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fs.Var(&o.Format, "format", "telemetry encoding: cbor or json")
	fs.StringVar(&o.LabelsOut, "labels-out", "", "write the ground truth here as JSON, and as CSV beside it")
	fs.DurationVar(&duration, "duration", 0, "simulated time to run (0: until interrupted; export default 10m)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	if *load > 0 {
		res, err := plant.Load(ctx, plant.LoadOptions{Broker: o.Broker, Devices: *load, TargetRate: *target,
			Duration: duration, Clients: *clients, Format: o.Format, Seed: *seed, Logger: log})
		fmt.Println(res)
		return err
	}

	sc := plant.DemoWithOnset(*onset)
	if p, ok := plant.Preset(*file); ok && *file != "demo" {
		sc = p
	} else if *file != "" && *file != "demo" {
		var err error
		if sc, err = plant.LoadScenario(*file); err != nil {
			return err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "seed":
			sc.Seed = *seed
		case "speed":
			sc.Speed = *speed
		case "rate":
			sc.Rate = *rate
		case "frames":
			sc.Vibration.Frames = *frames
		}
	})
	if *export != "" {
		if duration == 0 {
			duration = 10 * time.Minute
		}
		if err := plant.ExportCSV(*export, sc, time.Now(), duration); err != nil {
			return err
		}
		log.Info("exported", "dir", *export, "duration", duration)
		return nil
	}
	o.Scenario, o.Duration, o.Logger = sc, duration, log
	_, err := plant.Run(ctx, o)
	return err
}
