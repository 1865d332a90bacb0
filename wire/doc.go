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
// # Signatures
//
// A hub signs its Commands and an agent the Snapshots it uploads (Ed25519,
// package internal/sign). The signed bytes are a domain prefix per message
// type and the message's top-level CBOR map re-encoded deterministically
// without its Sig (CommandSigningBytes, SnapshotSigningBytes); a command's
// snapshot bytes are left out too and covered by its signed SnapshotHash.
// Keys the receiver does not know are kept in the signed bytes, so a newer
// sender's signature still verifies. A Command's Env.Seq is the hub's
// sequence, which agents keep against replay. An agent announces its
// public key in its Birth (SigningKey).
//
// # Untrusted bytes
//
// Decoders run with limits (message size, nesting depth, array and map sizes,
// byte-string length), set once in the package's decode mode. Every decode
// failure is a *DecodeError whose Kind says what went wrong (malformed,
// unknown version, oversized); Rejects counts them and logs once per kind and
// topic.
package wire
