package skab

import (
	"fmt"
	"math"
	"strings"

	"millwright/models"
	"millwright/models/pca"
)

// Cross-validation
//
// A setting tuned on SKAB and scored on SKAB is a best case. CrossValidate
// estimates what the tuning procedure itself achieves on data it has not
// seen: leave one group out (valve1, valve2, other: different faults), choose
// the setting (detector configuration and threshold) on the other groups
// alone, score the held-out group with it, and pool the held-out rows and
// changepoint windows of all three folds into one Result.

// Config is a detector configuration a cross-validation may choose, with
// the thresholds it may be run at.
type Config struct {
	Name       string
	New        func(dim int, seed uint64) models.Detector
	Thresholds []float64
}

// Fold is one held-out group's outcome.
type Fold struct {
	Group     string
	Config    string  // the configuration chosen on the other groups
	Threshold float64 // and its threshold
	Train     Result  // the choice on the other groups
	Test      Result  // the choice on the held-out group
}

// Choose is a cross-validation's selection rule: whether training result a
// beats b.
type Choose func(a, b Result) bool

// ConstrainedF1 is the issue's own criterion as a selection rule: a result
// within FAR ≤ 13.5% and MAR ≤ 28% beats one outside them; among results
// on the same side, the higher F1 wins.
func ConstrainedF1(a, b Result) bool {
	in := func(r Result) bool { return r.FAR() <= 0.135 && r.MAR() <= 0.28 }
	if in(a) != in(b) {
		return in(a)
	}
	return a.F1() > b.F1()
}

// MarginToTarget is a selection rule aimed at the target as a box
// rather than at its edge: the result whose worse bound is used less,
// max(FAR/13.5%, MAR/28%), wins. ConstrainedF1 picks the setting that
// just fits the bounds on the training groups, which a held-out group
// then breaks as often as not; this one picks the setting deepest inside
// them.
func MarginToTarget(a, b Result) bool {
	m := func(r Result) float64 { return max(r.FAR()/0.135, r.MAR()/0.28) }
	return m(a) < m(b)
}

// Group returns the group of a file (the directory of its Name).
func (f File) Group() string {
	g, _, _ := strings.Cut(f.Name, "/")
	return g
}

// CrossValidate runs leave-one-group-out cross-validation of configs over
// files with the selection rule better, and returns the folds (in Groups
// order) and the pooled held-out result.
func CrossValidate(files []File, configs []Config, better Choose) ([]Fold, Result, error) {
	if len(configs) == 0 {
		return nil, Result{}, fmt.Errorf("cross-validate: no configurations")
	}
	scored := make([]Scored, len(configs))
	for c, cfg := range configs {
		scored[c] = Score(files, cfg.New)
	}
	return CrossValidateScored(configs, scored, better)
}

// CrossValidateScored is CrossValidate on configurations already scored:
// scored[c] is Score(files, configs[c].New), all over the same files. A
// benchmark that scores a grid once can cross-validate it several ways.
func CrossValidateScored(configs []Config, scored []Scored, better Choose) ([]Fold, Result, error) {
	if len(configs) == 0 || len(scored) != len(configs) {
		return nil, Result{}, fmt.Errorf("cross-validate: %d configurations, %d scored", len(configs), len(scored))
	}
	files := scored[0].Files
	for c := range scored {
		if len(scored[c].Files) != len(files) {
			return nil, Result{}, fmt.Errorf("cross-validate: configuration %q scored %d files, want %d", configs[c].Name, len(scored[c].Files), len(files))
		}
	}
	// Per file, the configuration and threshold of its group's fold.
	pick := make([]int, len(files))
	threshold := make([]float64, len(files))
	var folds []Fold
	for _, g := range Groups {
		held := func(i int) bool { return files[i].Group() == g }
		var f Fold
		best := -1
		for c, cfg := range configs {
			train := scored[c].subset(func(i int) bool { return !held(i) })
			for _, th := range cfg.Thresholds {
				r := train.At(th)
				if best < 0 || better(r, f.Train) {
					best, f.Config, f.Threshold, f.Train = c, cfg.Name, th, r
				}
			}
		}
		if best < 0 {
			return nil, Result{}, fmt.Errorf("cross-validate: no thresholds to choose from")
		}
		f.Group = g
		f.Test = scored[best].subset(held).At(f.Threshold)
		if f.Test.Files == 0 {
			return nil, Result{}, fmt.Errorf("cross-validate: no files in group %s", g)
		}
		for i := range files {
			if held(i) {
				pick[i], threshold[i] = best, f.Threshold
			}
		}
		folds = append(folds, f)
	}
	pooled := Scored{Files: files, Scores: make([][]float64, len(files))}
	for i := range files {
		pooled.Scores[i] = scored[pick[i]].Scores[i]
	}
	return folds, pooled.Decide(func(i, _ int, s float64) bool { return s >= threshold[i] }), nil
}

