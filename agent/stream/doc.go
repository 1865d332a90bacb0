// Package stream is the agent's event-time processing, as libraries the
// pipeline composes. Each stage is a subpackage, driven by one goroutine and
// allocation-free per reading in steady state:
//
//   - ingest maps arbitrary MQTT topics and payloads (JSON with configured
//     paths, wire CBOR, plain numeric text) to readings of site, line, asset
//     and sensor;
//   - reorder puts each sensor's readings back in event-time order behind a
//     watermark, dropping duplicates and handling late readings by policy;
//   - derive computes signals declared as expressions over an asset's
//     signals (power = voltage * current);
//   - features aggregates scalar signals and vibration frames over tumbling
//     or sliding event-time windows and joins an asset's sensors into one
//     named feature vector per window.
//
// This package itself holds no code.
package stream
