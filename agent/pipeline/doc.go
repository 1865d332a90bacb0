// Package pipeline turns telemetry messages into scores, alerts and metrics.
//
// # Per message
//
// Handle decodes one telemetry message (CBOR or JSON) into a reused target;
// a refused message is counted by kind in wire.Rejects and logged once per
// kind and topic. The machine comes from the topic: a new machine is
// discovered on its first message, with no configuration. Its sensor set is
// learned from its first few messages (Options.Learn), sorted by name, and
// fixed from then on; readings of sensors outside the set are ignored.
//
// Each message then makes one feature vector: the latest value of every
// sensor of the machine in sensor-name order, NaN for a sensor not heard
// from yet. Every model of the machine scores and learns it (Update), which
// allocates nothing in steady state.
//
// # Alerts
//
// A champion model raises an alert when its score is at or above the
// threshold for Consecutive vectors in a row and the last alert of the
// machine was at least Cooldown ago (event time). The episode lasts until a
// score falls below Clear (hysteresis); an episode raises one alert only.
// The alert's Env.Time is the event time of the first vector of the run
// over the threshold.
//
// # Metrics
//
// Each model accumulates count, mean, max and last score, the vectors over
// threshold, and the mean Update latency; EmitMetrics hands them to the Sink
// as one wire.Metrics and starts a new interval.
//
// A Pipeline is driven by one goroutine: Handle, EmitMetrics, Restore and
// Models must not be called concurrently. Stats and Machines may be called
// from anywhere.
package pipeline
