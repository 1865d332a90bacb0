package localbus_test

import (
	"path/filepath"
	"strings"
	"testing"

	"millwright/agent/localbus"
	"millwright/internal/conf"
)

func TestConfigGood(t *testing.T) {
	for _, name := range []string{"good.yaml", "emulated.yaml"} {
		var c localbus.Config
		if err := conf.Load(filepath.Join("testdata", name), &c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var c localbus.Config
	if err := conf.Load("testdata/good.yaml", &c); err != nil {
		t.Fatal(err)
	}
	d := c.WithDefaults()
	if s := d.Sensors[0]; s.Addr != 0 || s.SPI != "SPI0.0" || s.RangeG != 4 {
		t.Errorf("adxl345 with defaults: %+v", s)
	}
	if s := d.Sensors[3]; s.Debounce.D().Milliseconds() != 20 || s.Interval.D().Seconds() != 10 {
		t.Errorf("gpio with defaults: %+v", s)
	}
}

func TestConfigBad(t *testing.T) {
	for file, want := range map[string]string{
		"no_machine.bad.yaml":     "machine: required",
		"adxl_rate.bad.yaml":      "sensors[0].rate_hz: 1000",
		"adxl_addr.bad.yaml":      "sensors[0].addr: 0x50",
		"bme_names.bad.yaml":      "sensors[0]: a bme280 needs a reading name",
		"duplicate.bad.yaml":      `sensors[1].humidity: reading name "t" already used by sensors[0].temperature`,
		"ads_input.bad.yaml":      `sensors[0].channels[0].input: "ain4"`,
		"ads_full_scale.bad.yaml": "sensors[0].channels[0].full_scale: 5",
		"ads_shunt.bad.yaml":      "sensors[0].channels[0].loop.shunt_ohms: 0",
		"kind.bad.yaml":           `sensors[0].kind: "thermocouple"`,
		"gpio_pin.bad.yaml":       "sensors[0].pin: required",
		"interval.bad.yaml":       "sensors[0].interval: 1ms",
		"unknown_field.bad.yaml":  "field colour not found",
	} {
		var c localbus.Config
		err := conf.Load(filepath.Join("testdata", file), &c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	// Every bad fixture is in the table.
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) != 12 {
		t.Errorf("%d bad fixtures (%v), want the table's 12", len(files), err)
	}
}
