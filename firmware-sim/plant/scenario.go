package plant

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"millwright/internal/conf"
	"millwright/wire"
)

// Scenario describes a simulated plant: its layout, the faults it will
// develop and when, how fast it runs and how its network misbehaves. All
// times are offsets from the simulation's start, in simulated time.
type Scenario struct {
	Name string `yaml:"name"`
	// Seed selects the random streams; the same seed and scenario give the
	// same readings, byte for byte.
	Seed uint64 `yaml:"seed"`
	// Rate is readings per machine per second of simulated time.
	Rate float64 `yaml:"rate"`
	// Speed compresses time: simulated seconds per wall-clock second.
	Speed float64 `yaml:"speed"`
	// Ambient is the ambient temperature in °C; 0 means 25.
	Ambient  float64   `yaml:"ambient"`
	Gateways []Gateway `yaml:"gateways"`
	Network  Network   `yaml:"network"`
	// Life is the normal life of the plant beyond load changes and warm-up:
	// seasonal ambient, shifts. The zero value is a plant that always runs
	// in a constant ambient.
	Life Life `yaml:"life"`
	// Vibration configures the raw vibration waveform.
	Vibration Vibration `yaml:"vibration"`
}

// Gateway is a group of machines watched by one agent.
type Gateway struct {
	ID       string    `yaml:"id"`
	Machines []Machine `yaml:"machines"`
}

// Machine is one simulated machine.
type Machine struct {
	ID   string `yaml:"id"`
	Type string `yaml:"type"` // one of MachineTypes
	// Load is the mean load in (0, 1]; 0 means 0.7. LoadSwing is how far the
	// slowly changing load target strays from it; 0 means 0.1.
	Load      float64 `yaml:"load"`
	LoadSwing float64 `yaml:"load_swing"`
	// Skew offsets the device's clock from true time; when zero, a skew is
	// drawn within Network.Skew.
	Skew   conf.Duration `yaml:"skew"`
	Faults []Fault       `yaml:"faults"`
	// Bearing is the monitored bearing's geometry; zero is the type's
	// (pump and compressor 6309, motor 6205, conveyor 6206).
	Bearing Bearing `yaml:"bearing"`
	// Conveyor is a conveyor's mechanics; conveyors only.
	Conveyor Conveyor `yaml:"conveyor"`
	// Stops makes the machine stop now and then (a conveyor waiting for
	// material, a pump on level control); zero never stops.
	Stops Stops `yaml:"stops"`
	// AmbientSensor gives the machine's sensor node an environment sensor
	// (BME280-like: ±0.5 °C, 0.05 °C noise) that publishes the air
	// temperature beside the machine as ambient_temp, so that a detector
	// can watch the bearing's rise above ambient rather than its
	// temperature.
	AmbientSensor bool `yaml:"ambient_sensor"`
}

// Fault is a fault a machine develops: it starts at Onset, progresses over
// Ramp to failure, stays failed and, when Repair is set, is repaired that
// long after failure.
type Fault struct {
	Kind string `yaml:"kind"` // one of FaultKinds
	// Sensor is the sensor a sensor fault affects. Defaults: vib_rms for
	// spike and dropout, bearing_temp for stuck and sensor-drift.
	Sensor string        `yaml:"sensor"`
	Onset  conf.Duration `yaml:"onset"`
	Ramp   conf.Duration `yaml:"ramp"`
	Repair conf.Duration `yaml:"repair"`
	// Severity scales the fault's effect at failure; 0 means 1.
	Severity float64 `yaml:"severity"`
	// Location is where a bearing-wear defect is: outer-race (default),
	// inner-race, ball or cage.
	Location string `yaml:"location"`
}

