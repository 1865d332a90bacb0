package plant

import (
	"math"
	"slices"
)

// Fault kinds. Physical faults change the machine; sensor faults change only
// what one sensor reports.
const (
	FaultBearingWear  = "bearing-wear" // vibration and temperature rise, current a little
	FaultOverheating  = "overheating"  // temperature and current rise
	FaultMisalignment = "misalignment" // vibration rising with load, some heat
	FaultImbalance    = "imbalance"    // vibration rising with the square of load
	FaultCavitation   = "cavitation"   // pumps: flow drops, pressure and vibration turn noisy
	FaultClogging     = "clogging"     // pumps: flow drops, pressure rises, current falls
	FaultSpike        = "spike"        // sensor: ever more frequent spikes
	FaultStuck        = "stuck"        // sensor: repeats the value it had at onset
	FaultDropout      = "dropout"      // sensor: ever more readings missing
	FaultSensorDrift  = "sensor-drift" // sensor: calibration offset growing
	FaultBeltSlip     = "belt-slip"    // conveyors: belt slips on the pulley, belt speed drops, current hunts
	FaultOverload     = "overload"     // conveyors: too much material, current and heat rise, the motor slips
)

// Bearing defect locations of a bearing-wear fault.
const (
	LocationOuterRace = "outer-race" // impacts at BPFO, steady (the outer race does not turn)
	LocationInnerRace = "inner-race" // impacts at BPFI, modulated at the shaft speed
	LocationBall      = "ball"       // impacts at 2×BSF, modulated at the cage speed (FTF)
	LocationCage      = "cage"       // impacts at FTF
)

var locations = []string{LocationOuterRace, LocationInnerRace, LocationBall, LocationCage}

type faultKind struct {
	sensor        bool   // a sensor fault
	pumpOnly      bool   // needs flow and pressure
	conveyorOnly  bool   // needs a belt
	defaultSensor sensor // for sensor faults
}

var faultKinds = map[string]faultKind{
	FaultBearingWear:  {},
	FaultOverheating:  {},
	FaultMisalignment: {},
	FaultImbalance:    {},
	FaultCavitation:   {pumpOnly: true},
	FaultClogging:     {pumpOnly: true},
	FaultSpike:        {sensor: true, defaultSensor: sVib},
	FaultStuck:        {sensor: true, defaultSensor: sTemp},
	FaultDropout:      {sensor: true, defaultSensor: sVib},
	FaultSensorDrift:  {sensor: true, defaultSensor: sTemp},
	FaultBeltSlip:     {conveyorOnly: true},
	FaultOverload:     {conveyorOnly: true},
}

