package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"millwright/agent/pipeline"
	"millwright/internal/sign"
	"millwright/models/snapshot"
	"millwright/wire"
)

// SigningOptions are config.Signing: how hub commands are checked and
// uploaded snapshots signed.
type SigningOptions struct {
	// Required refuses every command not signed by a trusted key.
	Required bool
	// TrustedKeys are PEM files of the hub's public keys, read again for
	// every command (a rotated bundle needs no restart).
	TrustedKeys []string
	// KeyFile is the agent's own private key; default
	// <StateDir>/signing/agent.key, generated at first start.
	KeyFile string
}

// signing is the agent's half of package sign: its own key, and the
// durable anti-replay state of the hub's commands.
type signing struct {
	opts   SigningOptions
	log    *slog.Logger
	self   *sign.Signer
	replay *sign.Replay
}

func newSigning(o Options, log *slog.Logger) (*signing, error) {
	so := o.Signing
	dir := filepath.Join(o.StateDir, "signing")
	if so.KeyFile == "" {
		so.KeyFile = filepath.Join(dir, "agent.key")
	}
	self, created, err := sign.LoadOrCreateSigner(so.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("agent signing key: %w", err)
	}
	if created {
		log.Info("agent signing key generated", "file", so.KeyFile, "key_id", self.KeyID())
	}
	replay, err := sign.OpenReplay(filepath.Join(dir, "replay.json"))
	if err != nil {
		return nil, err
	}
	if so.Required && len(so.TrustedKeys) == 0 {
		return nil, errors.New("signing: required, but no trusted hub key is given")
	}
	ring, err := sign.LoadKeyring(so.TrustedKeys...)
	if err != nil {
		return nil, fmt.Errorf("signing: trusted keys: %w", err)
	}
	if so.Required {
		log.Info("hub commands must be signed", "trusted_keys", ring.IDs(), "key_id", self.KeyID())
	} else {
		log.Warn("SIGNING NOT REQUIRED: unsigned hub commands and those signed by an unknown key will be run; set signing.required and signing.trusted_keys in production",
			"trusted_keys", ring.IDs(), "key_id", self.KeyID())
	}
	return &signing{opts: so, log: log, self: self, replay: replay}, nil
}

// refusal is a command refused before it reaches the pipeline; its text is
// the reason in the CommandAck.
func refusal(format string, args ...any) error {
	return &pipeline.Refused{Reason: "refused: " + fmt.Sprintf(format, args...)}
}

// checkCommand decides whether the hub command c, decoded from raw, may
// run: signed by a trusted key, its sequence above the last accepted from
// that key (recorded durably before it runs), its snapshot the one the
// hub signed and of the kind the command declares. A refusal is a
// *pipeline.Refused; an error wrapping sign.ErrDuplicate is a second
// delivery of the command accepted last.
func (s *signing) checkCommand(raw []byte, c *wire.Command) error {
	ring, err := sign.LoadKeyring(s.opts.TrustedKeys...)
	if err != nil {
		if s.opts.Required {
			return refusal("trusted keys unreadable: %v", err)
		}
		ring = sign.NewKeyring()
	}
	id, err := ring.VerifyCommand(raw, c)
	verified := err == nil
	switch {
	case verified:
		if err := s.replay.Accept(id, c.Env.Seq, c.ID); errors.Is(err, sign.ErrDuplicate) {
			return err // not a refusal: dropped unanswered (see Agent.admitCommand)
		} else if err != nil {
			return refusal("%v", err)
		}
	case !s.opts.Required && (errors.Is(err, sign.ErrUnsigned) || errors.Is(err, sign.ErrUnknownKey)):
		s.log.Warn("unverified hub command run (signing.required is false)", "id", c.ID, "kind", c.Kind, "why", err)
		if len(c.Snapshot) > 0 && c.SnapshotHash != "" && sign.SnapshotHash(c.Snapshot) != c.SnapshotHash {
			return refusal("command %s: %v", c.ID, sign.ErrSnapshotHash)
		}
	default:
		return refusal("%v", err)
	}
	if len(c.Snapshot) == 0 {
		return nil
	}
	if c.Model == "" {
		if verified || s.opts.Required {
			return refusal("command %s carries a snapshot but declares no model kind", c.ID)
		}
		return nil
	}
	kind, err := snapshot.Kind(c.Snapshot)
	if err != nil {
		return refusal("corrupt snapshot: %v", err)
	}
	if kind != c.Model {
		return refusal("snapshot built for another model kind: it is %q, the command deploys %q", kind, c.Model)
	}
	return nil
}

// signSnapshot signs an uploaded snapshot with the agent's key.
func (s *signing) signSnapshot(sn *wire.Snapshot) error { return s.self.SignSnapshot(sn) }