func (s Scored) subset(keep func(int) bool) Scored {
	var out Scored
	for i := range s.Files {
		if keep(i) {
			out.Files = append(out.Files, s.Files[i])
			out.Scores = append(out.Scores, s.Scores[i])
		}
	}
	return out
}

// PCAGrid is the candidate set the cross-validated PCA chooses from, fixed
// before looking at held-out results: channel subsets (vibration and flow,
// without the thermal channels, all), prefilter and smoothing spans, T²
// or T² with Q, and control limits T²/k from 1.5 to 40 (as thresholds
// raw/(1+raw) on the uncalibrated score).
func PCAGrid() []Config {
	var ths []float64
	for r := 1.5; r <= 40; r *= 1.08 {
		ths = append(ths, r/(1+r))
	}
	return pcaGrid("", ths, func(f func(int, uint64) models.Detector) func(int, uint64) models.Detector { return f })
}

// RelativeGrid is PCAGrid's configurations with control limits relative to
// each file's own warm-up (Relative, default options): c times the largest
// statistic of warm-up rows 200–399, c from 0.5 to 20 (as thresholds
// c/(1+c)). Fixed, like PCAGrid, before looking at held-out results.
func RelativeGrid() []Config {
	var ths []float64
	for c := 0.5; c <= 20; c *= 1.06 {
		ths = append(ths, RelativeThreshold(c))
	}
	return pcaGrid("relative ", ths, func(f func(int, uint64) models.Detector) func(int, uint64) models.Detector {
		return Relative(RelativeOptions{}, f)
	})
}

func pcaGrid(prefix string, ths []float64, wrap func(func(int, uint64) models.Detector) func(int, uint64) models.Detector) []Config {
	channels := []struct {
		name string
		cols []int
	}{
		{"acc+flow", []int{0, 1, 7}},
		{"acc+flow+current", []int{0, 1, 2, 7}},
		{"no thermal", []int{0, 1, 2, 3, 6, 7}},
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7}},
	}
	var out []Config
	for _, ch := range channels {
		for _, pf := range []int{1, 5, 10} {
			for _, sm := range []int{10, 20, 40} {
				for _, st := range []int{pca.StatT2, pca.StatT2Q} {
					opt := PCAOptions()
					opt.Prefilter, opt.Smooth, opt.Statistic = pf, sm, st
					stat := "T²"
					if st == pca.StatT2Q {
						stat = "T²+Q"
					}
					out = append(out, Config{
						Name:       fmt.Sprintf("%s%s pf%d sm%d %s", prefix, ch.name, pf, sm, stat),
						New:        wrap(pcaFactory(ch.cols, opt)),
						Thresholds: ths,
					})
				}
			}
		}
	}
	return out
}

func pcaFactory(cols []int, opt pca.Options) func(int, uint64) models.Detector {
	return Select(cols, func(dim int, _ uint64) models.Detector {
		d, err := pca.New(dim, opt)
		if err != nil {
			panic("skab: pca grid options: " + err.Error()) // a programming error
		}
		return d
	})
}

// RawThreshold returns the control limit T²/k of a threshold on the
// uncalibrated score raw/(1+raw).
func RawThreshold(th float64) float64 {
	if th >= 1 {
		return math.Inf(1)
	}
	return th / (1 - th)
}

// RelativeLimits are the thresholds the median configuration chooses
// from: c times the warm-up reference, c from 1 to 20. A limit below the
// largest statistic of the healthy warm-up would alarm on the warm-up
// itself, so c < 1 is not offered.
func RelativeLimits() []float64 {
	var ths []float64
	for c := 1.0; c <= 20; c *= 1.06 {
		ths = append(ths, RelativeThreshold(c))
	}
	return ths
}

// MedianConfig is the median (Median) of RelativeGrid's detectors, with
// RelativeLimits: a single configuration, so that a cross-validation
// chooses only its threshold c.
func MedianConfig() Config {
	grid := RelativeGrid()
	fs := make([]func(int, uint64) models.Detector, len(grid))
	for i, g := range grid {
		fs[i] = g.New
	}
	return Config{Name: fmt.Sprintf("median of %d relative pca", len(grid)), New: Median(fs...), Thresholds: RelativeLimits()}
}
