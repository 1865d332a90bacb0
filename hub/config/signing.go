package config

import (
	"fmt"
	"path/filepath"
)

// Signing is how the hub signs the commands it sends and checks the
// snapshots agents upload (package internal/sign). On by default: at first
// start the hub generates a key in <data_dir>/keys and writes the public
// bundle agents are given, <data_dir>/keys/trusted.pem.
type Signing struct {
	// Disabled sends commands unsigned; agents whose signing.required is
	// set refuse them.
	Disabled bool `yaml:"disabled"`
	// KeyDir holds the command-signing keys (see `hub keys`); empty means
	// <data_dir>/keys.
	KeyDir string `yaml:"key_dir"`
	// RequireAgentSignatures refuses agent snapshots that are unsigned or
	// signed by a key other than the one pinned for their gateway. Off,
	// such snapshots are stored as of unverified origin.
	RequireAgentSignatures bool `yaml:"require_agent_signatures"`
}

// Dir resolves KeyDir against the data directory.
func (s Signing) Dir(dataDir string) string {
	if s.KeyDir == "" {
		return filepath.Join(dataDir, "keys")
	}
	return s.KeyDir
}

func (s *Signing) validate(dataDir string) error {
	if s.KeyDir != "" && filepath.Clean(s.KeyDir) == filepath.Clean(dataDir) {
		return fmt.Errorf("signing.key_dir: %q is the data_dir itself: give the keys a directory of their own", s.KeyDir)
	}
	return nil
}
