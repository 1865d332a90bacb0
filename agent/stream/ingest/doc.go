// Package ingest maps arbitrary MQTT inputs to readings of site, line,
// asset and sensor.
//
// # Topics
//
// A Mapping's topic pattern matches topics level by level:
//
//	plant/{site}/{line}/{asset}/{sensor}
//	factory/+/press-7/{sensor}
//	sensors/{asset}/#
//
// Captures fill the reading's Site, Line, Asset and Sensor; "+" matches any
// one level and a trailing "#" the rest. Pattern.Subscription gives the MQTT
// filter to subscribe with. What the topic does not name comes from the
// payload or from the mapping's fixed fields. A Router tries its mappings in
// order and uses the first whose pattern matches.
//
// # Payloads
//
// JSON payloads are read through gjson paths (JSONPaths): the value (a
// number or numeric string), and optionally the time (Unix s, ms, µs or ns
// told apart by size, or RFC 3339; absent, the receive time), the unit and
// the sensor. With a Readings path, the payload holds an array of readings
// and the other paths apply to each element. CBOR payloads are
// wire.Telemetry. Text payloads are one number, timed on receipt.
//
// A payload that does not fit its mapping (not parsable, a path missing, a
// value not a finite number, an invalid sensor id) gives a *MismatchError
// whose Reason says why, and no readings. The caller counts such errors per
// topic and logs them rate-limited with TopicErrors.
//
// # Allocation
//
// Decoding a JSON payload copies it once into a string that the readings'
// strings share; CBOR decoding allocates the sensor names; text decoding
// and topic matching allocate nothing. Decoders and Routers are not safe
// for concurrent use.
package ingest
