package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"millwright/agent/config"
	"millwright/internal/sign"
)

// runKey prints the agent's snapshot-signing public key (PEM) and its id,
// generating the key when the agent has none yet, so that it can be
// pinned at the hub out of band: copy it to <hub key_dir>/agents/<gateway>.pub.
func runKey(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("agent key", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration `file` (for state_dir and signing.key_file)")
	gw := fs.String("gateway", "", "gateway `id` (for the default state dir)")
	stateDir := fs.String("state", "", "state `dir` (default ./data/agent-<gateway>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *gw != "" {
		cfg.Gateway = *gw
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	file := cfg.Signing.KeyFile
	if file == "" {
		dir := cfg.StateDir
		if dir == "" {
			if cfg.Gateway == "" {
				return errors.New("agent key: give --state, --gateway or a config naming them")
			}
			dir = filepath.Join("data", "agent-"+cfg.Gateway)
		}
		file = filepath.Join(dir, "signing", "agent.key")
	}
	s, created, err := sign.LoadOrCreateSigner(file)
	if err != nil {
		return err
	}
	pem, err := sign.EncodePublicKeys(s.Public())
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "# generated %s\n", file)
	}
	fmt.Fprintf(out, "# key id %s\n%s", s.KeyID(), pem)
	return nil
}
