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
// # Event time
//
// Each reading of a known sensor then goes into the machine's reorder
// buffer of that sensor (package agent/stream/reorder): readings up to
// StreamOptions.Lateness behind the newest of their sensor are put back in
// event-time order and released once the watermark passes them; a reading
// with the sensor and time of one seen before is a duplicate, dropped; a
// reading behind the watermark is late: with reorder.ScoreOnly it is scored
// by every model on a copy of the latest values, learned by none and never
// alerting, with reorder.Drop it is discarded. Flush (on a ticker) releases
// the readings of sensors quiet for StreamOptions.Idle; Drain releases
// everything, at shutdown. Stats counts late, dropped, duplicate and
// overflowing readings.
//
// Released readings are grouped by event time: each group updates the
// latest value of its sensors and makes one feature vector, the latest value
// of every sensor in sensor-name order (NaN for a sensor not heard from
// yet), followed by the derived signals (StreamOptions.Derived, package
// agent/stream/derive) the machine has every input of. With
// StreamOptions.Window the vector is instead the mean, rms, min, max and
// slope of each of those signals over event-time windows (package
// agent/stream/features), named like "vib_rms.mean", one vector per closed
// window, timed at its end. Every model of the machine scores the vector,
// which allocates nothing in steady state.
//
// # Roles
//
// Each machine has a champion, whose scores raise alerts; its learning twin,
// which starts from the same state and keeps adapting on the same stream;
// and up to MaxChallengers challengers scoring in shadow. At cold start (no
// saved or deployed state) the champion learns during a warm-up of WarmUp
// vectors: unconditionally for its first ScoreAfter vectors, then only from
// vectors scoring below Alert.Clear, so that it never learns a developing
// fault; then it is frozen (it scores without learning). The twin and the
// challengers learn every vector except those the champion is alarming on.
//
// Command applies a hub command between two vectors, on the pipeline's
// goroutine: deploy a snapshot (or a fresh model of a kind, tuned by
// Settings) as champion or challenger, roll back to the champion a deploy
// replaced, or remove a challenger. A deployed champion brings its own twin
// (a second instance from the same snapshot) and is frozen at once when it
// comes from a snapshot. A refused command returns a *Refused with the
// reason and changes nothing.
//
// # Alerts
//
// A champion model raises an alert when its score is at or above the
// threshold for Consecutive vectors in a row and the last alert of the
// machine was at least Cooldown ago (event time). The episode lasts until a
// score falls below Clear (hysteresis); an episode raises one alert only.
// The alert's Env.Time is the event time of the first vector of the run
// over the threshold. Its contributors are the model's own explanation
// (models.Explainer) or else the features' robust z against running median
// and mean absolute deviation (learned only from vectors the champion does
// not alarm on); its Message quotes the recent champion scores. OnAlarm
// follows the episodes (for a lamp).
//
// # Drift
//
// ADWIN watches each machine's champion score and a Page-Hinkley test each
// input feature (standardised by the scale of its first Drift.Baseline
// values). A drift is handed to the sink as a wire.Drift with the means
// before and after and the samples the evidence spans, at most once per
// Drift.MinGap of event time per machine.
//
// # Metrics
//
// Each model accumulates count, mean, max and last score, the vectors over
// its threshold, a histogram of its scores, its decisions paired with the
// champion's on the same vectors (both, only it, only the champion), and
// the mean scoring latency; EmitMetrics hands them to the Sink
// as one wire.Metrics and starts a new interval.
//
// A Pipeline is driven by one goroutine: Handle, Command, EmitMetrics,
// RestoreMachine, SetAlert and Models must not be called concurrently. Stats and Machines may be called
// from anywhere.
package pipeline
