package plant

import "millwright/wire"

// AppendJSONForTest exposes the JSON encoder to the external tests.
func AppendJSONForTest(b []byte, t *wire.Telemetry) []byte { return appendJSON(b, t) }

// SourceReadingForTest is the reading of sensor that the physics behind a
// VibrationSource made at its last tick.
func SourceReadingForTest(v *VibrationSource, sensor string) float64 {
	s, _ := sensorByName(sensor)
	return v.st.vals[s]
}
