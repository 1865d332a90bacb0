package replay

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/models/skab"
)

func open(t testing.TB, name string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// readOut parses Run's output with encoding/csv.
func readOut(t *testing.T, b []byte, delim rune) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = delim
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, b)
	}
	return recs
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		opts     Options
		delim    rune
		rows     int
		skipped  int
		features string
		label    string
		warn     []string // lines reported as skipped
	}{
		{name: "comma rfc3339", file: "comma.csv", delim: ',', rows: 400, features: "a,b", label: "anomaly"},
		{name: "pick columns", file: "comma.csv", opts: Options{Columns: []string{"b"}}, delim: ',', rows: 400, features: "b", label: "anomaly"},
		{name: "ignore a feature", file: "comma.csv", opts: Options{Ignore: []string{"a"}}, delim: ',', rows: 400, features: "b", label: "anomaly"},
		{name: "semicolon with quoted field", file: "semicolon.csv", delim: ';', rows: 50, features: "flow", label: "label"},
		{name: "given delimiter", file: "semicolon.csv", opts: Options{Delimiter: ';'}, delim: ';', rows: 50, features: "flow", label: "label"},
		{name: "tab unix ms", file: "tab_unixms.csv", delim: '\t', rows: 40, features: "value"},
		{name: "malformed rows skipped", file: "malformed.csv", delim: ',', rows: 17, skipped: 3, features: "a,b",
			warn: []string{"line 6:", "line 10:", "line 13:"}},
		{name: "hst model", file: "comma.csv", opts: Options{Model: "hst"}, delim: ',', rows: 400, features: "a,b", label: "anomaly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, warn bytes.Buffer
			tt.opts.In, tt.opts.Out, tt.opts.Warn = open(t, tt.file), &out, &warn
			res, err := Run(t.Context(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != tt.rows || res.Skipped != tt.skipped || strings.Join(res.Features, ",") != tt.features || res.Label != tt.label {
				t.Errorf("result = %+v, want %d rows, %d skipped, features %s, label %q", res, tt.rows, tt.skipped, tt.features, tt.label)
			}
			for _, w := range tt.warn {
				if !strings.Contains(warn.String(), w) {
					t.Errorf("warnings lack %q:\n%s", w, warn.String())
				}
			}
			if got := strings.Count(warn.String(), "\n"); got != tt.skipped {
				t.Errorf("%d warning lines, want %d:\n%s", got, tt.skipped, warn.String())
			}
			in := readOut(t, mustRead(t, tt.file), tt.delim)
			recs := readOut(t, out.Bytes(), tt.delim)
			if want := append(slices.Clone(in[0]), "anomaly_score", "alert"); !slices.Equal(recs[0], want) {
				t.Fatalf("header = %q, want %q", recs[0], want)
			}
			if len(recs)-1 != tt.rows {
				t.Fatalf("%d output rows, want %d", len(recs)-1, tt.rows)
			}
			// Every output row is an input row, in order, plus its score,
			// which is what a fresh detector gives by test-then-train on
			// the rows before it.
			det, _, err := newModel(orDefault(tt.opts.Model), len(res.Features), 1)
			if err != nil {
				t.Fatal(err)
			}
			cols := featureIndexes(in[0], res.Features)
			j := 1
			x := make([]float64, len(cols))
			for _, rec := range recs[1:] {
				for j < len(in) && !slices.Equal(in[j], rec[:len(rec)-2]) {
					j++ // a skipped row
				}
				if j == len(in) {
					t.Fatalf("output row %q is not the next input row", rec)
				}
				for k, c := range cols {
					x[k] = num(in[j][c])
				}
				want := det.Update(x)
				got, _ := strconv.ParseFloat(rec[len(rec)-2], 64)
				if math.Abs(got-want) > 1e-6 {
					t.Fatalf("row %d: score %v, want %v", j, got, want)
				}
				if alert := rec[len(rec)-1]; alert != map[bool]string{true: "1", false: "0"}[want >= res.Threshold] {
					t.Fatalf("row %d: alert %s for score %v at threshold %v", j, alert, want, res.Threshold)
				}
				j++
			}
		})
	}
}

func orDefault(kind string) string {
	if kind == "" {
		return catalog.Default
	}
	return kind
}

