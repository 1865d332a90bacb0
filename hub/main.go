// Command hub is Millwright's central server: embedded MQTT broker, ingest
// of agent messages into an embedded store, JSON API and web UI.
//
//	hub [serve] [--config FILE] [--data DIR] [--http ADDR] [--mqtt ADDR]
//	    [--broker URL] [--status-every DURATION]
//	hub user add --name NAME --role ROLE [--password-env VAR] [--config FILE] | list | delete --name NAME
//	hub token create --name NAME --role ROLE [--ttl DURATION] | list | revoke --id ID
//	hub enroll --gateway ID [--ttl 1h] [--config FILE]   (one-time enrolment token)
//	hub revoke --gateway ID [--config FILE]
//	hub cert [--name hub | --server --host H1,H2 --name NAME] --out DIR   (external broker)
//	hub keys list|generate|rotate|activate ID|retire ID [--dir DIR | --config FILE]   (command-signing keys)
//	hub challenger --kind KIND (--target ASSET... | --type TYPE) [--hub URL]
//	    [--snapshot FILE | --snapshot-id ID] [--set key=value...] [--name NAME]
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
	"time"

	"millwright/hub/config"
	"millwright/hub/enroll"
	"millwright/hub/server"
	"millwright/internal/conf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "challenger" {
		return runChallenger(ctx, args[1:], os.Stdout)
	}
	if len(args) > 0 && (args[0] == "enroll" || args[0] == "revoke" || args[0] == "cert") {
		return enroll.Main(ctx, args[0], args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "user" {
		return runUser(ctx, args[1:], os.Stdin, os.Stdout)
	}
	if len(args) > 0 && args[0] == "keys" {
		return runKeys(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "token" {
		return runToken(ctx, args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return fmt.Errorf("unknown command %q (want: serve, user, token, challenger)", args[0])
	}
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config `file` (defaults need none)")
	d := config.Default()
	data := fs.String("data", d.DataDir, "data `dir`ectory")
	httpAddr := fs.String("http", d.HTTP.Listen, "HTTP API and UI listen `addr`ess")
	mqttAddr := fs.String("mqtt", d.MQTT.Listen, "embedded MQTT broker listen `addr`ess")
	brokerURL := fs.String("broker", "", "external broker `url` (tcp://host:1883) instead of the embedded one")
	every := fs.Duration("status-every", d.StatusEvery.D(), "status line period (0 disables)")
	debug := fs.Bool("debug", false, "debug logging")
	uiDir := fs.String("ui-dir", "", "serve the UI from this `dir`ectory instead of the embedded copy (development)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Flags given on the command line override the file.
	cfg, err := config.LoadWith(*cfgPath, func(cfg *config.Config) {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "data":
				cfg.DataDir = *data
			case "http":
				cfg.HTTP.Listen = *httpAddr
			case "mqtt":
				cfg.MQTT.Listen = *mqttAddr
			case "broker":
				cfg.MQTT.Broker = *brokerURL
			case "status-every":
				cfg.StatusEvery = conf.Duration(*every)
			}
		})
	})
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	opts := server.FromConfig(cfg)
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts.UIDir = *uiDir
	if cfg.StatusEvery.D() > 0 {
		opts.StatusOut = os.Stdout
	}
	// Starting is quick and not worth interrupting halfway; Run sees a
	// cancel at once.
	srv, err := server.New(context.WithoutCancel(ctx), opts)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg.HTTP.TLS.Enabled() {
		scheme = "https"
	}
	fmt.Printf("hub: %s://%s  mqtt %s  data %s\n", scheme, srv.HTTPAddr(), srv.BrokerURL(), cfg.DataDir)
	if cfg.MQTT.TLS.Enabled() {
		fmt.Printf("hub: mqtts %s (client certificates: hub enroll --gateway ID)\n", cfg.MQTT.TLS.Listen)
	}
	for _, c := range srv.DemoLogins() {
		fmt.Printf("hub: demo login  user %-10s password %s  (%s)\n", c.Name, c.Password, c.Role)
	}
	start := time.Now()
	err = srv.Run(ctx)
	opts.Logger.Info("hub stopped", "uptime", time.Since(start).Round(time.Second))
	return err
}
