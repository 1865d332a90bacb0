package daemon

import (
	"errors"
	"time"

	"millwright/agent/outbox"
	"millwright/agent/pipeline"
	"millwright/agent/state"
	"millwright/internal/sign"
	"millwright/models"
	"millwright/wire"
)

// command applies one hub command on the pipeline goroutine, saves the
// models it changed at once (so that a kill -9 right after keeps the
// change) and answers the hub.
func (a *Agent) command(c *wire.Command) {
	err := a.pl.Command(c)
	if err == nil {
		a.log.Info("hub command applied", "id", c.ID, "kind", c.Kind, "machine", c.Machine, "role", c.Role, "model", c.Model, "name", c.Name)
		if c.Kind != wire.CmdPing {
			// Only the commanded machine changed: saving every machine
			// here cost one fsync per machine and stalled scoring.
			a.saveModels(time.Now(), c.Machine)
		}
	} else {
		a.log.Warn("hub command refused", "id", c.ID, "kind", c.Kind, "machine", c.Machine, "reason", err)
	}
	a.ack(c, err)
}

// admitCommand checks a hub command before it is handed to the pipeline
// (see signing.checkCommand). A refusal is logged and answered, with the
// reason, in the ack; a second delivery of the command accepted last (an
// MQTT redelivery) is dropped unanswered: the first is answered, or, if
// the agent died before it ran, the hub sends it again under a new
// sequence.
func (a *Agent) admitCommand(raw []byte, c *wire.Command) bool {
	err := a.sig.checkCommand(raw, c)
	switch {
	case err == nil:
		return true
	case errors.Is(err, sign.ErrDuplicate):
		a.log.Info("hub command delivered again; ignored", "id", c.ID, "seq", c.Env.Seq)
	default:
		a.log.Warn("hub command refused", "id", c.ID, "kind", c.Kind, "machine", c.Machine, "reason", err)
		a.ack(c, err)
	}
	return false
}

// ack queues the answer to a command in the outbox.
func (a *Agent) ack(c *wire.Command, err error) {
	ack := &wire.CommandAck{
		Env:       wire.Envelope{Version: wire.Version, Sender: a.opts.Gateway, Time: time.Now().UnixNano()},
		CommandID: c.ID,
		OK:        err == nil,
	}
	if err != nil {
		ack.Reason = err.Error()
	}
	_, perr := a.ob.Put(outbox.Alert, wire.AgentTopic(a.opts.Gateway, wire.LeafCmdAck), func(seq uint64) ([]byte, error) {
		ack.Env.Seq = seq
		return wire.Marshal(ack)
	})
	if perr != nil {
		a.log.Error("command ack not queued", "id", c.ID, "err", perr)
	}
}

// slotKey is the state file key of a model (see package state).
func slotKey(m pipeline.Model) string {
	switch {
	case m.Previous && m.Role == wire.RoleChampion:
		return "prev-champion"
	case m.Previous:
		return "prev-twin"
	case m.Role == wire.RoleChallenger:
		return "c-" + m.Name
	}
	return m.Role
}

