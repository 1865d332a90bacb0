package features

import (
	"errors"
	"math"
)

// Bearing is a rolling-element bearing's geometry and shaft speed, from
// which its defect frequencies follow.
type Bearing struct {
	Balls         int     `yaml:"balls"`         // rolling elements
	BallDiameter  float64 `yaml:"ball_diameter"` // any length unit, the same as PitchDiameter
	PitchDiameter float64 `yaml:"pitch_diameter"`
	ContactAngle  float64 `yaml:"contact_angle"` // degrees
	ShaftHz       float64 `yaml:"shaft_hz"`      // shaft speed in revolutions per second (RPM/60)
}

// Validate reports a geometry that cannot be a bearing.
func (b Bearing) Validate() error {
	switch {
	case b.Balls < 1:
		return errors.New("bearing: balls must be at least 1")
	case !(b.BallDiameter > 0) || !(b.PitchDiameter > b.BallDiameter):
		return errors.New("bearing: want 0 < ball diameter < pitch diameter")
	case !(b.ContactAngle >= 0 && b.ContactAngle < 90):
		return errors.New("bearing: contact angle must be in [0, 90) degrees")
	case !(b.ShaftHz > 0) || math.IsInf(b.ShaftHz, 0):
		return errors.New("bearing: shaft speed must be positive")
	}
	return nil
}

// DefectFreqs are a bearing's characteristic defect frequencies in Hz.
type DefectFreqs struct {
	BPFO float64 // ball pass frequency, outer race
	BPFI float64 // ball pass frequency, inner race
	BSF  float64 // ball spin frequency
	FTF  float64 // fundamental train (cage) frequency
}

// Frequencies returns the defect frequencies by the usual kinematic
// formulas, with r = d/D·cos(contact angle):
//
//	BPFO = n/2 · f · (1 − r)
//	BPFI = n/2 · f · (1 + r)
//	BSF  = D/(2d) · f · (1 − r²)
//	FTF  = f/2 · (1 − r)
func (b Bearing) Frequencies() DefectFreqs {
	r := b.BallDiameter / b.PitchDiameter * math.Cos(b.ContactAngle*math.Pi/180)
	n, f := float64(b.Balls), b.ShaftHz
	return DefectFreqs{
		BPFO: n / 2 * f * (1 - r),
		BPFI: n / 2 * f * (1 + r),
		BSF:  b.PitchDiameter / (2 * b.BallDiameter) * f * (1 - r*r),
		FTF:  f / 2 * (1 - r),
	}
}
