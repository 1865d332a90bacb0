// Package plant simulates a factory plant for Millwright: machines with
// physically plausible, correlated sensor signals, faults that develop over
// time with their ground truth, and a network that delays, reorders,
// duplicates and drops out.
//
// # Signals
//
// Every machine has a load in [0, 1] whose target moves every few minutes
// and which the machine follows with lag. Vibration RMS (mm/s), motor
// current (A), discharge pressure (bar) and flow (m³/h) follow the load;
// bearing temperature (°C) follows a load-dependent equilibrium with a
// thermal time constant, starting cold (warm-up is normal life). Noise comes
// from a PCG stream per machine seeded from the scenario's seed and the
// machine's gateway and id, so adding a machine changes no other.
//
// # Faults and ground truth
//
// A fault starts at its onset, progresses (accelerating) over its ramp to
// failure, and stays failed until an optional repair. Physical faults
// (bearing wear, overheating, misalignment, imbalance, cavitation,
// clogging) change the physics; sensor faults (spike, stuck, dropout,
// sensor drift) change one sensor's report. Generator.Labels and
// WriteLabels give the ground truth with event-time windows.
//
// # Running
//
// Generator produces frames without I/O, as fast as asked, for tests and
// CSV export (ExportCSV). Run publishes them to an MQTT broker in
// (compressed) real time through the simulated network; Deliver gives the
// very same messages in the same order without a broker or a clock. Load
// drives a broker with many synthetic devices at a target rate and reports
// the rate achieved.
//
// Delivery order and bytes depend only on the scenario, its seed and the
// start time, never on the wall clock's pacing. Floating-point results are
// reproducible on one architecture; others may differ in the last bits.
package plant
