// Command agent is Millwright's gateway daemon: it scores the telemetry of
// the machines behind one gateway with online-learning models and reports
// alerts, metrics and model snapshots to the hub.
//
//	agent [run] --gateway gw1 [--config agent.yaml] [--broker URL] [--state DIR] [--http ADDR] [--model KIND]
//	agent enroll --hub URL --token TOKEN --gateway gw1 --dir DIR [--hub-ca FILE] [--ca-hash HEX]
//	agent key [--state DIR | --gateway gw1 | --config agent.yaml]   (snapshot-signing public key, to pin at the hub)
//	agent replay --in data.csv --out scores.csv [--model NAME] [--eval] …  (see agent/replay)
//
// SIGHUP makes a running agent reload its configuration file.
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

	"millwright/agent/replay"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(ctx, os.Args[1:], log, level); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("agent failed", "err", err)
		}
		os.Exit(1)
	}
}

// run dispatches a subcommand; "run" is the default.
func run(ctx context.Context, args []string, log *slog.Logger, level *slog.LevelVar) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runAgent(ctx, args, log, level)
	case "replay":
		return replay.Main(ctx, args, os.Stdout, os.Stderr)
	case "enroll":
		return runEnroll(ctx, args, os.Stdout)
	case "key":
		return runKey(args, os.Stdout)
	}
	return fmt.Errorf("unknown command %q (known: run, replay, enroll)", cmd)
}