// Network describes how delivery misbehaves between devices and broker.
type Network struct {
	// Latency is the base delay of every message; Jitter adds up to that
	// much, uniformly.
	Latency conf.Duration `yaml:"latency"`
	Jitter  conf.Duration `yaml:"jitter"`
	// Reorder is the fraction of messages delivered after a later one.
	Reorder float64 `yaml:"reorder"`
	// Duplicate is the fraction of messages delivered twice.
	Duplicate float64 `yaml:"duplicate"`
	// Skew bounds the clock skew drawn per device (|skew| <= Skew) for
	// machines without an explicit one.
	Skew    conf.Duration `yaml:"skew"`
	Outages []Outage      `yaml:"outages"`
}

// Outage takes a device, or a whole gateway when Machine is empty, offline:
// it keeps its readings and sends them in a burst when it comes back, or,
// with Lose, loses them.
type Outage struct {
	Gateway  string        `yaml:"gateway"`
	Machine  string        `yaml:"machine"`
	At       conf.Duration `yaml:"at"`
	Duration conf.Duration `yaml:"duration"`
	Lose     bool          `yaml:"lose"`
}

// Defaults filled by withDefaults.
const (
	DefaultRate    = 2.0
	DefaultSpeed   = 1.0
	DefaultAmbient = 25.0
	defaultLoad    = 0.7
	defaultSwing   = 0.1
)

// Demo is the built-in scenario: two gateways of three machines (pump,
// motor, compressor); gw1's motor develops bearing wear 60 s in that
// progresses to failure over 90 s. The other machines live a normal life.
func Demo() Scenario {
	return DemoWithOnset(60 * time.Second)
}

// DemoWithOnset is Demo with the bearing wear starting at onset.
func DemoWithOnset(onset time.Duration) Scenario {
	return Scenario{
		Name:    "demo",
		Seed:    1,
		Rate:    DefaultRate,
		Speed:   DefaultSpeed,
		Ambient: DefaultAmbient,
		Gateways: []Gateway{
			{ID: "gw1", Machines: []Machine{
				{ID: "pump-1", Type: TypePump, Load: 0.7},
				{ID: "motor-1", Type: TypeMotor, Load: 0.65, Faults: []Fault{
					{Kind: FaultBearingWear, Onset: conf.Duration(onset), Ramp: conf.Duration(90 * time.Second), Severity: 1},
				}},
				{ID: "comp-1", Type: TypeCompressor, Load: 0.6},
			}},
			{ID: "gw2", Machines: []Machine{
				{ID: "pump-2", Type: TypePump, Load: 0.75},
				{ID: "motor-2", Type: TypeMotor, Load: 0.6},
				{ID: "comp-2", Type: TypeCompressor, Load: 0.7},
			}},
		},
	}
}

