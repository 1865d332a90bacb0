package server

import (
	"fmt"
	"path/filepath"

	"millwright/hub/ingest"
	"millwright/internal/sign"
)

// setupSigning opens the command-signing key dir (a key is generated at
// first start) and the pins of agents' snapshot keys.
func (s *Server) setupSigning() error {
	o := s.opts.Signing
	s.keyDir = o.Dir(s.opts.DataDir)
	keys, err := ingest.OpenAgentKeys(filepath.Join(s.keyDir, "agents"))
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	s.agentKeys = keys
	if o.Disabled {
		s.log.Warn("COMMAND SIGNING DISABLED: commands go out unsigned; agents with signing.required refuse them")
		return nil
	}
	signer, created, err := sign.Dir{Path: s.keyDir}.Ensure()
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	if s.seq, err = sign.OpenSequence(filepath.Join(s.keyDir, "sequence"), uint64(s.opts.Now().UnixNano())); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	s.signer = signer
	if created {
		s.log.Info("command signing key generated", "key_id", signer.KeyID(), "dir", s.keyDir)
	}
	s.log.Info("commands are signed", "key_id", signer.KeyID(), "agents_trust", s.SigningBundle())
	return nil
}

// SigningBundle is the file of the hub's public command keys that agents
// are given (signing.trusted_keys); "" when signing is disabled.
func (s *Server) SigningBundle() string {
	if s.signer == nil {
		return ""
	}
	return sign.Dir{Path: s.keyDir}.BundlePath()
}

// SigningKeyID is the id of the key commands are signed with ("" when off).
func (s *Server) SigningKeyID() string {
	if s.signer == nil {
		return ""
	}
	return s.signer.KeyID()
}