// FaultKinds lists the fault kinds, sorted.
func FaultKinds() []string {
	out := make([]string, 0, len(faultKinds))
	for k := range faultKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// activeFault is a Fault being simulated, with times in simulated seconds.
type activeFault struct {
	kind                   string
	isSensor               bool
	sensor                 sensor
	onset, failure, repair float64 // repair is +Inf when never
	k                      float64 // severity
	scale                  float64 // the sensor's nominal magnitude
	stuck                  float64
	stuckSet               bool
	location               string // bearing wear: where the defect is
}

func newActiveFault(f Fault, mt *machineType) activeFault {
	fk := faultKinds[f.Kind]
	a := activeFault{
		kind:     f.Kind,
		isSensor: fk.sensor,
		sensor:   fk.defaultSensor,
		onset:    f.Onset.D().Seconds(),
		failure:  (f.Onset.D() + f.Ramp.D()).Seconds(),
		repair:   math.Inf(1),
		k:        f.Severity,
	}
	if f.Sensor != "" {
		a.sensor, _ = sensorByName(f.Sensor)
	}
	if f.Kind == FaultBearingWear {
		a.location = f.Location
		if a.location == "" {
			a.location = LocationOuterRace
		}
	}
	if f.Repair > 0 {
		a.repair = a.failure + f.Repair.D().Seconds()
	}
	if a.k == 0 {
		a.k = 1
	}
	a.scale = mt.nominal(a.sensor)
	return a
}

// progress is how far the fault has gone at time t: 0 before onset and
// after repair, 1 at and after failure, accelerating in between (wear
// feeds on itself).
func (a *activeFault) progress(t float64) float64 {
	switch {
	case t < a.onset || t >= a.repair:
		return 0
	case t >= a.failure:
		return 1
	}
	return math.Pow((t-a.onset)/(a.failure-a.onset), 1.5)
}

// active reports whether the fault is present at t, whatever its progress.
func (a *activeFault) active(t float64) bool { return t >= a.onset && t < a.repair }

// apply adds a physical fault's effects at time t and load l.
func (a *activeFault) apply(e *effects, t, l float64) {
	p := a.progress(t)
	if p == 0 {
		return
	}
	s := a.k * p
	switch a.kind {
	case FaultBearingWear:
		e.vibAdd += 7 * s
		e.vibNoise *= 1 + s
		e.tempAdd += 25 * s
		e.ampsMul += 0.08 * s
		// Waveform: impacts at the defect frequency from the first
		// progress; the velocity it adds late (looseness, rubbing) is
		// mostly broadband, some 1x.
		e.v1 += 0.3
		e.vn += 0.7
		e.impact += s * p // impacts grow from nothing: spalls spread
	case FaultOverheating:
		e.tempAdd += 40 * s
		e.ampsMul += 0.15 * s
	case FaultMisalignment:
		e.vibAdd += 5 * s * (0.5 + l)
		e.tempAdd += 10 * s
		e.ampsMul += 0.05 * s
		e.v1 += 0.25
		e.v2 += 0.6 // misalignment's signature: 2x
		e.v3 += 0.15
	case FaultImbalance:
		e.vibAdd += 8 * s * (0.3 + l) * (0.3 + l)
		e.vibNoise *= 1 + s
		e.v1 += 1 // imbalance's signature: 1x
	case FaultCavitation:
		e.flowMul *= 1 - 0.3*min(1, s)
		e.flowNoise *= 1 + 8*s
		e.barAdd -= 0.8 * s
		e.barNoise *= 1 + 10*s
		e.vibAdd += 2.5 * s
		e.vibNoise *= 1 + 4*s
		e.vn += 1
		e.hf += s // bubbles collapsing: high-frequency broadband
	case FaultClogging:
		e.flowMul *= 1 - 0.5*min(1, s)
		e.barAdd += 1.5 * s
		e.ampsMul -= 0.1 * s
	case FaultBeltSlip:
		e.beltSlip += 0.25 * min(1, s)
		e.ampsMul -= 0.12 * s
		e.ampsNoise += 6 * s // stick-slip: the current hunts
		e.tempAdd += 6 * s
		e.vibAdd += 1.2 * s
		e.vn += 0.6
		e.v1 += 0.4
	case FaultOverload:
		e.ampsMul += 0.45 * s
		e.slipMul += 1.5 * s
		e.tempAdd += 22 * s
		e.vibAdd += 1.0 * s
		e.v1 += 0.5
		e.vn += 0.5
	}
}

// sensorFault changes what the fault's sensor reports at time t.
func (a *activeFault) sensorFault(st *state, t float64) {
	if !a.isSensor {
		return
	}
	if !a.active(t) {
		a.stuckSet = false
		return
	}
	p := a.progress(t)
	v := &st.vals[a.sensor]
	switch a.kind {
	case FaultSpike:
		if st.rng.Float64() < 0.02+0.2*p {
			*v += a.scale * a.k * (2 + 3*st.rng.Float64())
		}
	case FaultStuck:
		if !a.stuckSet {
			a.stuck, a.stuckSet = *v, true
		}
		*v = a.stuck
	case FaultDropout:
		if st.rng.Float64() < min(1, (0.1+0.8*p)*a.k) {
			st.present[a.sensor] = false
		}
	case FaultSensorDrift:
		*v += 0.3 * a.scale * a.k * p
	}
}
