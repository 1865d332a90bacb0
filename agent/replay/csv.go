package replay

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"millwright/models/skab"
)

// header is the parsed header line.
type header struct {
	cols  []string
	delim rune
	lines int // lines it took
}

// MaxHeaderBytes bounds the header line.
const MaxHeaderBytes = 1 << 20

func readHeader(br *bufio.Reader, delim rune) (header, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxHeaderBytes {
			return header{}, fmt.Errorf("replay: header line longer than %d bytes", MaxHeaderBytes)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			break
		}
		if err == io.EOF {
			return header{}, errors.New("replay: empty input: want a header line")
		}
		if err != nil {
			return header{}, fmt.Errorf("replay: read header: %w", err)
		}
		break
	}
	s := strings.TrimPrefix(string(line), "\ufeff")
	s = strings.TrimRight(s, "\r\n")
	if delim == 0 {
		delim = detectDelimiter(s)
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delim
	cols, err := r.Read()
	if err != nil {
		return header{}, fmt.Errorf("replay: header: %w", err)
	}
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
		if cols[i] == "" {
			return header{}, fmt.Errorf("replay: header: column %d has no name", i+1)
		}
		if slices.Contains(cols[:i], cols[i]) {
			return header{}, fmt.Errorf("replay: header: column %q repeated", cols[i])
		}
	}
	return header{cols: cols, delim: delim, lines: 1}, nil
}

// detectDelimiter picks the candidate occurring most often outside quotes.
func detectDelimiter(s string) rune {
	best, bestN := ',', 0
	for _, d := range []rune{',', ';', '\t', '|'} {
		n, quoted := 0, false
		for _, c := range s {
			switch {
			case c == '"':
				quoted = !quoted
			case c == d && !quoted:
				n++
			}
		}
		if n > bestN {
			best, bestN = d, n
		}
	}
	return best
}

// layout says what each column is.
type layout struct {
	ncols     int
	tcol      int // time column, -1 for none
	label     int // label column, -1 for none
	labelName string
	never     []bool // columns that are never features
	feat      []int  // feature columns, in vector order
}

func isTimeName(s string) bool {
	switch strings.ToLower(s) {
	case "timestamp", "datetime", "time":
		return true
	}
	return false
}

func plan(h header, o Options) (*layout, error) {
	l := &layout{ncols: len(h.cols), tcol: -1, label: -1, never: make([]bool, len(h.cols))}
	index := func(name string) int { return slices.Index(h.cols, name) }
	for i, c := range h.cols {
		if isTimeName(c) && l.tcol < 0 {
			l.tcol = i
			l.never[i] = true
		}
	}
	for _, name := range o.Ignore {
		i := index(name)
		if i < 0 {
			return nil, fmt.Errorf("replay: --ignore %q: no such column (have %s)", name, strings.Join(h.cols, ", "))
		}
		l.never[i] = true
	}
	if o.Label != "" {
		l.label = index(o.Label)
		if l.label < 0 {
			return nil, fmt.Errorf("replay: label column %q: no such column", o.Label)
		}
	} else {
		for _, name := range DefaultLabels {
			for i, c := range h.cols {
				if l.label < 0 && strings.EqualFold(c, name) {
					l.label = i
				}
			}
		}
	}
	if l.label >= 0 {
		l.never[l.label] = true
		l.labelName = h.cols[l.label]
	}
	if len(o.Columns) == 0 && o.Model == ModelSKABPCA {
		var cols []string
		for _, c := range skab.PCAColumns {
			cols = append(cols, skab.Columns[c])
		}
		if slices.ContainsFunc(cols, func(c string) bool { return index(c) < 0 }) {
			return nil, fmt.Errorf("replay: model %s needs the SKAB columns %q or --columns", ModelSKABPCA, cols)
		}
		o.Columns = cols
	}
	for _, name := range o.Columns {
		i := index(name)
		switch {
		case i < 0:
			return nil, fmt.Errorf("replay: --columns %q: no such column (have %s)", name, strings.Join(h.cols, ", "))
		case l.never[i]:
			return nil, fmt.Errorf("replay: --columns %q is the time or a label column", name)
		}
		l.feat = append(l.feat, i)
	}
	return l, nil
}

