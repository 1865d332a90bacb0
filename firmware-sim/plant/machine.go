package plant

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Machine types.
const (
	TypePump       = "pump"
	TypeMotor      = "motor"
	TypeCompressor = "compressor"
)

// Sensor names as they appear in telemetry.
const (
	SensorVibration   = "vib_rms"      // vibration velocity RMS, mm/s
	SensorTemperature = "bearing_temp" // bearing temperature, °C
	SensorCurrent     = "current"      // motor current, A
	SensorPressure    = "pressure"     // discharge pressure, bar
	SensorFlow        = "flow"         // flow, m³/h
	SensorSpeed       = "rpm"          // shaft speed, rev/min
)

type sensor uint8

const (
	sVib sensor = iota
	sTemp
	sCurrent
	sPressure
	sFlow
	sRPM
	numSensors
)

var sensorNameOf = [numSensors]string{SensorVibration, SensorTemperature, SensorCurrent, SensorPressure, SensorFlow, SensorSpeed}

func sensorByName(name string) (sensor, bool) {
	for i, n := range sensorNameOf {
		if n == name {
			return sensor(i), true
		}
	}
	return 0, false
}

// machineType holds a type's sensors and nominal physics. Signals depend on
// the load l in [0, 1]: x = base + perLoad*l.
type machineType struct {
	sensors           []sensor
	vib, vibLoad      float64 // mm/s
	tempRise          float64 // °C above ambient at full load
	amps, ampsLoad    float64
	bar, barLoad      float64
	flow, flowLoad    float64
	rpm, rpmSlip      float64
	tempTau, loadTau  float64 // s
	noiseVib, noiseIn float64 // relative noise of vibration and of the other signals
}

var machineTypes = map[string]*machineType{
	TypePump: {
		sensors: []sensor{sVib, sTemp, sCurrent, sPressure, sFlow},
		vib:     1.2, vibLoad: 1.0, tempRise: 30, amps: 4, ampsLoad: 10,
		bar: 2, barLoad: 4, flow: 20, flowLoad: 60,
		tempTau: 60, loadTau: 90, noiseVib: 0.05, noiseIn: 0.01,
	},
	TypeMotor: {
		sensors: []sensor{sVib, sTemp, sCurrent, sRPM},
		vib:     0.8, vibLoad: 0.8, tempRise: 35, amps: 6, ampsLoad: 18,
		rpm: 1500, rpmSlip: 40,
		tempTau: 60, loadTau: 90, noiseVib: 0.05, noiseIn: 0.01,
	},
	TypeCompressor: {
		sensors: []sensor{sVib, sTemp, sCurrent, sPressure},
		vib:     1.8, vibLoad: 1.2, tempRise: 40, amps: 10, ampsLoad: 25,
		bar: 5, barLoad: 3,
		tempTau: 75, loadTau: 120, noiseVib: 0.06, noiseIn: 0.01,
	},
}