// LoadScenario reads a scenario from a YAML file strictly: unknown fields
// and invalid values are errors naming the field.
func LoadScenario(path string) (Scenario, error) {
	var sc Scenario
	if err := conf.Load(path, &sc); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// Validate checks the scenario and names the offending field.
func (sc *Scenario) Validate() error {
	if len(sc.Gateways) == 0 {
		return errors.New("gateways: at least one gateway is needed")
	}
	if err := nonNeg("rate", sc.Rate); err != nil {
		return err
	}
	if sc.Rate > 1000 {
		return fmt.Errorf("rate: %g readings per second, limit 1000", sc.Rate)
	}
	if err := nonNeg("speed", sc.Speed); err != nil {
		return err
	}
	if math.IsNaN(sc.Ambient) || math.IsInf(sc.Ambient, 0) || sc.Ambient < -50 || sc.Ambient > 80 {
		return fmt.Errorf("ambient: %g °C, want -50 to 80", sc.Ambient)
	}
	if err := sc.Life.validate(); err != nil {
		return err
	}
	if err := sc.Vibration.validate(sc.Rate); err != nil {
		return err
	}
	gws := map[string]bool{}
	machines := map[string]string{} // machine id → gateway
	for i, g := range sc.Gateways {
		p := fmt.Sprintf("gateways[%d]", i)
		if !wire.ValidID(g.ID) {
			return fmt.Errorf("%s.id: %q is not a valid id (1-64 of letters, digits, - _ .)", p, g.ID)
		}
		if gws[g.ID] {
			return fmt.Errorf("%s.id: gateway %q listed twice", p, g.ID)
		}
		gws[g.ID] = true
		if len(g.Machines) == 0 {
			return fmt.Errorf("%s.machines: gateway %q has no machines", p, g.ID)
		}
		for j, m := range g.Machines {
			if err := m.validate(fmt.Sprintf("%s.machines[%d]", p, j)); err != nil {
				return err
			}
			if other, dup := machines[m.ID]; dup {
				return fmt.Errorf("%s.machines[%d].id: machine %q already on gateway %q (machine ids are global: they are the telemetry sender)", p, j, m.ID, other)
			}
			machines[m.ID] = g.ID
		}
	}
	return sc.Network.validate(gws, machines)
}

func (m *Machine) validate(p string) error {
	if !wire.ValidID(m.ID) {
		return fmt.Errorf("%s.id: %q is not a valid id (1-64 of letters, digits, - _ .)", p, m.ID)
	}
	mt, ok := machineTypes[m.Type]
	if !ok {
		return fmt.Errorf("%s.type: unknown machine type %q (want one of %s)", p, m.Type, strings.Join(MachineTypes(), ", "))
	}
	if math.IsNaN(m.Load) || m.Load < 0 || m.Load > 1 {
		return fmt.Errorf("%s.load: %g, want 0 to 1", p, m.Load)
	}
	if math.IsNaN(m.LoadSwing) || m.LoadSwing < 0 || m.LoadSwing > 0.5 {
		return fmt.Errorf("%s.load_swing: %g, want 0 to 0.5", p, m.LoadSwing)
	}
	if d := m.Skew.D(); d > time.Hour || d < -time.Hour {
		return fmt.Errorf("%s.skew: %v, limit ±1h", p, d)
	}
	if err := m.Bearing.validate(p + ".bearing"); err != nil {
		return err
	}
	if !m.Conveyor.isZero() && m.Type != TypeConveyor {
		return fmt.Errorf("%s.conveyor: machine %q is a %s, not a conveyor", p, m.ID, m.Type)
	}
	if err := m.Conveyor.validate(p + ".conveyor"); err != nil {
		return err
	}
	if err := m.Stops.validate(p + ".stops"); err != nil {
		return err
	}
	for k, f := range m.Faults {
		fp := fmt.Sprintf("%s.faults[%d]", p, k)
		fk, ok := faultKinds[f.Kind]
		if !ok {
			return fmt.Errorf("%s.kind: unknown fault kind %q (want one of %s)", fp, f.Kind, strings.Join(FaultKinds(), ", "))
		}
		if fk.pumpOnly && m.Type != TypePump {
			return fmt.Errorf("%s.kind: %s needs a pump, machine %q is a %s", fp, f.Kind, m.ID, m.Type)
		}
		if fk.conveyorOnly && m.Type != TypeConveyor {
			return fmt.Errorf("%s.kind: %s needs a conveyor, machine %q is a %s", fp, f.Kind, m.ID, m.Type)
		}
		if f.Location != "" {
			if f.Kind != FaultBearingWear {
				return fmt.Errorf("%s.location: only bearing-wear has a location", fp)
			}
			if !slices.Contains(locations, f.Location) {
				return fmt.Errorf("%s.location: %q, want one of %s", fp, f.Location, strings.Join(locations, ", "))
			}
		}
		if f.Sensor != "" {
			if !fk.sensor {
				return fmt.Errorf("%s.sensor: %s is not a sensor fault; leave sensor empty", fp, f.Kind)
			}
			s, ok := sensorByName(f.Sensor)
			if !ok || !mt.has(s) {
				return fmt.Errorf("%s.sensor: machine %q (%s) has no sensor %q (it has %s)", fp, m.ID, m.Type, f.Sensor, strings.Join(mt.sensorNames(), ", "))
			}
		}
		if f.Onset < 0 {
			return fmt.Errorf("%s.onset: negative", fp)
		}
		if f.Ramp < 0 {
			return fmt.Errorf("%s.ramp: negative", fp)
		}
		if f.Repair < 0 {
			return fmt.Errorf("%s.repair: negative", fp)
		}
		if math.IsNaN(f.Severity) || f.Severity < 0 || f.Severity > 10 {
			return fmt.Errorf("%s.severity: %g, want 0 to 10", fp, f.Severity)
		}
	}
	return nil
}

func (n *Network) validate(gws map[string]bool, machines map[string]string) error {
	if n.Latency < 0 || n.Latency.D() > time.Minute {
		return fmt.Errorf("network.latency: %v, want 0 to 1m", n.Latency.D())
	}
	if n.Jitter < 0 || n.Jitter.D() > time.Minute {
		return fmt.Errorf("network.jitter: %v, want 0 to 1m", n.Jitter.D())
	}
	if math.IsNaN(n.Reorder) || n.Reorder < 0 || n.Reorder > 1 {
		return fmt.Errorf("network.reorder: %g, want a fraction 0 to 1", n.Reorder)
	}
	if math.IsNaN(n.Duplicate) || n.Duplicate < 0 || n.Duplicate > 1 {
		return fmt.Errorf("network.duplicate: %g, want a fraction 0 to 1", n.Duplicate)
	}
	if n.Skew < 0 || n.Skew.D() > time.Hour {
		return fmt.Errorf("network.skew: %v, want 0 to 1h", n.Skew.D())
	}
	for i, o := range n.Outages {
		p := fmt.Sprintf("network.outages[%d]", i)
		if o.Machine == "" && o.Gateway == "" {
			return fmt.Errorf("%s: name a gateway or a machine", p)
		}
		if o.Gateway != "" && !gws[o.Gateway] {
			return fmt.Errorf("%s.gateway: no gateway %q in the scenario", p, o.Gateway)
		}
		if o.Machine != "" {
			gw, ok := machines[o.Machine]
			if !ok {
				return fmt.Errorf("%s.machine: no machine %q in the scenario", p, o.Machine)
			}
			if o.Gateway != "" && o.Gateway != gw {
				return fmt.Errorf("%s.machine: machine %q is on gateway %q, not %q", p, o.Machine, gw, o.Gateway)
			}
		}
		if o.At < 0 {
			return fmt.Errorf("%s.at: negative", p)
		}
		if o.Duration <= 0 {
			return fmt.Errorf("%s.duration: must be positive", p)
		}
	}
	return nil
}

func nonNeg(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s: %g, want a positive number (0 for the default)", field, v)
	}
	return nil
}

