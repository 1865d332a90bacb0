package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxResponseSize bounds a query answer read into memory.
const MaxResponseSize = 32 << 20

// Querier reads from InfluxDB with InfluxQL through the 1.x /query
// endpoint (the Go client's query API speaks only Flux).
type Querier struct {
	url, db, rp, user, pass string
	hc                      *http.Client
}

// NewQuerier returns a Querier for the database of opts (URL, Database,
// RetentionPolicy, Username, Password and WriteTimeout, used as the query
// timeout, are read).
func NewQuerier(opts Options) *Querier {
	timeout := opts.WriteTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Querier{url: strings.TrimSuffix(opts.URL, "/"), db: opts.Database, rp: opts.RetentionPolicy,
		user: opts.Username, pass: opts.Password, hc: &http.Client{Timeout: timeout}}
}

// Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns"`
	// Values are rows of json.Number, string, bool or nil, one per column;
	// the "time" column is in Unix nanoseconds.
	Values [][]any `json:"values"`
}

// Column returns the index of column name, or -1.
func (s *Series) Column(name string) int {
	for i, c := range s.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// QueryError is an error InfluxDB reported for a statement.
type QueryError struct {
	Statement int
	Msg       string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("influxql statement %d: %s", e.Statement, e.Msg)
}

// Query runs one InfluxQL query and returns the series of its result.
func (q *Querier) Query(ctx context.Context, influxql string) ([]Series, error) {
	form := url.Values{"q": {influxql}, "db": {q.db}, "epoch": {"ns"}}
	if q.rp != "" {
		form.Set("rp", q.rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if q.user != "" || q.pass != "" {
		req.SetBasicAuth(q.user, q.pass)
	}
	resp, err := q.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("influx query: read answer: %w", err)
	}
	if len(body) > MaxResponseSize {
		return nil, fmt.Errorf("influx query: answer over %d bytes", MaxResponseSize)
	}
	series, err := decodeResult(body)
	if err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("influx query: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("influx query: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influx query: %s", resp.Status)
	}
	return series, nil
}

// decodeResult parses a /query answer for one statement.
func decodeResult(body []byte) ([]Series, error) {
	var r struct {
		Results []struct {
			StatementID int      `json:"statement_id"`
			Series      []Series `json:"series"`
			Error       string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if r.Error != "" {
		return nil, &QueryError{Msg: r.Error}
	}
	var out []Series
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, &QueryError{Statement: res.StatementID, Msg: res.Error}
		}
		out = append(out, res.Series...)
	}
	for i := range out {
		for _, row := range out[i].Values {
			if len(row) != len(out[i].Columns) {
				return nil, errors.New("decode answer: row and columns differ in length")
			}
		}
	}
	return out, nil
}

// ScorePoint is one bucket of a machine's score chart.
type ScorePoint struct {
	Time      time.Time `json:"time"`
	ScoreMean *float64  `json:"score_mean"` // nil for an empty bucket
	ScoreMax  *float64  `json:"score_max"`
	Alerts    int64     `json:"alerts"`
	Count     int64     `json:"count"`
}

// ModelScores is one model's score chart on one machine.
type ModelScores struct {
	Model  string       `json:"model"`
	Role   string       `json:"role"`
	Points []ScorePoint `json:"points"`
}

// MachineScores returns, per model, the mean and max score, alert count and
// vectors scored in buckets of every over [from, to), for a chart.
func (q *Querier) MachineScores(ctx context.Context, gw, machine string, from, to time.Time, every time.Duration) ([]ModelScores, error) {
	if every <= 0 {
		return nil, errors.New("influx: bucket width must be positive")
	}
	stmt := fmt.Sprintf(`SELECT mean("score_mean"), max("score_max"), sum("alerts"), sum("count") FROM %s `+
		`WHERE "gateway" = %s AND "machine" = %s AND time >= %d AND time < %d `+
		`GROUP BY time(%s), "model", "role" fill(none)`,
		QuoteIdent(MeasurementModel), QuoteString(gw), QuoteString(machine), from.UnixNano(), to.UnixNano(), durationLiteral(every))
	series, err := q.Query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	out := make([]ModelScores, 0, len(series))
	for _, s := range series {
		ms := ModelScores{Model: s.Tags["model"], Role: s.Tags["role"], Points: make([]ScorePoint, 0, len(s.Values))}
		for _, row := range s.Values {
			if len(row) < 5 {
				return nil, errors.New("influx: short row in score answer")
			}
			t, _ := intOf(row[0])
			p := ScorePoint{Time: time.Unix(0, t).UTC(), ScoreMean: floatOf(row[1]), ScoreMax: floatOf(row[2])}
			p.Alerts, _ = intOf(row[3])
			p.Count, _ = intOf(row[4])
			ms.Points = append(ms.Points, p)
		}
		out = append(out, ms)
	}
	return out, nil
}

// AlertBucket counts the alerts of one severity that started in a bucket.
type AlertBucket struct {
	Time     time.Time `json:"time"`
	Severity string    `json:"severity"`
	Count    int64     `json:"count"`
}

// AlertCounts returns the fleet's alerts per severity in buckets of every
// over [from, to), oldest first; gw, when not empty, narrows it to one
// gateway.
func (q *Querier) AlertCounts(ctx context.Context, gw string, from, to time.Time, every time.Duration) ([]AlertBucket, error) {
	if every <= 0 {
		return nil, errors.New("influx: bucket width must be positive")
	}
	where := fmt.Sprintf(`time >= %d AND time < %d`, from.UnixNano(), to.UnixNano())
	if gw != "" {
		where += ` AND "gateway" = ` + QuoteString(gw)
	}
	series, err := q.Query(ctx, fmt.Sprintf(`SELECT sum("n") FROM %s WHERE %s GROUP BY time(%s), "severity" fill(none)`,
		QuoteIdent(MeasurementAlert), where, durationLiteral(every)))
	if err != nil {
		return nil, err
	}
	var out []AlertBucket
	for _, s := range series {
		for _, row := range s.Values {
			if len(row) < 2 {
				return nil, errors.New("influx: short row in alert answer")
			}
			t, _ := intOf(row[0])
			n, _ := intOf(row[1])
			out = append(out, AlertBucket{Time: time.Unix(0, t).UTC(), Severity: s.Tags["severity"], Count: n})
		}
	}
	slices.SortStableFunc(out, func(a, b AlertBucket) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func intOf(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		return int64(f), ferr == nil
	}
	return i, true
}

func floatOf(v any) *float64 {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil
	}
	return &f
}

// QuoteIdent quotes an InfluxQL identifier.
func QuoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// QuoteString quotes an InfluxQL string literal.
func QuoteString(s string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'`
}

// durationLiteral writes d as an InfluxQL duration in the largest exact unit.
func durationLiteral(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "u"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}
