package plant

import (
	"fmt"
	"math"
)

// Bearing is the geometry of a rolling-element bearing, from which its
// defect frequencies follow. Diameters are in mm, the contact angle in
// degrees.
type Bearing struct {
	Balls         int     `yaml:"balls"`
	BallDiameter  float64 `yaml:"ball_diameter"`
	PitchDiameter float64 `yaml:"pitch_diameter"`
	ContactAngle  float64 `yaml:"contact_angle"`
}

// Deep-groove ball bearings of the usual sizes (catalogue geometry).
var (
	bearing6205 = Bearing{Balls: 9, BallDiameter: 7.94, PitchDiameter: 39.04}
	bearing6206 = Bearing{Balls: 9, BallDiameter: 9.53, PitchDiameter: 46.0}
	bearing6309 = Bearing{Balls: 8, BallDiameter: 17.46, PitchDiameter: 72.39}
)

// Defects are a bearing's defect frequencies in Hz at one shaft speed.
type Defects struct {
	FTF  float64 // fundamental train (cage) frequency
	BPFO float64 // ball pass frequency, outer race
	BPFI float64 // ball pass frequency, inner race
	BSF  float64 // ball spin frequency (a ball defect strikes both races: 2×BSF)
}

// Defects returns the defect frequencies at shaft frequency f (Hz), for an
// inner race turning with the shaft and a stationary outer race:
//
//	FTF  = f/2 (1 − d/D cos α)
//	BPFO = n f/2 (1 − d/D cos α)
//	BPFI = n f/2 (1 + d/D cos α)
//	BSF  = D/(2d) f (1 − (d/D cos α)²)
func (b Bearing) Defects(f float64) Defects {
	r := b.BallDiameter / b.PitchDiameter * math.Cos(b.ContactAngle*math.Pi/180)
	n := float64(b.Balls)
	return Defects{
		FTF:  f / 2 * (1 - r),
		BPFO: n * f / 2 * (1 - r),
		BPFI: n * f / 2 * (1 + r),
		BSF:  b.PitchDiameter / (2 * b.BallDiameter) * f * (1 - r*r),
	}
}

func (b Bearing) validate(p string) error {
	if b == (Bearing{}) {
		return nil
	}
	switch {
	case b.Balls < 3 || b.Balls > 60:
		return fmt.Errorf("%s.balls: %d, want 3 to 60", p, b.Balls)
	case !(b.BallDiameter > 0) || !(b.PitchDiameter > b.BallDiameter) || b.PitchDiameter > 2000:
		return fmt.Errorf("%s: ball diameter %g mm and pitch diameter %g mm: want 0 < ball < pitch <= 2000", p, b.BallDiameter, b.PitchDiameter)
	case math.IsNaN(b.ContactAngle) || b.ContactAngle < 0 || b.ContactAngle > 45:
		return fmt.Errorf("%s.contact_angle: %g°, want 0 to 45", p, b.ContactAngle)
	}
	return nil
}

// Conveyor is a conveyor drive's mechanics: a gearbox from the motor to
// the drive pulley, the pulley, the idlers and the belt. Zero fields take
// the defaults of a small bulk-handling conveyor: stages 17/71 and 19/83
// (ratio 18.2), a 0.4 m pulley, 133 mm idlers and a 60 m belt (about
// 1.7 m/s at 1480 rpm).
type Conveyor struct {
	Stages         []GearStage `yaml:"stages"`
	PulleyDiameter float64     `yaml:"pulley_diameter"` // m
	IdlerDiameter  float64     `yaml:"idler_diameter"`  // m
	BeltLength     float64     `yaml:"belt_length"`     // m, the whole loop
}

// GearStage is one gear pair, the pinion driving.
type GearStage struct {
	Pinion int `yaml:"pinion"` // teeth
	Gear   int `yaml:"gear"`   // teeth
}

func (c *Conveyor) isZero() bool {
	return len(c.Stages) == 0 && c.PulleyDiameter == 0 && c.IdlerDiameter == 0 && c.BeltLength == 0
}

func (c *Conveyor) validate(p string) error {
	if len(c.Stages) > 4 {
		return fmt.Errorf("%s.stages: %d stages, limit 4", p, len(c.Stages))
	}
	for i, st := range c.Stages {
		if st.Pinion < 8 || st.Gear < 8 || st.Pinion > 500 || st.Gear > 500 {
			return fmt.Errorf("%s.stages[%d]: %d/%d teeth, want 8 to 500 each", p, i, st.Pinion, st.Gear)
		}
	}
	for _, f := range []struct {
		name   string
		v, max float64
	}{{"pulley_diameter", c.PulleyDiameter, 3}, {"idler_diameter", c.IdlerDiameter, 1}, {"belt_length", c.BeltLength, 5000}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > f.max {
			return fmt.Errorf("%s.%s: %g m, want 0 (default) to %g", p, f.name, f.v, f.max)
		}
	}
	return nil
}

// geometry is a machine's mechanics resolved with defaults: what the
// waveform and the belt speed need.
type geometry struct {
	bearing  Bearing
	conveyor bool
	stages   []GearStage
	ratios   []float64 // speed of stage i's pinion shaft relative to the motor
	outRatio float64   // pulley speed relative to the motor
	pulley   float64   // m
	idler    float64   // m
	belt     float64   // m
}

func newGeometry(mt *machineType, m Machine) geometry {
	g := geometry{bearing: mt.bearing, conveyor: mt.conveyor}
	if m.Bearing != (Bearing{}) {
		g.bearing = m.Bearing
	}
	if !mt.conveyor {
		return g
	}
	c := m.Conveyor
	g.stages = c.Stages
	if len(g.stages) == 0 {
		g.stages = []GearStage{{17, 71}, {19, 83}}
	}
	g.pulley, g.idler, g.belt = c.PulleyDiameter, c.IdlerDiameter, c.BeltLength
	if g.pulley == 0 {
		g.pulley = 0.4
	}
	if g.idler == 0 {
		g.idler = 0.133
	}
	if g.belt == 0 {
		g.belt = 60
	}
	r := 1.0
	for _, st := range g.stages {
		g.ratios = append(g.ratios, r)
		r *= float64(st.Pinion) / float64(st.Gear)
	}
	g.outRatio = r
	return g
}

// beltSpeed is the pulley's surface speed in m/s at motor frequency f (Hz).
func (g *geometry) beltSpeed(f float64) float64 { return math.Pi * g.pulley * f * g.outRatio }

// Frequencies are the characteristic frequencies of a machine in Hz at its
// current speed: where a spectrum shows its shaft, bearing and (conveyors)
// gearbox, pulley, idlers and belt.
type Frequencies struct {
	Shaft float64 // the monitored (motor or pump) shaft: 1x
	Defects
	// Conveyors only.
	Mesh     []float64 // gear-mesh frequency of each stage: teeth × shaft speed
	Pulley   float64   // drive pulley rotation
	Idler    float64   // idler rotation
	BeltPass float64   // a point of the belt passing the pulley
}

func (g *geometry) frequencies(f float64) Frequencies {
	out := Frequencies{Shaft: f, Defects: g.bearing.Defects(f)}
	if !g.conveyor {
		return out
	}
	for i, st := range g.stages {
		out.Mesh = append(out.Mesh, float64(st.Pinion)*f*g.ratios[i])
	}
	v := g.beltSpeed(f)
	out.Pulley = f * g.outRatio
	out.Idler = v / (math.Pi * g.idler)
	out.BeltPass = v / g.belt
	return out
}
