// Command agent is Millwright's gateway daemon: it scores the telemetry of
// the machines behind one gateway with online-learning models and reports
// alerts, metrics and model snapshots to the hub.
//
//	agent [run] --gateway gw1 [--config agent.yaml] [--broker URL] [--state DIR] [--http ADDR] [--model KIND]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"millwright/agent/config"
	"millwright/agent/daemon"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("agent failed", "err", err)
		}
		os.Exit(1)
	}
}

// run dispatches a subcommand; "run" is the default.
func run(ctx context.Context, args []string, log *slog.Logger) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		opts, err := parseRun(args)
		if err != nil {
			return err
		}
		opts.Logger = log
		return daemon.Run(ctx, opts)
	}
	return fmt.Errorf("unknown command %q (known: run)", cmd)
}

// parseRun reads the config file, applies the flags given over it and
// validates the result.
func parseRun(args []string) (daemon.Options, error) {
	def := config.Default()
	fs := flag.NewFlagSet("agent run", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration `file` (optional: defaults need none)")
	gw := fs.String("gateway", "", "gateway `id` (required unless in the config)")
	broker := fs.String("broker", def.Broker, "MQTT broker `URL`")
	stateDir := fs.String("state", "", "state `dir` (default ./data/agent-<gateway>)")
	httpAddr := fs.String("http", def.HTTP, "`addr` of /healthz, /readyz and /metrics")
	model := fs.String("model", def.Model, "champion model `kind`")
	if err := fs.Parse(args); err != nil {
		return daemon.Options{}, err
	}
	if fs.NArg() > 0 {
		return daemon.Options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return daemon.Options{}, err
	}
	fs.Visit(func(f *flag.Flag) { // only flags given on the command line override the file
		switch f.Name {
		case "gateway":
			cfg.Gateway = *gw
		case "broker":
			cfg.Broker = *broker
		case "state":
			cfg.StateDir = *stateDir
		case "http":
			cfg.HTTP = *httpAddr
		case "model":
			cfg.Model = *model
		}
	})
	if err := errors.Join(cfg.Validate(), cfg.RequireGateway()); err != nil {
		return daemon.Options{}, fmt.Errorf("configuration: %w", err)
	}
	opts := daemon.FromConfig(cfg)
	opts.AgentVersion = version
	return opts, nil
}