func mustRead(t *testing.T, name string) []byte {
	b, err := io.ReadAll(open(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func featureIndexes(head, features []string) []int {
	var out []int
	for _, f := range features {
		out = append(out, slices.Index(head, f))
	}
	return out
}

func num(s string) float64 {
	if s == "" {
		return math.NaN()
	}
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		want  string
	}{
		{"empty", "", Options{}, "empty input"},
		{"header only", "a,b\n", Options{}, "no data rows"},
		{"no numeric column", "a,b\nx,y\n", Options{}, "no numeric feature"},
		{"unknown column", "a,b\n1,2\n", Options{Columns: []string{"c"}}, `--columns "c"`},
		{"label as feature", "a,label\n1,0\n", Options{Columns: []string{"label"}}, "label column"},
		{"unknown ignore", "a,b\n1,2\n", Options{Ignore: []string{"c"}}, `--ignore "c"`},
		{"unknown label", "a,b\n1,2\n", Options{Label: "c"}, `label column "c"`},
		{"repeated column", "a,a\n1,2\n", Options{}, "repeated"},
		{"unknown model", "a,b\n1,2\n", Options{Model: "nope"}, "unknown detector kind"},
		{"strict", "t,a\n1,2\n2,x\n", Options{Strict: true}, "line 3: column 2"},
		{"skab-pca without its columns", "a,b\n1,2\n", Options{Model: ModelSKABPCA}, "needs the SKAB columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.In, tt.opts.Out = strings.NewReader(tt.input), io.Discard
			_, err := Run(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	var me *MalformedError
	_, err := Run(t.Context(), Options{In: strings.NewReader("t,a\n1,2\n2,x\n"), Out: io.Discard, Strict: true})
	if !errors.As(err, &me) || me.Line != 3 {
		t.Errorf("strict error = %v, want a *MalformedError at line 3", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // Unix ms
	}{
		{"2026-01-02T03:04:05Z", 1767323045000},
		{"2026-01-02T03:04:05.5+00:00", 1767323045500},
		{"2026-01-02 03:04:05", 1767323045000},
		{"2026-01-02 03:04:05.250", 1767323045250},
		{"2026-01-02T03:04:05", 1767323045000},
		{"1767323045", 1767323045000},
		{"1767323045.5", 1767323045500},
		{"1767323045000", 1767323045000},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if err != nil || got.UnixMilli() != tt.want {
			t.Errorf("parseTime(%q) = %v (%d), %v; want %d", tt.in, got, got.UnixMilli(), err, tt.want)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("parseTime(yesterday) succeeded")
	}
}

func TestDetectDelimiter(t *testing.T) {
	for in, want := range map[string]rune{
		"a,b,c": ',', "a;b;c": ';', "a\tb": '\t', "a|b|c": '|', `"x;y",b,c`: ',', "single": ',',
	} {
		if got := detectDelimiter(in); got != want {
			t.Errorf("detectDelimiter(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEval(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(t.Context(), Options{In: open(t, "comma.csv"), Out: &out, Eval: true, Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Eval
	if e == nil {
		t.Fatal("no evaluation")
	}
	// The labelled fault (rows 300-309, a shifted by 8) is caught.
	if e.Points.Total() != 400 || e.Points.TP == 0 || e.Events.Windows != 1 || e.Events.Detected != 1 {
		t.Errorf("evaluation = %+v", e)
	}
	var rep bytes.Buffer
	PrintEval(&rep, res.Label, e)
	if !strings.Contains(rep.String(), "F1") || !strings.Contains(rep.String(), "1 anomaly windows, 1 detected") {
		t.Errorf("report:\n%s", rep.String())
	}
}

func TestMainWritesScoresAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	out, snap := filepath.Join(dir, "scores.csv"), filepath.Join(dir, "model.snap")
	var stdout, stderr bytes.Buffer
	err := Main(t.Context(), []string{"--in", filepath.Join("testdata", "comma.csv"), "--out", out, "--eval",
		"--snapshot-out", snap, "--model", "baseline"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"400 rows scored, 0 skipped", "against anomaly: F1", "snapshot of 400 samples"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot is ready to deploy: it restores to the trained model.
	det, err := catalog.Restore(b)
	if err != nil || det.Samples() != 400 {
		t.Fatalf("restore snapshot: %v (%v)", err, det)
	}
	if _, ok := det.(models.Snapshotter); !ok {
		t.Error("restored detector cannot snapshot")
	}
	if err := Main(t.Context(), []string{"--in", "x.csv"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("Main without --out = %v", err)
	}
}

// TestSKABValve1 replays a real SKAB file with the tuned PCA.
func TestSKABValve1(t *testing.T) {
	dir, err := skab.FindDir()
	if err != nil {
		t.Fatalf("SKAB data is needed for this test: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "valve1", "0.csv"))
	if err != nil {
		t.Fatalf("SKAB data is needed for this test: %v", err)
	}
	defer f.Close()
	var out bytes.Buffer
	res, err := Run(t.Context(), Options{In: f, Out: &out, Model: ModelSKABPCA, Eval: true, Ignore: []string{"changepoint"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 0 || res.Rows < 1000 || res.Eval == nil || res.Label != "anomaly" || len(res.Features) != 3 {
		t.Fatalf("result = %+v", res)
	}
	var rep bytes.Buffer
	PrintEval(&rep, res.Label, res.Eval)
	t.Logf("valve1/0.csv with %s: %s", ModelSKABPCA, rep.String())
	// The file holds one labelled fault; the tuned model finds it without
	// false alarms (its recall on single files is low: it alarms on the
	// onset, see models/skab).
	if e := res.Eval; e.Events.Windows < 1 || e.Events.Detected < 1 || e.Events.FalseAlarms > 1 || e.Points.Precision() < 0.5 {
		t.Errorf("evaluation %+v", e)
	}
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != res.Rows+1 {
		t.Errorf("%d output lines, want %d", n, res.Rows+1)
	}
}

func FuzzRun(f *testing.F) {
	for _, name := range []string{"comma.csv", "semicolon.csv", "malformed.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 400)])
	}
	f.Add([]byte("a;b\n\"1;2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		res, err := Run(t.Context(), Options{In: bytes.NewReader(b), Out: &out})
		if err != nil {
			return
		}
		// Whatever the input, the output is CSV with one row per scored row.
		recs, err := readAny(&out)
		if err != nil {
			t.Fatalf("output is not CSV: %v", err)
		}
		if len(recs) != res.Rows+1 {
			t.Errorf("%d output records for %d rows", len(recs), res.Rows)
		}
	})
}

func readAny(r io.Reader) ([][]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	h, _, _ := bytes.Cut(b, []byte("\n"))
	cr := csv.NewReader(bytes.NewReader(b))
	cr.Comma = detectDelimiter(string(h))
	cr.FieldsPerRecord = -1
	return cr.ReadAll()
}

// benchFile is a single-signal file of n rows.
func benchFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("timestamp,value\n")
	for i := range n {
		b.WriteString(strconv.FormatInt(1700000000+int64(i), 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(math.Sin(float64(i)/10)+float64(i%7)*0.01, 'f', 5, 64))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkReplay reports rows/s of a single-signal file with the baseline
// model and with the default champion kind.
func BenchmarkReplay(b *testing.B) {
	const rows = 100_000
	data := benchFile(rows)
	for _, model := range []string{"baseline", catalog.Default} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				res, err := Run(b.Context(), Options{In: bytes.NewReader(data), Out: io.Discard, Model: model})
				if err != nil || res.Rows != rows {
					b.Fatal(err, res.Rows)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestReplayAllocationsDoNotGrowWithRows: the per-row loop allocates
// nothing, so a file ten times longer costs no more allocations.
func TestReplayAllocationsDoNotGrowWithRows(t *testing.T) {
	allocs := func(n int) float64 {
		data := benchFile(n)
		return testing.AllocsPerRun(3, func() {
			if _, err := Run(t.Context(), Options{In: bytes.NewReader(data), Out: io.Discard, Model: "baseline"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// encoding/csv makes one string per record (the fields share it);
	// parsing, scoring and writing add nothing.
	small, large := allocs(2_000), allocs(20_000)
	if perRow := (large - small) / 18_000; perRow > 1.001 {
		t.Errorf("%v allocations for 2,000 rows, %v for 20,000: %.3f per row, want at most encoding/csv's 1", small, large, perRow)
	}
}
