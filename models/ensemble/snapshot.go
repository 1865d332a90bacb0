package ensemble

import (
	"fmt"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const version = 1

type state struct {
	Combine  int             `cbor:"1,keyasint"`
	Children [][]byte        `cbor:"2,keyasint"`
	Cal      calibrate.State `cbor:"3,keyasint"`
}

// MarshalSnapshot returns the ensemble's state, children's snapshots
// included, as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	s := state{Combine: int(d.opt.Combine), Cal: d.cal.State()}
	for i, c := range d.children {
		b, err := c.MarshalSnapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot ensemble child %d (%s): %w", i, c.Kind(), err)
		}
		s.Children = append(s.Children, b)
	}
	return snapshot.Marshal(Kind, version, &s)
}

// UnmarshalSnapshot replaces the state, children included, with a
// snapshot's. On error the state is unchanged.
func (d *Detector) UnmarshalSnapshot(b []byte) error {
	if d.opt.Restore == nil {
		return ErrNoRestore
	}
	var s state
	if _, err := snapshot.Unmarshal(b, Kind, version, &s); err != nil {
		return err
	}
	if s.Combine != int(Mean) && s.Combine != int(Max) {
		return snapshot.Corrupt(Kind, "combine %d", s.Combine)
	}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return snapshot.Corrupt(Kind, "%v", err)
	}
	if len(s.Children) < 1 || len(s.Children) > MaxChildren {
		return snapshot.Corrupt(Kind, "%d children", len(s.Children))
	}
	children := make([]Child, 0, len(s.Children))
	for i, cb := range s.Children {
		if k, err := snapshot.Kind(cb); err == nil && k == Kind {
			return snapshot.Corrupt(Kind, "child %d is an ensemble", i)
		}
		c, err := d.opt.Restore(cb)
		if err != nil {
			return fmt.Errorf("restore ensemble child %d: %w", i, err)
		}
		sc, ok := c.(Child)
		if !ok || c.Kind() == Kind {
			return snapshot.Corrupt(Kind, "child %d (%s) cannot be a member", i, c.Kind())
		}
		children = append(children, sc)
	}
	d.opt.Combine = Combine(s.Combine)
	d.opt.Calibration = cal.Options()
	d.children, d.cal = children, cal
	d.last = make([]float64, len(children))
	return nil
}