// pickFeatures takes every numeric column of the first row as a feature
// when none were named.
func (l *layout) pickFeatures(first []string, o Options) error {
	if len(l.feat) == 0 {
		for i, v := range first {
			if i < l.ncols && !l.never[i] {
				if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					l.feat = append(l.feat, i)
				}
			}
		}
	}
	if len(l.feat) == 0 {
		return errors.New("replay: no numeric feature column in the first row (name them with --columns)")
	}
	return nil
}

func (l *layout) featureNames(cols []string) []string {
	out := make([]string, len(l.feat))
	for i, c := range l.feat {
		out[i] = cols[c]
	}
	return out
}

var errFields = errors.New("wrong number of fields")

// parse fills x from rec and returns the row's time and label. Row n
// without a time column is n seconds after the epoch.
func (l *layout) parse(rec []string, x []float64, n int) (time.Time, bool, error) {
	if len(rec) != l.ncols {
		return time.Time{}, false, fmt.Errorf("%w: %d, want %d", errFields, len(rec), l.ncols)
	}
	t := time.Unix(int64(n), 0)
	if l.tcol >= 0 {
		var err error
		if t, err = parseTime(rec[l.tcol]); err != nil {
			return t, false, err
		}
	}
	for i, c := range l.feat {
		s := strings.TrimSpace(rec[c])
		if s == "" {
			x[i] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return t, false, fmt.Errorf("column %d: %q is not a number", c+1, s)
		}
		x[i] = v
	}
	label := false
	if l.label >= 0 {
		s := strings.TrimSpace(rec[l.label])
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b, berr := strconv.ParseBool(s)
			if berr != nil {
				return t, false, fmt.Errorf("label %q: want 0/1 or true/false", s)
			}
			v = 0
			if b {
				v = 1
			}
		}
		label = v != 0 && !math.IsNaN(v)
	}
	return t, label, nil
}

// writer writes CSV rows without allocating: fields are quoted only when
// they must be, as encoding/csv does.
type writer struct {
	w     *bufio.Writer
	delim rune
	num   []byte
}

func newWriter(w io.Writer, delim rune) *writer {
	return &writer{w: bufio.NewWriterSize(w, 64<<10), delim: delim, num: make([]byte, 0, 32)}
}

func (w *writer) field(i int, s string) {
	if i > 0 {
		w.w.WriteRune(w.delim)
	}
	if !w.needsQuotes(s) {
		w.w.WriteString(s)
		return
	}
	w.w.WriteByte('"')
	for len(s) > 0 {
		j := strings.IndexByte(s, '"')
		if j < 0 {
			w.w.WriteString(s)
			break
		}
		w.w.WriteString(s[:j+1])
		w.w.WriteByte('"')
		s = s[j+1:]
	}
	w.w.WriteByte('"')
}

func (w *writer) needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' || s == `\.` {
		return true
	}
	return strings.ContainsRune(s, w.delim) || strings.ContainsAny(s, "\"\r\n")
}

func (w *writer) header(cols []string) {
	for i, c := range cols {
		w.field(i, c)
	}
	w.field(len(cols), "anomaly_score")
	w.field(len(cols)+1, "alert")
	w.w.WriteByte('\n')
}

func (w *writer) row(rec []string, score float64, alert bool) error {
	for i, f := range rec {
		w.field(i, f)
	}
	w.w.WriteRune(w.delim)
	w.num = strconv.AppendFloat(w.num[:0], score, 'f', 6, 64)
	w.w.Write(w.num)
	w.w.WriteRune(w.delim)
	if alert {
		w.w.WriteByte('1')
	} else {
		w.w.WriteByte('0')
	}
	return w.w.WriteByte('\n')
}

func (w *writer) flush() error { return w.w.Flush() }