// MachineTypes lists the machine types, sorted.
func MachineTypes() []string {
	out := make([]string, 0, len(machineTypes))
	for k := range machineTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (mt *machineType) has(s sensor) bool { return slices.Contains(mt.sensors, s) }

func (mt *machineType) sensorNames() []string {
	out := make([]string, len(mt.sensors))
	for i, s := range mt.sensors {
		out[i] = sensorNameOf[s]
	}
	return out
}

// nominal is a sensor's typical magnitude, the scale of sensor faults.
func (mt *machineType) nominal(s sensor) float64 {
	switch s {
	case sVib:
		return mt.vib + mt.vibLoad
	case sTemp:
		return mt.tempRise
	case sCurrent:
		return mt.amps + mt.ampsLoad
	case sPressure:
		return mt.bar + mt.barLoad
	case sFlow:
		return mt.flow + mt.flowLoad
	case sRPM:
		return mt.rpm
	}
	return 1
}

// effects is what the active faults do to the physics this tick.
type effects struct {
	vibAdd, vibNoise   float64 // mm/s added; noise multiplier
	tempAdd            float64 // °C added to the equilibrium
	ampsMul            float64 // relative current change
	barAdd, barNoise   float64 // bar added; noise multiplier
	flowMul, flowNoise float64
}

// state is one machine's simulation: physics, faults and its random stream.
type state struct {
	gw, id   string
	typ      *machineType
	rng      *rand.Rand
	ambient  float64
	load     float64
	target   float64
	mean     float64
	swing    float64
	nextMove float64 // sim seconds at which the load target moves next
	temp     float64
	faults   []activeFault
	vals     [numSensors]float64
	present  [numSensors]bool
}

func newState(gw string, m Machine, ambient float64, rng *rand.Rand) *state {
	s := &state{gw: gw, id: m.ID, typ: machineTypes[m.Type], rng: rng, ambient: ambient, mean: m.Load, swing: m.LoadSwing}
	if s.mean == 0 {
		s.mean = defaultLoad
	}
	if s.swing == 0 {
		s.swing = defaultSwing
	}
	s.target = s.clampLoad(s.mean + s.swing*(2*rng.Float64()-1))
	s.load = s.target
	s.nextMove = 60 + 240*rng.Float64()
	// Started cold: the bearing warms up from near ambient.
	s.temp = ambient + 0.6*s.equilibrium(0)
	for _, f := range m.Faults {
		s.faults = append(s.faults, newActiveFault(f, s.typ))
	}
	return s
}

func (s *state) clampLoad(l float64) float64 { return min(1, max(0.05, l)) }

// equilibrium is the bearing's temperature rise above ambient at the current load.
func (s *state) equilibrium(extra float64) float64 {
	return s.typ.tempRise*(0.4+0.6*s.load) + extra
}

// step advances the physics by dt seconds to simulated time t (seconds
// since start) and leaves the readings in s.vals and s.present.
func (s *state) step(t, dt float64) {
	mt, r := s.typ, s.rng
	// Load: a target that moves every few minutes, followed with lag, plus
	// a little process noise.
	if t >= s.nextMove {
		s.target = s.clampLoad(s.mean + s.swing*(2*r.Float64()-1))
		s.nextMove = t + 120 + 480*r.Float64()
	}
	s.load = s.clampLoad(s.load + (s.target-s.load)*(1-math.Exp(-dt/mt.loadTau)) + 0.004*math.Sqrt(dt)*r.NormFloat64())

	e := effects{vibNoise: 1, barNoise: 1, flowMul: 1, flowNoise: 1}
	for i := range s.faults {
		s.faults[i].apply(&e, t, s.load)
	}

	// Bearing temperature: first-order lag toward a load-dependent equilibrium.
	eq := s.ambient + s.equilibrium(e.tempAdd)
	s.temp += (eq - s.temp) * (1 - math.Exp(-dt/mt.tempTau))

	l := s.load
	n := mt.noiseIn
	vib := mt.vib + mt.vibLoad*l + e.vibAdd
	s.vals[sVib] = max(0.05, vib*(1+mt.noiseVib*e.vibNoise*r.NormFloat64()))
	s.vals[sTemp] = s.temp + 0.15*r.NormFloat64()
	s.vals[sCurrent] = (mt.amps + mt.ampsLoad*l) * (1 + e.ampsMul) * (1 + n*r.NormFloat64())
	s.vals[sPressure] = max(0, mt.bar+mt.barLoad*l+e.barAdd+(mt.bar+mt.barLoad)*n*e.barNoise*r.NormFloat64())
	s.vals[sFlow] = max(0, (mt.flow+mt.flowLoad*l)*e.flowMul*(1+n*e.flowNoise*r.NormFloat64()))
	s.vals[sRPM] = mt.rpm - mt.rpmSlip*l + 0.5*r.NormFloat64()
	for _, k := range mt.sensors {
		s.present[k] = true
	}
	for i := range s.faults {
		s.faults[i].sensorFault(s, t)
	}
}
