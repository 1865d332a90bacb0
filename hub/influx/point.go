package influx

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// Measurements written by the hub.
const (
	// MeasurementModel holds one point per model per machine per metrics
	// interval. Tags: gateway, machine, model, role. Fields: count,
	// score_mean, score_max, score_last, alerts, samples, latency_ns,
	// threshold, interval_ns.
	MeasurementModel = "model_metrics"
	// MeasurementAlert holds one point per alert at its start time. Tags:
	// gateway, machine, model, severity. Fields: id, score, threshold, n (1).
	MeasurementAlert = "alerts"
	// MeasurementDrift holds one point per drift event. Tags: detector,
	// gateway, machine, model, role, signal. Fields: before, after, samples.
	MeasurementDrift = "drift"
)

// Tag is one tag of a point. A tag with an empty value is left out.
type Tag struct{ Key, Value string }

type fieldKind uint8

const (
	kindFloat fieldKind = iota
	kindInt
	kindString
)

// Field is one field of a point; build it with Float, Int or String.
type Field struct {
	Key  string
	kind fieldKind
	f    float64
	i    int64
	s    string
}

// Float is a float field. NaN and ±Inf cannot be written: such a field is
// left out of its point and counted as rejected.
func Float(key string, v float64) Field { return Field{Key: key, kind: kindFloat, f: v} }

// Int is an integer field.
func Int(key string, v int64) Field { return Field{Key: key, kind: kindInt, i: v} }

// String is a string field.
func String(key, v string) Field { return Field{Key: key, kind: kindString, s: v} }

// Point is one InfluxDB point. Tags should be sorted by key (InfluxDB's
// preferred order); the builders of this package sort them.
type Point struct {
	Measurement string
	Tags        []Tag
	Fields      []Field
	Time        time.Time
}

// errPoint is why a point cannot be encoded at all.
var errPoint = errors.New("point cannot be written")

// appendLine encodes p as one line of line protocol with a trailing
// newline. It skips non-finite float fields, counting them in rejected,
// and fails (leaving b as it was) when no field is left or a name is
// empty or holds a newline.
func appendLine(b []byte, p *Point, rejected *int) ([]byte, error) {
	start := len(b)
	if p.Measurement == "" || badName(p.Measurement) {
		return b, errPoint
	}
	b = appendEscaped(b, p.Measurement, ", ")
	for i := range p.Tags {
		t := &p.Tags[i]
		if t.Value == "" {
			continue
		}
		if t.Key == "" || badName(t.Key) || badName(t.Value) {
			return b[:start], errPoint
		}
		b = append(b, ',')
		b = appendEscaped(b, t.Key, ", =")
		b = append(b, '=')
		b = appendEscaped(b, t.Value, ", =")
	}
	sep := byte(' ')
	n := 0
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.kind == kindFloat && (math.IsNaN(f.f) || math.IsInf(f.f, 0)) {
			*rejected++
			continue
		}
		if f.Key == "" || badName(f.Key) {
			return b[:start], errPoint
		}
		b = append(b, sep)
		sep = ','
		b = appendEscaped(b, f.Key, ", =")
		b = append(b, '=')
		switch f.kind {
		case kindFloat:
			b = strconv.AppendFloat(b, f.f, 'g', -1, 64)
		case kindInt:
			b = strconv.AppendInt(b, f.i, 10)
			b = append(b, 'i')
		case kindString:
			b = append(b, '"')
			b = appendEscaped(b, f.s, `"\`)
			b = append(b, '"')
		}
		n++
	}
	if n == 0 {
		return b[:start], errPoint
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time.UnixNano(), 10)
	return append(b, '\n'), nil
}

// badName reports names line protocol cannot carry: newlines, and a
// trailing backslash that would escape the separator after it.
func badName(s string) bool {
	return strings.ContainsAny(s, "\n\r") || strings.HasSuffix(s, `\`)
}

// appendEscaped appends s with a backslash before every byte of special.
func appendEscaped(b []byte, s, special string) []byte {
	if !strings.ContainsAny(s, special) {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return b
}

// scratch builds points without allocating once its slices have grown.
type scratch struct {
	p Point
}

func (s *scratch) reset(measurement string, t time.Time) *Point {
	s.p.Measurement, s.p.Time = measurement, t
	s.p.Tags, s.p.Fields = s.p.Tags[:0], s.p.Fields[:0]
	return &s.p
}

// modelPoint fills s with one series of a metrics message.
func (s *scratch) modelPoint(gw string, t time.Time, intervalNs int64, m *wire.ModelMetric) *Point {
	p := s.reset(MeasurementModel, t)
	p.Tags = append(p.Tags, Tag{"gateway", gw}, Tag{"machine", m.Machine}, Tag{"model", m.Model}, Tag{"role", m.Role})
	p.Fields = append(p.Fields,
		Int("alerts", int64(m.Alerts)), Int("count", int64(m.Count)), Int("interval_ns", intervalNs),
		Int("latency_ns", m.LatencyNs), Int("samples", int64(m.Samples)),
		Float("score_last", m.ScoreLast), Float("score_max", m.ScoreMax), Float("score_mean", m.ScoreMean),
		Float("threshold", m.Threshold))
	return p
}

func (s *scratch) alertPoint(a *store.Alert) *Point {
	p := s.reset(MeasurementAlert, a.Start)
	p.Tags = append(p.Tags, Tag{"gateway", a.Gateway}, Tag{"machine", a.Machine}, Tag{"model", a.Model}, Tag{"severity", a.Severity})
	p.Fields = append(p.Fields, String("id", a.ID), Int("n", 1), Float("score", a.Score), Float("threshold", a.Threshold))
	return p
}

func (s *scratch) driftPoint(gw string, d *wire.Drift) *Point {
	p := s.reset(MeasurementDrift, time.Unix(0, d.Env.Time))
	p.Tags = append(p.Tags, Tag{"detector", d.Detector}, Tag{"gateway", gw}, Tag{"machine", d.Machine},
		Tag{"model", d.Model}, Tag{"role", d.Role}, Tag{"signal", d.Signal})
	p.Fields = append(p.Fields, Float("after", d.After), Float("before", d.Before), Int("samples", int64(d.Samples)))
	return p
}

// StoredPoint is the model_metrics point of a metric point read back from
// the store, for backfill: the same series and time as the live point.
func StoredPoint(gw, machine string, m *store.MetricPoint) Point {
	var s scratch
	p := s.modelPoint(gw, m.Time, m.Interval, &wire.ModelMetric{
		Machine: machine, Model: m.Model, Role: m.Role, Count: uint64(m.Count), ScoreMean: m.ScoreMean,
		ScoreMax: m.ScoreMax, ScoreLast: m.ScoreLast, Alerts: uint64(m.Alerts), Samples: uint64(m.Samples),
		LatencyNs: m.LatencyNs, Threshold: m.Threshold,
	})
	return *p
}

// AlertPoint is the alerts point of a stored alert.
func AlertPoint(a *store.Alert) Point {
	var s scratch
	return *s.alertPoint(a)
}
