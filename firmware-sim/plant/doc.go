// Package plant simulates a factory plant for Millwright: machines with
// physically plausible, correlated sensor signals, faults that develop over
// time with their ground truth, and a network that delays, reorders,
// duplicates and drops out.
//
// # Machines
//
// There are four machine types (MachineTypes): a centrifugal pump, an
// induction motor, an air compressor and a conveyor drive (motor, two-stage
// gearbox, drive pulley, belt on idlers; its current follows the material
// on the belt, its belt speed the pulley less the belt's slip).
//
// # Signals
//
// Every machine has a load in [0, 1] whose target moves every few minutes
// and which the machine follows with lag. Vibration RMS (mm/s), motor
// current (A), discharge pressure (bar), flow (m³/h), speed (rpm) and belt
// speed (m/s) follow the load; bearing temperature (°C) follows a
// load-dependent equilibrium above ambient with a thermal time constant,
// starting cold (warm-up is normal life). A machine with an environment
// sensor (Machine.AmbientSensor) also publishes the ambient temperature
// (ambient_temp, °C). Noise comes from a PCG stream per machine
// seeded from the scenario's seed and the machine's gateway and id, so
// adding a machine changes no other.
//
// # Raw vibration
//
// Each machine has a vibration waveform, the radial acceleration on its
// monitored bearing sampled at 1–5 kHz (default 3200 Hz): shaft harmonics
// 1x, 2x, 3x; for conveyors the gear mesh of each stage (teeth × shaft
// speed) with sidebands at the gear's speed; broadband noise; a worn
// bearing's impacts, repeating at the defect frequency its geometry gives
// (Bearing.Defects: BPFO, BPFI, BSF, FTF from the number of balls, the
// ball and pitch diameters and the contact angle), ringing the housing's
// resonance and, for inner-race and ball defects, modulated by the shaft
// or the cage; cavitation's high-frequency noise. Imbalance raises 1x,
// misalignment 2x. The waveform is scaled each tick so that its velocity
// RMS is the machine's vibration.
//
// With Scenario.Vibration.Frames on, every reading comes with a frame
// (default 1024 samples) from which the plant computes what a smart sensor
// publishes (AnalyzeFrame): vib_rms (velocity RMS, 10 Hz–1 kHz, from the
// spectrum), vib_peak, vib_kurtosis and vib_defect (envelope-spectrum
// energy at the defect frequencies). Off, vib_rms is the scalar model the
// frames are scaled to (cheaper: about 0.1 µs a machine-tick instead of
// 35 µs; the waveform alone costs about 16 ns a sample).
// NewVibrationSource plays a machine's waveform as a continuous stream,
// which the emulated ADXL345 of firmware-sim/chips plays through its FIFO
// (chips.StreamSignal).
//
// # Normal life
//
// Besides load changes and warm-up, Scenario.Life adds seasons (a yearly
// and a daily ambient cycle from the start date), shifts (a load factor
// per shift, 0 for closed) and weekends off; Machine.Stops makes a machine
// stop at random, coasting down and cooling, then start again with an
// inrush current. Its current falls to 0 the moment the contactor opens,
// while the shaft coasts, as a current relay sees a stop. None of it is a fault and none of it is labelled.
//
// # Faults and ground truth
//
// A fault starts at its onset, progresses (accelerating) over its ramp to
// failure, and stays failed until an optional repair. Physical faults
// (bearing wear, overheating, misalignment, imbalance, cavitation,
// clogging, and for conveyors belt slip and overload) change the physics;
// sensor faults (spike, stuck, dropout, sensor drift) change one sensor's
// report. Generator.Labels gives the ground truth with event-time windows;
// a bearing-wear label says where the defect is and its frequency.
// Generator.OutageLabels labels the network's outages (kind "outage",
// phase "offline", delivery "burst" or "lost") so that a scorer can leave
// them out; WriteLabels writes both as JSON and CSV.
//
// # Running
//
// Generator produces frames without I/O, as fast as asked, for tests and
// CSV export (ExportCSV). Run publishes them to an MQTT broker in
// (compressed) real time through the simulated network; Deliver gives the
// very same messages in the same order without a broker or a clock. Load
// drives a broker with many synthetic devices at a target rate and reports
// the rate achieved. Preset names the built-in scenarios: demo, e2e (the
// end-to-end tests) and bench (the detection benchmarks).
//
// Delivery order and bytes depend only on the scenario, its seed and the
// start time, never on the wall clock's pacing. Floating-point results are
// reproducible on one architecture; others may differ in the last bits.
package plant
