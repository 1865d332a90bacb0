// Package replay scores a recorded CSV file offline with the agent's
// models, row by row in file order, exactly as the agent would have scored
// it live: each row is scored against what was learned from the rows before
// it, then learned (test-then-train through models.Detector.Update).
//
// # Input
//
// The delimiter is detected from the header line (comma, semicolon, tab or
// pipe, whichever occurs most) unless given. A column named timestamp,
// datetime or time (any case) is the row's time, in RFC 3339, "2006-01-02
// 15:04:05" (optionally with fractional seconds or a T), or Unix seconds or
// milliseconds. Every other column whose first value is numeric is a
// feature, unless Columns picks some; label columns (Label, Ignore, and the
// default label names anomaly, label, is_anomaly) never are. An empty
// feature value is a missing reading (NaN, which the detectors skip).
//
// A row with the wrong number of fields, a feature that is not a number or
// a time that cannot be read is malformed: it is reported with its line
// number and skipped, or ends the run when Strict is set.
//
// # Output
//
// One row per good input row, in order: the input fields, then
// anomaly_score and alert (1 when the score is at or over the threshold).
// The file is streamed: memory does not grow with its length, and the
// scoring loop allocates nothing per row.
package replay

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/models/eval"
	"millwright/models/pca"
	"millwright/models/skab"
)

// ModelSKABPCA names the PCA detector tuned for the SKAB pump data
// (models/skab): pca with skab.PCAOptions and threshold skab.PCAThreshold,
// on the SKAB vibration and flow columns when Columns picks none.
const ModelSKABPCA = "skab-pca"

// DefaultThreshold is the agent's default alert threshold.
const DefaultThreshold = 0.99

// DefaultLabels are the label column names looked for when Label is empty.
var DefaultLabels = []string{"anomaly", "label", "is_anomaly"}

// Options tune Run. In and Out are required; the zero value of every other
// field works.
type Options struct {
	In  io.Reader
	Out io.Writer
	// Warn receives one line per malformed row (default: discarded).
	Warn io.Writer

	// Model is a catalog kind or ModelSKABPCA; default catalog.Default.
	Model string
	// Detector, when set, is used instead of a fresh model of Model: one
	// restored from a snapshot to continue learning, or a test's. It must
	// take vectors of the file's feature count.
	Detector models.Detector
	// Seed seeds the detector's random choices (default 1).
	Seed uint64
	// Threshold decides alert; 0 means the model's own (skab-pca) or
	// DefaultThreshold.
	Threshold float64
	// Columns, when set, are the feature columns, in this order.
	Columns []string
	// Ignore names columns that are never features (labels, ids).
	Ignore []string
	// Label is the label column for Eval; default the first of
	// DefaultLabels present.
	Label string
	// Delimiter of the input; 0 detects it from the header line.
	Delimiter rune
	// Strict makes a malformed row an error.
	Strict bool
	// Eval scores the alerts against the label column.
	Eval bool
}

// Result is what a run did.
type Result struct {
	Rows      int      // rows scored
	Skipped   int      // malformed rows skipped
	Alerts    int      // rows with alert = 1
	Features  []string // feature columns, in vector order
	Label     string   // label column, "" when none
	Threshold float64
	// Eval is set when Options.Eval was and a label column exists.
	Eval *Evaluation
	// Detector is the model after the last row, for a snapshot.
	Detector models.Detector
}

// Evaluation is the accuracy of the alerts against the labels.
type Evaluation struct {
	Points eval.Confusion
	Events eval.EventStats
}

