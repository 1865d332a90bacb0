package skab

import (
	"slices"

	"millwright/models"
)

// Median combines detectors by the median of their scores, a robust
// alternative to choosing one configuration from a grid: the choice among
// many similar configurations, made on two groups of SKAB, is mostly noise
// on the third, while the median of their relative scores (Relative) needs
// no choice at all, and one threshold remains to be set. Every child
// scores and learns every vector. It allocates only at construction.
func Median(newDetectors ...func(dim int, seed uint64) models.Detector) func(dim int, seed uint64) models.Detector {
	return func(dim int, seed uint64) models.Detector {
		m := &median{kids: make([]models.Detector, len(newDetectors)), buf: make([]float64, len(newDetectors))}
		for i, f := range newDetectors {
			m.kids[i] = f(dim, seed)
		}
		return m
	}
}

type median struct {
	kids []models.Detector
	buf  []float64
	n    uint64
}

func (m *median) Kind() string    { return "median" }
func (m *median) Samples() uint64 { return m.n }

func (m *median) Update(x []float64) float64 {
	m.n++
	for i, k := range m.kids {
		m.buf[i] = k.Update(x)
	}
	return medianOf(m.buf)
}

func (m *median) Score(x []float64) float64 {
	for i, k := range m.kids {
		m.buf[i] = k.Score(x)
	}
	return medianOf(m.buf)
}

// medianOf sorts v in place; the median of an even count is the mean of
// the middle two. NaN scores sort first.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// MedianScored is Median over already scored configurations of the same
// files: row by row the median of their scores, what Median's detector
// returns. It lets a benchmark that has scored a grid once reuse it.
func MedianScored(grid []Scored) Scored {
	if len(grid) == 0 {
		return Scored{}
	}
	out := Scored{Files: grid[0].Files, Scores: make([][]float64, len(grid[0].Scores))}
	buf := make([]float64, len(grid))
	for i := range out.Scores {
		out.Scores[i] = make([]float64, len(grid[0].Scores[i]))
		for j := range out.Scores[i] {
			for c := range grid {
				buf[c] = grid[c].Scores[i][j]
			}
			out.Scores[i][j] = medianOf(buf)
		}
	}
	return out
}
