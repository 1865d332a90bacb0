package skab_test

import (
	"fmt"
	"strings"
	"testing"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/models/forecast"
	"millwright/models/pca"
	"millwright/models/skab"
)

// published is the SKAB v0.9 leaderboard (offline-trained models); NaN-free
// zero means "not published".
var published = []struct {
	name         string
	f1, far, mar float64
	changepoint  float64
}{
	{"Conv-AE", 0.78, 13.55, 28.0, 0},
	{"MSET", 0.78, 0, 0, 0},
	{"T²+Q (PCA)", 0.76, 0, 0, 25.4},
	{"LSTM-AE", 0.74, 0, 0, 0},
	{"T² (PCA)", 0.66, 0, 0, 0},
	{"Isolation Forest", 0.29, 0, 0, 26.2},
	{"MSCRED", 0, 0, 0, 32.4},
}

// CatalogThreshold is the calibrated threshold the catalog's detectors are
// benchmarked at: "rarer than 99% of what this detector has seen".
const catalogThreshold = 0.99

type entry struct {
	name      string
	new       func(int, uint64) models.Detector
	threshold float64
}

func entries(t *testing.T) []entry {
	var es []entry
	for _, kind := range catalog.Kinds() {
		es = append(es, entry{fmt.Sprintf("%s (catalog, th %.2f)", kind, catalogThreshold), func(dim int, seed uint64) models.Detector {
			d, err := catalog.New(kind, dim, seed)
			if err != nil {
				t.Fatalf("catalog.New(%q): %v", kind, err)
			}
			return d
		}, catalogThreshold})
	}
	es = append(es,
		entry{"pca defaults, 8 ch (th 0.99)", func(dim int, _ uint64) models.Detector {
			d, err := pca.New(dim, pca.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, 0.99},
		entry{"forecast defaults, 8 ch (th 0.99)", func(dim int, _ uint64) models.Detector {
			d, err := forecast.New(dim, forecast.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, 0.99},
		entry{"pca T², 6 ch no thermal (T²/k 4.5)", skab.Select([]int{0, 1, 2, 3, 6, 7}, func(dim int, _ uint64) models.Detector {
			d, err := pca.New(dim, skab.PCAOptions())
			if err != nil {
				t.Fatal(err)
			}
			return d
		}), 4.5 / 5.5},
		entry{"pca T², acc+flow (in-sample, T²/k 8)", skab.NewPCA, skab.PCAThreshold},
		entry{"always alarm", newConstant(1), 0.5},
		entry{"never alarm", newConstant(0), 0.5},
	)
	return es
}

// TestCrossValidatedPCA reports the honest estimate of the tuned pca:
// channels, filters, statistic and threshold chosen on two groups, scored
// on the third (see skab.CrossValidate). The target (F1 ≥ 0.80,
// FAR ≤ 13.5%, MAR ≤ 28%, NAB > 32.4) is logged, not asserted: out of
// sample it is not met (the "other" group needs a far higher threshold
// than the valve groups). It checks that the folds partition the files.
// Skipped with -short: it runs the detector grid over every file.
func TestCrossValidatedPCA(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-validation over the configuration grid skipped in -short mode")
	}
	fs := files(t)
	folds, cv := absCV.get(t, &absGrid, skab.PCAGrid, skab.ConstrainedF1)
	var rows uint64
	files := 0
	for _, f := range folds {
		t.Logf("held out %-7s: %s at T²/k %.2f → F1 %.3f FAR %.2f%% MAR %.2f%% NAB %.1f (on the other groups F1 %.3f FAR %.2f%% MAR %.2f%%)",
			f.Group, f.Config, skab.RawThreshold(f.Threshold), f.Test.F1(), 100*f.Test.FAR(), 100*f.Test.MAR(), f.Test.NAB[0],
			f.Train.F1(), 100*f.Train.FAR(), 100*f.Train.MAR())
		rows += f.Test.Rows.Total()
		files += f.Test.Files
		if f.Train.Files+f.Test.Files != len(fs) {
			t.Errorf("fold %s: %d training and %d held-out files of %d", f.Group, f.Train.Files, f.Test.Files, len(fs))
		}
	}
	if len(folds) != len(skab.Groups) || files != len(fs) || rows != cv.Rows.Total() {
		t.Errorf("%d folds over %d files and %d rows; pooled %d rows of %d files", len(folds), files, rows, cv.Rows.Total(), len(fs))
	}
	met := cv.F1() >= 0.80 && cv.FAR() <= 0.135 && cv.MAR() <= 0.28 && cv.NAB[0] > 32.4
	t.Logf("cross-validated pca: F1 %.3f FAR %.2f%% MAR %.2f%% NAB %.1f; target met: %v", cv.F1(), 100*cv.FAR(), 100*cv.MAR(), cv.NAB[0], met)
}

type honestRow struct {
	name, note, limit string
	r                 skab.Result
	folds             []skab.Fold
}

// honestRows are the leaderboard's rows whose settings were not chosen on
// the rows they score: cross-validated (leave one group out) or fixed a
// priori, and, for scale, the median's best limit in hindsight.
func honestRows(t *testing.T) []honestRow {
	var out []honestRow
	folds, r := absCV.get(t, &absGrid, skab.PCAGrid, skab.ConstrainedF1)
	out = append(out, honestRow{"pca grid pick, T²/k (cross-validated)", "72 configs × limit chosen per held-out group:", "T²/k", r, folds})
	folds, r = relCV.get(t, &relGrid, skab.RelativeGrid, skab.ConstrainedF1)
	out = append(out, honestRow{"pca grid pick, relative (cross-valid.)", "72 configs × c chosen per held-out group:", "c", r, folds})
	med := medianScored(t)
	mc := skab.MedianConfig()
	folds, r, err := skab.CrossValidateScored([]skab.Config{mc}, []skab.Scored{med}, skab.MarginToTarget)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, honestRow{"median relative (cross-validated)", "c alone chosen per held-out group (MarginToTarget):", "c", r, folds})
	out = append(out, honestRow{name: "median relative, c 1 (a priori)", note: "limit = the warm-up's largest statistic", r: med.At(skab.RelativeThreshold(1))})
	var best skab.Result
	var bc float64
	for i, th := range mc.Thresholds {
		if r := med.At(th); i == 0 || skab.MarginToTarget(r, best) {
			best, bc = r, skab.RawThreshold(th)
		}
	}
	out = append(out, honestRow{name: "median relative (in-sample c)", note: fmt.Sprintf("c %.2f chosen on all files (MarginToTarget): a best case", bc), r: best})
	return out
}

func row(r skab.Result) string {
	return fmt.Sprintf("F1 %.3f FAR %.2f%% MAR %.2f%% NAB %.1f", r.F1(), 100*r.FAR(), 100*r.MAR(), r.NAB[0])
}

// TestTunedPCA asserts the tuned pca beats the best published outlier row
// (Conv-AE: F1 0.78, FAR 13.55%, MAR 28.0%) on all three counts at once and
// the best published changepoint score (MSCRED 32.4).
func TestTunedPCA(t *testing.T) {
	best := skab.Score(files(t), skab.NewPCA).At(skab.PCAThreshold)
	t.Logf("tuned pca: F1 %.3f FAR %.2f%% MAR %.2f%% NAB %.1f", best.F1(), 100*best.FAR(), 100*best.MAR(), best.NAB[0])
	if !(best.F1() >= 0.80 && best.FAR() <= 0.135 && best.MAR() <= 0.28) {
		t.Errorf("tuned pca: F1 %.3f FAR %.1f%% MAR %.1f%%, want F1 ≥ 0.80 with FAR ≤ 13.5%% and MAR ≤ 28%%",
			best.F1(), 100*best.FAR(), 100*best.MAR())
	}
	if best.NAB[0] <= 32.4 {
		t.Errorf("tuned pca: changepoint NAB %.1f, want > 32.4 (MSCRED)", best.NAB[0])
	}
}

// TestLeaderboard runs every catalog detector and the pca configurations
// through the online protocol and prints the table beside the published
// one (go test -run TestLeaderboard -v ./models/skab/), with the always-
// and never-alarm rows for scale, then the honest rows (honestRows):
// cross-validated or fixed a priori, each labelled so. It is skipped with
// -short: the catalog's tree ensembles take a while under -race.
func TestLeaderboard(t *testing.T) {
	if testing.Short() {
		t.Skip("full leaderboard skipped in -short mode")
	}
	fs := files(t)
	var b strings.Builder
	fmt.Fprintf(&b, "\nSKAB v0.9, online protocol (warm-up %d rows, then test-then-train), %d files\n", skab.WarmUp, len(fs))
	fmt.Fprintf(&b, "%-40s %6s %7s %7s %8s %8s %8s | %s\n", "detector", "F1", "FAR%", "MAR%", "NAB std", "low FP", "low FN", "oracle: best-F1 threshold, F1 FAR% MAR%")
	results := map[string]skab.Result{}
	for _, e := range entries(t) {
		sc := skab.Score(fs, e.new)
		r := sc.At(e.threshold)
		results[e.name] = r
		// The threshold that would have been best in hindsight, for scale.
		var o skab.Result
		var oth float64
		for _, th := range []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999} {
			if x := sc.At(th); x.F1() > o.F1() {
				o, oth = x, th
			}
		}
		fmt.Fprintf(&b, "%-40s %6.3f %7.2f %7.2f %8.1f %8.1f %8.1f | %.3f %.3f %5.1f %5.1f\n", e.name, r.F1(), 100*r.FAR(), 100*r.MAR(), r.NAB[0], r.NAB[1], r.NAB[2],
			oth, o.F1(), 100*o.FAR(), 100*o.MAR())
	}
	// Settings chosen by leave-one-group-out cross-validation, never on
	// the group they are scored on, and the same detectors at a limit fixed
	// before any run.
	for _, h := range honestRows(t) {
		results[h.name] = h.r
		fmt.Fprintf(&b, "%-40s %6.3f %7.2f %7.2f %8.1f %8.1f %8.1f | %s\n", h.name, h.r.F1(), 100*h.r.FAR(), 100*h.r.MAR(), h.r.NAB[0], h.r.NAB[1], h.r.NAB[2], h.note)
		for _, f := range h.folds {
			fmt.Fprintf(&b, "    held out %-7s %-36s %s %5.2f: F1 %.3f FAR %5.2f MAR %5.2f NAB %5.1f\n",
				f.Group, f.Config, h.limit, skab.RawThreshold(f.Threshold), f.Test.F1(), 100*f.Test.FAR(), 100*f.Test.MAR(), f.Test.NAB[0])
		}
	}
	fmt.Fprintf(&b, "published (offline-trained):\n")
	for _, p := range published {
		cell := func(v float64, f string) string {
			if v == 0 {
				return "-"
			}
			return fmt.Sprintf(f, v)
		}
		fmt.Fprintf(&b, "%-40s %6s %7s %7s %8s\n", p.name, cell(p.f1, "%.2f"), cell(p.far, "%.2f"), cell(p.mar, "%.1f"), cell(p.changepoint, "%.1f"))
	}
	t.Log(b.String())
	for name, r := range results {
		if !(r.F1() >= 0 && r.F1() <= 1) || r.Rows.Total() == 0 {
			t.Errorf("%s: F1 %v over %d rows", name, r.F1(), r.Rows.Total())
		}
	}
}

// BenchmarkSKAB times one full protocol run of the tuned pca (34 files,
// about 37k rows).
func BenchmarkSKAB(b *testing.B) {
	fs := files(b)
	b.ReportAllocs()
	var r skab.Result
	for b.Loop() {
		r = skab.Score(fs, skab.NewPCA).At(skab.PCAThreshold)
	}
	b.ReportMetric(r.F1(), "F1")
	b.ReportMetric(100*r.FAR(), "FAR%")
	b.ReportMetric(100*r.MAR(), "MAR%")
	b.ReportMetric(r.NAB[0], "NAB")
}
