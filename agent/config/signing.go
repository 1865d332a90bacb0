package config

import (
	"errors"
	"fmt"
)

// Signing is how the agent checks the hub's commands and signs the
// snapshots it uploads (package internal/sign).
type Signing struct {
	// Required refuses every command that is not signed by a trusted key,
	// fresh (its sequence above the last accepted) and, for a snapshot,
	// of the kind it declares. Set it in production. When false, unsigned
	// commands and those signed by an unknown key are run with a warning;
	// a bad signature, a replay or a tampered snapshot is still refused.
	Required bool `yaml:"required"`
	// TrustedKeys are PEM files of the hub's public keys (one or more keys
	// each; the hub writes its bundle to <key_dir>/trusted.pem). They are
	// read again for every command, so a rotated bundle needs no restart.
	TrustedKeys []string `yaml:"trusted_keys"`
	// KeyFile is the agent's own Ed25519 private key (PEM PKCS#8, mode
	// 0600), with which it signs its snapshots; it is generated at first
	// start. Empty means <state_dir>/signing/agent.key.
	KeyFile string `yaml:"key_file"`
}

// Validate checks the signing section.
func (s *Signing) Validate() error {
	var errs []error
	if s.Required && len(s.TrustedKeys) == 0 {
		errs = append(errs, errors.New("signing.trusted_keys: empty, but signing.required is true: give the hub's public key file (its <key_dir>/trusted.pem)"))
	}
	for i, p := range s.TrustedKeys {
		if p == "" {
			errs = append(errs, fmt.Errorf("signing.trusted_keys[%d]: empty path", i))
		}
	}
	return errors.Join(errs...)
}