// withDefaults returns sc with zero fields set to their defaults.
func (sc Scenario) withDefaults() Scenario {
	if sc.Rate == 0 {
		sc.Rate = DefaultRate
	}
	if sc.Speed == 0 {
		sc.Speed = DefaultSpeed
	}
	if sc.Ambient == 0 {
		sc.Ambient = DefaultAmbient
	}
	sc.Vibration = sc.Vibration.withDefaults()
	return sc
}

// MachineInfos describes the machines behind gateway gw, as an agent
// announces them in its Birth; nil when the scenario has no such gateway.
func (sc *Scenario) MachineInfos(gw string) []wire.MachineInfo {
	for _, g := range sc.Gateways {
		if g.ID != gw {
			continue
		}
		out := make([]wire.MachineInfo, 0, len(g.Machines))
		for _, m := range g.Machines {
			info := wire.MachineInfo{ID: m.ID, Type: m.Type}
			if mt, ok := machineTypes[m.Type]; ok {
				info.Sensors = mt.sensorNames()
				if sc.Vibration.Frames {
					for _, s := range frameSensors {
						info.Sensors = append(info.Sensors, sensorNameOf[s])
					}
				}
				if m.AmbientSensor {
					info.Sensors = append(info.Sensors, SensorAmbient)
				}
			}
			out = append(out, info)
		}
		return out
	}
	return nil
}
