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
	// TypeConveyor is a belt conveyor's drive: an induction motor, a
	// two-stage gearbox, the drive pulley and the belt on its idlers.
	TypeConveyor = "conveyor"
)

// Sensor names as they appear in telemetry.
const (
	SensorVibration   = "vib_rms"      // vibration velocity RMS, mm/s
	SensorTemperature = "bearing_temp" // bearing temperature, °C
	SensorCurrent     = "current"      // motor current, A
	SensorPressure    = "pressure"     // discharge pressure, bar
	SensorFlow        = "flow"         // flow, m³/h
	SensorSpeed       = "rpm"          // shaft speed, rev/min
	SensorBeltSpeed   = "belt_speed"   // conveyor belt speed, m/s

	// Per-frame vibration features, published when the scenario's
	// vibration frames are on (Scenario.Vibration.Frames): what a smart
	// vibration sensor computes from each raw frame.
	SensorVibPeak     = "vib_peak"     // peak |acceleration| in the frame, m/s²
	SensorVibKurtosis = "vib_kurtosis" // kurtosis of the acceleration (3 for Gaussian noise)
	SensorVibDefect   = "vib_defect"   // envelope-spectrum energy at the bearing defect frequencies, (m/s²)²

	// SensorAmbient is the air temperature beside the machine, published
	// by machines with an environment sensor (Machine.AmbientSensor).
	SensorAmbient = "ambient_temp" // °C
)

type sensor uint8

const (
	sVib sensor = iota
	sTemp
	sCurrent
	sPressure
	sFlow
	sRPM
	sBelt
	sPeak
	sKurt
	sDefect
	sAmbient
	numSensors
)

var sensorNameOf = [numSensors]string{SensorVibration, SensorTemperature, SensorCurrent, SensorPressure, SensorFlow, SensorSpeed,
	SensorBeltSpeed, SensorVibPeak, SensorVibKurtosis, SensorVibDefect, SensorAmbient}

// frameSensors are the features published per vibration frame.
var frameSensors = []sensor{sPeak, sKurt, sDefect}

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
	// shaftRPM is the nominal speed of the shaft carrying the monitored
	// bearing, for the vibration waveform (rpm is the speed sensor's).
	shaftRPM, shaftSlip float64
	bearing             Bearing // default drive-end bearing
	conveyor            bool
}

