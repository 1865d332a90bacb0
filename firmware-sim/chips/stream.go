package chips

import "math"

// Stream is a sampled acceleration signal, such as a simulated machine's
// raw vibration (firmware-sim/plant.VibrationSource).
type Stream interface {
	// SampleRate is the stream's samples per second.
	SampleRate() float64
	// Read fills p with the next samples, in m/s².
	Read(p []float64)
}

// StreamOpts say how a stream sits on the accelerometer's axes.
type StreamOpts struct {
	// Axis is the sensing axis the stream is on: 0 X (default), 1 Y, 2 Z.
	Axis int
	// Cross is the fraction of the stream the other two axes see (the
	// housing moves in more than one direction); default 0.
	Cross float64
	// Gravity is the static acceleration; zero means 1 g on Z.
	Gravity [3]float64
}

// StreamSignal plays s as an ADXL345 signal: the first call is sample 0
// and a call at t gets the sample due (t − t₀)·rate samples later, reading
// forward and discarding what the chip skipped. The chip's output data
// rate should equal the stream's (3200 Hz for the plant's default), so
// that every sample of the stream passes through the FIFO; a slower chip
// decimates (without filtering). Calls with a time before the last get the
// last sample. Like every source, it is called with the chip's lock held.
func StreamSignal(s Stream, o StreamOpts) func(t float64) [3]float64 {
	g := o.Gravity
	if g == ([3]float64{}) {
		g = [3]float64{0, 0, gravity}
	}
	rate := s.SampleRate()
	var (
		started bool
		t0      float64
		next    int64 // index of the next sample Read would return
		last    float64
		buf     = make([]float64, 256)
	)
	return func(t float64) [3]float64 {
		if !started {
			started, t0 = true, t
		}
		want := int64(math.Floor((t-t0)*rate + 1e-6))
		for next <= want {
			n := min(int64(len(buf)), want-next+1)
			s.Read(buf[:n])
			last = buf[n-1]
			next += n
		}
		out := g
		for i := range out {
			if i == o.Axis {
				out[i] += last
			} else {
				out[i] += o.Cross * last
			}
		}
		return out
	}
}
