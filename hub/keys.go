package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"millwright/hub/config"
	"millwright/internal/sign"
)

// runKeys manages the hub's command-signing keys:
//
//	hub keys list|generate|rotate|bundle [--dir DIR | --config FILE | --data DIR]
//	hub keys activate|retire ID [...]
//
// Rotation: `generate` a key (trusted at once in trusted.pem, not signing
// yet), give agents the new trusted.pem, `activate` it and restart the hub;
// `retire` the old key once no agent needs it. `rotate` is generate and
// activate in one step, for fleets that read the bundle from the hub's
// key dir directly.
func runKeys(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want list, generate, activate ID, rotate, retire ID or bundle")
	}
	sub := args[0]
	fs := flag.NewFlagSet("hub keys "+sub, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub config `file` (for data_dir and signing.key_dir)")
	data := fs.String("data", "", "data `dir`ectory (overrides the config)")
	dirFlag := fs.String("dir", "", "key `dir`ectory (overrides the config)")
	// Flags may come before or after the key id.
	var pos []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	dir := *dirFlag
	if dir == "" {
		cfg, err := config.LoadWith(*cfgPath, func(c *config.Config) {
			if *data != "" {
				c.DataDir = *data
			}
		})
		if err != nil {
			return err
		}
		dir = cfg.Signing.Dir(cfg.DataDir)
	}
	if len(pos) > 0 && sub != "activate" && sub != "retire" {
		return fmt.Errorf("keys %s: unexpected arguments %q", sub, pos)
	}
	d := sign.Dir{Path: dir}
	id := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("keys %s: want one key id", sub)
		}
		return pos[0], nil
	}
	switch sub {
	case "list":
		list, err := d.List()
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KEY ID\tACTIVE")
		for _, k := range list {
			fmt.Fprintf(w, "%s\t%v\n", k.ID, k.Active)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(out, "agents trust %s\n", d.BundlePath())
	case "generate":
		s, created, err := d.Ensure()
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(out, "generated and activated %s (the dir had no key)\nagents trust %s\n", s.KeyID(), d.BundlePath())
			return nil
		}
		k, err := d.Generate()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "generated %s (not signing yet; %s now holds it)\ngive agents the bundle, then: hub keys activate %s, and restart the hub\n", k, d.BundlePath(), k)
	case "rotate":
		k, err := d.Generate()
		if err != nil {
			return err
		}
		if err := d.Activate(k); err != nil {
			return err
		}
		fmt.Fprintf(out, "generated and activated %s; restart the hub to sign with it\nagents must trust the new %s; retire the old key when none needs it\n", k, d.BundlePath())
	case "activate":
		k, err := id()
		if err != nil {
			return err
		}
		if err := d.Activate(k); err != nil {
			return err
		}
		fmt.Fprintf(out, "activated %s; restart the hub to sign with it\n", k)
	case "retire":
		k, err := id()
		if err != nil {
			return err
		}
		if err := d.Retire(k); err != nil {
			return err
		}
		fmt.Fprintf(out, "retired %s: no longer in %s\n", k, d.BundlePath())
	case "bundle":
		fmt.Fprintln(out, d.BundlePath())
	default:
		return fmt.Errorf("keys: unknown subcommand %q (want list, generate, activate, rotate, retire, bundle)", sub)
	}
	return nil
}
