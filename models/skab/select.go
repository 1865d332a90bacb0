package skab

import (
	"math"

	"millwright/models"
)

// Select wraps a detector factory so that the detector sees only the given
// columns of each vector, in that order (for example the vibration and flow
// channels). It copies into a buffer of its own: no allocation per vector.
func Select(cols []int, newDetector func(dim int, seed uint64) models.Detector) func(dim int, seed uint64) models.Detector {
	return func(dim int, seed uint64) models.Detector {
		return &selected{Detector: newDetector(len(cols), seed), cols: cols, buf: make([]float64, len(cols))}
	}
}

type selected struct {
	models.Detector
	cols []int
	buf  []float64
}

func (s *selected) pick(x []float64) []float64 {
	for i, c := range s.cols {
		if c < len(x) {
			s.buf[i] = x[c]
		} else {
			s.buf[i] = nan
		}
	}
	return s.buf
}

var nan = math.NaN()

func (s *selected) Update(x []float64) float64 { return s.Detector.Update(s.pick(x)) }
func (s *selected) Score(x []float64) float64  { return s.Detector.Score(s.pick(x)) }