var machineTypes = map[string]*machineType{
	TypePump: {
		sensors: []sensor{sVib, sTemp, sCurrent, sPressure, sFlow},
		vib:     1.2, vibLoad: 1.0, tempRise: 30, amps: 4, ampsLoad: 10,
		bar: 2, barLoad: 4, flow: 20, flowLoad: 60,
		tempTau: 60, loadTau: 90, noiseVib: 0.05, noiseIn: 0.01,
		shaftRPM: 2950, shaftSlip: 40, bearing: bearing6309,
	},
	TypeMotor: {
		sensors: []sensor{sVib, sTemp, sCurrent, sRPM},
		vib:     0.8, vibLoad: 0.8, tempRise: 35, amps: 6, ampsLoad: 18,
		rpm: 1500, rpmSlip: 40,
		tempTau: 60, loadTau: 90, noiseVib: 0.05, noiseIn: 0.01,
		shaftRPM: 1500, shaftSlip: 40, bearing: bearing6205,
	},
	TypeCompressor: {
		sensors: []sensor{sVib, sTemp, sCurrent, sPressure},
		vib:     1.8, vibLoad: 1.2, tempRise: 40, amps: 10, ampsLoad: 25,
		bar: 5, barLoad: 3,
		tempTau: 75, loadTau: 120, noiseVib: 0.06, noiseIn: 0.01,
		shaftRPM: 1480, shaftSlip: 30, bearing: bearing6309,
	},
	TypeConveyor: {
		sensors: []sensor{sVib, sTemp, sCurrent, sRPM, sBelt},
		vib:     1.0, vibLoad: 0.9, tempRise: 30, amps: 5, ampsLoad: 14,
		rpm: 1480, rpmSlip: 30,
		// Material arrives in lumps: the load follows faster than a pump's.
		tempTau: 60, loadTau: 20, noiseVib: 0.05, noiseIn: 0.01,
		shaftRPM: 1480, shaftSlip: 30, bearing: bearing6206, conveyor: true,
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
	case sBelt:
		return 1.7
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
	// Where the added vibration goes in the waveform (relative weights of
	// vibAdd): shaft 1x, 2x, 3x and broadband.
	v1, v2, v3, vn float64
	impact         float64 // bearing-defect impact severity
	hf             float64 // cavitation: high-frequency broadband
	slipMul        float64 // relative change of the motor's slip
	beltSlip       float64 // conveyor belt slip added (fraction)
	ampsNoise      float64 // current noise multiplier added
}

// state is one machine's simulation: physics, faults and its random stream.
type state struct {
	gw, id   string
	typ      *machineType
	sensors  []sensor
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

	geo    geometry
	life   *lifeState // nil: always running, constant ambient
	run    float64    // speed as a fraction of nominal: 1 running, 0 stopped
	fed    bool       // contactor closed: the motor draws current
	inrush float64    // A added by a start's inrush current
	shaft  float64    // shaft frequency, Hz
	wave   *wave      // nil without a vibration waveform
	an     *analyzer  // non-nil when the published vibration comes from frames
	frame  []float64
	e      effects
	// env is the environment sensor's own stream (nil without one), so
	// adding it changes no other signal; envBias its calibration offset.
	env     *rand.Rand
	envBias float64
}

// stateOpts are what a machine's simulation needs beyond its Machine.
type stateOpts struct {
	ambient float64
	rng     *rand.Rand
	seed    uint64 // for the streams of the waveform and of normal life
	key     uint64
	start   int64 // Unix ns of tick 0
	life    Life
	vib     Vibration // with defaults
	wave    bool      // make a waveform
	frames  bool      // publish per-frame features (implies wave)
}

func newState(gw string, m Machine, o stateOpts) *state {
	s := &state{gw: gw, id: m.ID, typ: machineTypes[m.Type], rng: o.rng, ambient: o.ambient, mean: m.Load, swing: m.LoadSwing, run: 1, fed: true}
	s.sensors = s.typ.sensors
	if o.frames {
		s.sensors = append(slices.Clip(s.sensors), frameSensors...)
	}
	s.geo = newGeometry(s.typ, m)
	if s.mean == 0 {
		s.mean = defaultLoad
	}
	if s.swing == 0 {
		s.swing = defaultSwing
	}
	if o.life.active() || m.Stops.Every > 0 {
		s.life = newLifeState(o, m, s.mean)
		s.ambient = s.life.ambientAt(0)
		if run, _, _ := s.life.schedule(0); !run {
			s.run, s.fed = 0, false
		}
	}
	s.target = s.clampLoad(s.mean + s.swing*(2*o.rng.Float64()-1))
	s.load = s.target
	s.nextMove = 60 + 240*o.rng.Float64()
	// Started cold: the bearing warms up from near ambient.
	s.temp = s.ambient + 0.6*s.equilibrium(0)
	for _, f := range m.Faults {
		s.faults = append(s.faults, newActiveFault(f, s.typ))
	}
	if o.wave || o.frames {
		s.wave = newWave(o.vib.SampleRate, rand.New(rand.NewPCG(o.seed^0x7761766566, o.key)), &s.geo)
		for _, f := range s.faults {
			if f.kind == FaultBearingWear {
				s.wave.location = f.location
			}
		}
	}
	if m.AmbientSensor {
		s.sensors = append(slices.Clip(s.sensors), sAmbient)
		s.env = rand.New(rand.NewPCG(o.seed^0x616d6269656e74, o.key))
		s.envBias = envAccuracy * (2*s.env.Float64() - 1)
	}
	if o.frames {
		s.an = newAnalyzer(o.vib.FrameLen, o.vib.SampleRate)
		s.frame = make([]float64, o.vib.FrameLen)
	}
	return s
}

// A BME280-like environment sensor: absolute accuracy ±0.5 °C (a fixed
// offset per sensor), noise 0.05 °C RMS.
const envAccuracy, envNoise = 0.5, 0.05

func (s *state) clampLoad(l float64) float64 { return min(1, max(0.05, l)) }

// equilibrium is the bearing's temperature rise above ambient at the current load.
func (s *state) equilibrium(extra float64) float64 {
	return s.typ.tempRise*(0.4+0.6*s.load) + extra
}

// step advances the physics by dt seconds to simulated time t (seconds
// since start) and leaves the readings in s.vals and s.present. A machine
// that always runs (no normal-life schedule) has run == 1 exactly, so the
// products by it below change no bit of its signals.
func (s *state) step(t, dt float64) {
	mt, r := s.typ, s.rng
	tempTau := mt.tempTau
	if s.life != nil {
		s.life.step(s, t, dt)
		if s.run < 1 {
			tempTau *= 3 // a stopped machine cools slowly: no fan
		}
	}
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
	s.e = e

	// Bearing temperature: first-order lag toward a load-dependent equilibrium.
	eq := s.ambient + s.equilibrium(e.tempAdd)*s.run
	s.temp += (eq - s.temp) * (1 - math.Exp(-dt/tempTau))

	l := s.load
	n := mt.noiseIn
	run := s.run
	vib := mt.vib + mt.vibLoad*l + e.vibAdd
	s.vals[sVib] = max(0.05, vib*(run*run)*(1+mt.noiseVib*e.vibNoise*r.NormFloat64()))
	s.vals[sTemp] = s.temp + 0.15*r.NormFloat64()
	s.vals[sCurrent] = (mt.amps+mt.ampsLoad*l)*(1+e.ampsMul)*(1+n*(1+e.ampsNoise)*r.NormFloat64())*run + s.inrush
	if !s.fed {
		s.vals[sCurrent] = 0 // contactor open: no current while the shaft coasts
	}
	s.vals[sPressure] = max(0, (mt.bar+mt.barLoad*l+e.barAdd)*run+(mt.bar+mt.barLoad)*n*e.barNoise*r.NormFloat64())
	s.vals[sFlow] = max(0, (mt.flow+mt.flowLoad*l)*e.flowMul*(1+n*e.flowNoise*r.NormFloat64())) * run
	s.vals[sRPM] = (mt.rpm-mt.rpmSlip*l*(1+e.slipMul))*run + 0.5*r.NormFloat64()
	s.shaft = (mt.shaftRPM - mt.shaftSlip*l*(1+e.slipMul)) * run / 60
	if mt.conveyor {
		slip := 0.005 + 0.01*l + e.beltSlip
		s.vals[sBelt] = max(0, s.geo.beltSpeed(s.shaft)*(1-slip)*(1+0.003*(1+30*e.beltSlip)*r.NormFloat64()))
	}
	if s.env != nil {
		s.vals[sAmbient] = s.ambient + s.envBias + envNoise*s.env.NormFloat64()
	}
	for _, k := range s.sensors {
		s.present[k] = true
	}
	if s.wave != nil {
		s.wave.set(s, mt.vib+mt.vibLoad*l, s.vals[sVib])
		if s.an != nil {
			s.wave.seek(t)
			s.wave.fill(s.frame)
			f := s.an.features(s.frame, s.wave.defects)
			s.vals[sVib] = max(0.05, f.VelocityRMS)
			s.vals[sPeak], s.vals[sKurt], s.vals[sDefect] = f.Peak, f.Kurtosis, f.Defect
		}
	}
	for i := range s.faults {
		s.faults[i].sensorFault(s, t)
	}
}
