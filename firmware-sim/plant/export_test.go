package plant

import "millwright/wire"

// AppendJSONForTest exposes the JSON encoder to the external tests.
func AppendJSONForTest(b []byte, t *wire.Telemetry) []byte { return appendJSON(b, t) }
