// Package reorder puts the readings of each sensor back in event-time order.
//
// # Watermark
//
// A Buffer holds one sensor's readings sorted by event time. Its watermark is
// the greatest event time seen minus the allowed lateness; every reading at or
// before the watermark is released, in event-time order. A reading that
// arrives at or before the watermark (or before a reading already released)
// cannot be put in order any more: it is late, and the LatePolicy says what
// happens to it: ScoreOnly releases it at once with Item.Late set (a model
// may score it but should not learn from it), Drop discards it. Either way it
// is counted.
//
// # Duplicates
//
// A reading with the time of a buffered or recently released reading, or
// (when Seq is not zero) with the same sequence number, is a duplicate: it is
// dropped and counted. Recently released means the last Options.DedupWindow
// readings released. Seq must therefore be unique per reading of a sensor:
// wire's Envelope.Seq numbers messages, so pass it only when a message holds
// at most one reading per sensor, and 0 otherwise.
//
// # Bounds and idleness
//
// A Buffer never holds more than Options.MaxBuffered readings: one more
// forces the oldest out early (counted as Overflow). When a sensor goes
// quiet its last readings would wait for a watermark that never comes, so
// Flush, called periodically with the processing time, releases everything
// buffered once no reading has arrived for Options.Idle of processing time.
//
// # Allocation
//
// A Buffer allocates its ring once, in NewBuffer; Push, Flush and Drain append
// released readings to the caller's slice and allocate nothing when it has
// room. A Set allocates a Buffer the first time it sees a sensor.
//
// Buffers and Sets are not safe for concurrent use.
package reorder