// MalformedError is a malformed row in strict mode.
type MalformedError struct {
	Line int
	Err  error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

// newModel builds the detector and its default threshold.
func newModel(kind string, dim int, seed uint64) (models.Detector, float64, error) {
	if kind == ModelSKABPCA {
		d, err := pca.New(dim, skab.PCAOptions())
		if err != nil {
			return nil, 0, fmt.Errorf("new %s detector: %w", kind, err)
		}
		return d, skab.PCAThreshold, nil
	}
	d, err := catalog.New(kind, dim, seed)
	return d, DefaultThreshold, err
}

// Run reads opts.In to the end and writes the scored rows to opts.Out.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.In == nil || opts.Out == nil {
		return Result{}, errors.New("replay: In and Out are required")
	}
	if opts.Model == "" {
		opts.Model = catalog.Default
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Warn == nil {
		opts.Warn = io.Discard
	}
	br := bufio.NewReaderSize(opts.In, 64<<10)
	head, err := readHeader(br, opts.Delimiter)
	if err != nil {
		return Result{}, err
	}
	lay, err := plan(head, opts)
	if err != nil {
		return Result{}, err
	}
	rd := csv.NewReader(br)
	rd.Comma = head.delim
	rd.ReuseRecord = true
	rd.FieldsPerRecord = -1 // checked here, to report and skip
	rd.LazyQuotes = false

	res := Result{Label: lay.labelName}
	var det models.Detector
	x := make([]float64, 0, 16)
	var first []string // the first data row, to pick numeric columns
	rec, line, err := nextRecord(rd, head.lines)
	if err == io.EOF {
		return res, fmt.Errorf("replay: no data rows after the header")
	}
	if err != nil {
		return res, err
	}
	first = slices.Clone(rec)
	if err := lay.pickFeatures(first, opts); err != nil {
		return res, err
	}
	res.Features = lay.featureNames(head.cols)
	det, thr := opts.Detector, DefaultThreshold
	if det == nil {
		if det, thr, err = newModel(opts.Model, len(lay.feat), opts.Seed); err != nil {
			return res, err
		}
	}
	if opts.Threshold > 0 {
		thr = opts.Threshold
	}
	res.Threshold, res.Detector = thr, det
	x = slices.Grow(x, len(lay.feat))[:len(lay.feat)]

	w := newWriter(opts.Out, head.delim)
	w.header(head.cols)
	var conf eval.Confusion
	var events eval.Events
	doEval := opts.Eval && lay.label >= 0
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		if n > 0 {
			rec, line, err = nextRecord(rd, head.lines)
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					return res, err
				}
				if err := skip(&res, opts, pe.Line+head.lines, pe.Err); err != nil {
					return res, err
				}
				continue
			}
		}
		t, lbl, err := lay.parse(rec, x, n)
		if err != nil {
			if err := skip(&res, opts, line, err); err != nil {
				return res, err
			}
			continue
		}
		v := det.Update(x)
		if !(v >= 0) {
			v = 0
		}
		alarm := v >= thr
		res.Rows++
		if alarm {
			res.Alerts++
		}
		if doEval {
			conf.Add(lbl, alarm)
			events.Add(t, lbl, alarm)
		}
		if err := w.row(rec, v, alarm); err != nil {
			return res, fmt.Errorf("replay: write: %w", err)
		}
	}
	if err := w.flush(); err != nil {
		return res, fmt.Errorf("replay: write: %w", err)
	}
	if doEval {
		res.Eval = &Evaluation{Points: conf, Events: events.Stats()}
	}
	return res, nil
}

func nextRecord(rd *csv.Reader, headLines int) ([]string, int, error) {
	rec, err := rd.Read()
	if err != nil {
		return nil, 0, err
	}
	line, _ := rd.FieldPos(0)
	return rec, line + headLines, nil
}

func skip(res *Result, opts Options, line int, err error) error {
	if opts.Strict {
		return &MalformedError{Line: line, Err: err}
	}
	res.Skipped++
	fmt.Fprintf(opts.Warn, "line %d: skipped: %v\n", line, err)
	return nil
}

// parseTime reads a timestamp in the formats the package comment lists.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.Abs(f) >= 1e11 { // milliseconds: 1e11 s is the year 5138
			return time.UnixMilli(int64(f)).UTC(), nil
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339, 2006-01-02 15:04:05 or Unix seconds/milliseconds", s)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02",
}
