package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"millwright/agent/config"
	"millwright/agent/daemon"
)

// runAgent runs the daemon; SIGHUP reloads the configuration file with the
// same flags over it.
func runAgent(ctx context.Context, args []string, log *slog.Logger, level *slog.LevelVar) error {
	opts, err := parseRun(args)
	if err != nil {
		return err
	}
	opts.Logger, opts.LevelVar = log, level
	if level != nil {
		level.Set(opts.LogLevel)
	}
	a, err := daemon.New(opts)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-rctx.Done():
				return
			case <-hup:
				reloadAgent(rctx, a, args, log)
			}
		}
	}()
	err = a.Run(ctx)
	cancel()
	<-done
	return err
}

func reloadAgent(ctx context.Context, a *daemon.Agent, args []string, log *slog.Logger) {
	opts, err := parseRun(args)
	if err != nil {
		log.Error("configuration not reloaded: the running one stays", "err", err)
		return
	}
	if _, err := a.Reload(ctx, opts); err != nil {
		log.Error("configuration not reloaded", "err", err)
	}
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
	opts.BrokerURL = cfg.BrokerURL() // carries mqtt.tls's client certificate (agent/config/tls.go)
	opts.AgentVersion = version
	return opts, nil
}