// restoreModels loads saved model state. A file that cannot be used is
// set aside with the reason logged; a machine without a usable champion
// starts fresh.
func (a *Agent) restoreModels() {
	dir := modelDir(a.opts.StateDir)
	saved, failed, err := state.LoadAll(dir)
	if err != nil {
		a.log.Error("model state not loaded; every machine starts fresh", "err", err)
		return
	}
	refuse := func(s *state.Model, path string, err error) {
		machine := ""
		if s != nil {
			machine = s.Machine
			path = state.Path(dir, s.Machine, s.Key())
		}
		a.log.Warn("model state refused; the machine starts fresh", "file", path, "machine", machine, "err", err)
		if err := state.SetAside(path); err != nil {
			a.log.Warn("set aside refused state", "err", err)
		}
	}
	for _, f := range failed {
		refuse(nil, f.Path, f.Err)
	}
	byMachine := make(map[string][]*state.Model)
	var order []string
	for i := range saved {
		s := &saved[i]
		if byMachine[s.Machine] == nil {
			order = append(order, s.Machine)
		}
		byMachine[s.Machine] = append(byMachine[s.Machine], s)
	}
	for _, id := range order {
		files := byMachine[id]
		var champ *state.Model
		for _, s := range files {
			if s.Role == wire.RoleChampion && !s.Previous {
				champ = s
			}
		}
		if champ == nil {
			for _, s := range files {
				refuse(s, "", errors.New("no champion saved for the machine"))
			}
			continue
		}
		var list []pipeline.Saved
		hasTwin := false
		var bad []*state.Model
		for _, s := range files {
			det, err := a.opts.restore(s.Data)
			if err == nil && !equal(s.Sensors, champ.Sensors) {
				err = errors.New("sensor set differs from the champion's")
			}
			if err != nil {
				if s == champ {
					bad = files // without its champion the machine starts fresh
					break
				}
				refuse(s, "", err)
				continue
			}
			name := s.Name
			if name == "" { // version 1 files
				name = det.Kind()
			}
			hasTwin = hasTwin || (s.Role == wire.RoleTwin && !s.Previous)
			list = append(list, pipeline.Saved{Name: name, Role: s.Role, Previous: s.Previous, Hash: s.Parent,
				Warm: s.Warm, Threshold: s.Thresh, Detector: det})
		}
		if !hasTwin && bad == nil { // version 1: the twin starts as a copy of the champion
			if det, err := a.opts.restore(champ.Data); err == nil {
				list = append(list, pipeline.Saved{Name: det.Kind() + "-twin", Role: wire.RoleTwin, Hash: champ.Parent, Detector: det})
			}
		}
		err := errors.New("champion snapshot unusable")
		if bad == nil {
			err = a.pl.RestoreMachineInputs(id, champ.Inputs, champ.Sensors, list)
		}
		if err != nil {
			for _, s := range files {
				refuse(s, "", err)
			}
			continue
		}
		a.log.Info("model state restored", "machine", id, "models", len(list), "champion", champ.Kind, "saved", time.Unix(0, champ.Saved).UTC())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// saveState writes every model's snapshot to the state dir, machine by
// machine, removing the files of models that are gone.
func (a *Agent) saveState(now time.Time) { a.saveModels(now, "") }

// saveModels is saveState for one machine, or for all when only is "".
func (a *Agent) saveModels(now time.Time, only string) {
	dir := modelDir(a.opts.StateDir)
	var machine string
	var batch []state.Model
	flush := func() {
		if machine == "" {
			return
		}
		if err := state.SaveMachine(dir, machine, batch); err != nil {
			a.log.Error("save model state", "machine", machine, "err", err)
		}
		batch = batch[:0]
	}
	a.pl.Models(func(m pipeline.Model) {
		if only != "" && m.Machine != only {
			return
		}
		if m.Machine != machine {
			flush()
			machine = m.Machine
		}
		data, ok := a.marshal(m)
		if !ok {
			return
		}
		batch = append(batch, state.Model{
			Machine: m.Machine, Role: m.Role, Kind: m.Detector.Kind(), Sensors: m.Sensors, Data: data,
			Saved: now.UnixNano(), Slot: slotKey(m), Name: m.Name, Parent: m.Hash, Warm: m.Warm,
			Previous: m.Previous, Thresh: m.Threshold, Inputs: m.Inputs,
		})
	})
	flush()
}

// publishSnapshots queues every scoring model's snapshot for the hub.
func (a *Agent) publishSnapshots(now time.Time) {
	topic := wire.AgentTopic(a.opts.Gateway, wire.LeafSnapshots)
	a.pl.Models(func(m pipeline.Model) {
		if m.Previous {
			return
		}
		data, ok := a.marshal(m)
		if !ok {
			return
		}
		if len(data) > wire.MaxByteString {
			a.log.Warn("snapshot too large for the wire; kept on disk only", "machine", m.Machine, "bytes", len(data), "limit", wire.MaxByteString)
			return
		}
		snap := &wire.Snapshot{
			Env:     wire.Envelope{Version: wire.Version, Sender: a.opts.Gateway, Time: now.UnixNano()},
			Machine: m.Machine, Model: m.Detector.Kind(), Role: m.Role, Parent: m.Hash,
			Samples: m.Detector.Samples(), Data: data,
		}
		_, err := a.ob.Put(outbox.Snapshot, topic, func(seq uint64) ([]byte, error) {
			snap.Env.Seq = seq
			if err := a.sig.signSnapshot(snap); err != nil {
				return nil, err
			}
			return wire.Marshal(snap)
		})
		if err != nil {
			a.log.Warn("snapshot not queued", "machine", m.Machine, "err", err)
		}
	})
}

func (a *Agent) marshal(m pipeline.Model) ([]byte, bool) {
	s, ok := m.Detector.(models.Snapshotter)
	if !ok {
		return nil, false
	}
	data, err := s.MarshalSnapshot()
	if err != nil {
		a.log.Error("snapshot model", "machine", m.Machine, "err", err)
		return nil, false
	}
	return data, true
}
