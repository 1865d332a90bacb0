// Package wire is Millwright's wire contract, version 1: the MQTT topic tree
// and every message that crosses it, shared by firmware, agents and hubs.
//
// # Topic tree
//
// Every topic starts with the root "mw/v1". Identifiers (gateway, machine,
// sensor) are single topic levels: no '/', '+', '#' and not empty.
//
//	mw/v1/telemetry/{gateway}/{machine}   machine → agent   Telemetry (CBOR or JSON)
//	mw/v1/agent/{gateway}/birth           agent → hub       Birth (retained)
//	mw/v1/agent/{gateway}/death           agent → hub       Death (the agent's last will)
//	mw/v1/agent/{gateway}/metrics         agent → hub       Metrics, QoS 1
//	mw/v1/agent/{gateway}/alerts          agent → hub       Alert, QoS 1
//	mw/v1/agent/{gateway}/snapshots       agent → hub       Snapshot, QoS 1
//	mw/v1/agent/{gateway}/cmdack          agent → hub       CommandAck, QoS 1
//	mw/v1/agent/{gateway}/drift           agent → hub       Drift, QoS 1
//	mw/v1/hub/{gateway}/cmd               hub → agent       Command, QoS 1
//	mw/v1/hub/{gateway}/ack               hub → agent       Ack, QoS 1
//
// Anything an agent owes the hub (metrics, alerts, snapshots, command acks)
// stays in the agent's outbox until the hub answers with an Ack naming its
// sequence number, which the hub sends only after its own durable write. A
// broker's PUBACK is not enough.
//
// # Messages
//
// Every message is a CBOR map with small integer keys (compact on the wire,
// stable when fields are renamed). Key 0 is always the Envelope: schema
// version, sender id, a per-sender sequence number and the event time in Unix
// nanoseconds. Telemetry may also arrive as JSON (see DecodeTelemetryJSON).
//
// # Untrusted bytes
//
// Decoders run with limits (message size, nesting depth, array and map sizes,
// byte-string length), set once in the package's decode mode. Every decode
// failure is a *DecodeError whose Kind says what went wrong (malformed,
// unknown version, oversized); Rejects counts them and logs once per kind and
// topic.
package wire
