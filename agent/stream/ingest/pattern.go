package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// Route is what a topic says about its readings. Fields the pattern does
// not capture are empty. The strings share the topic's memory.
type Route struct {
	Site, Line, Asset, Sensor string
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelAny               // "+": any one level, not captured
	levelSite
	levelLine
	levelAsset
	levelSensor
	levelRest // "#": any number of trailing levels
)

type level struct {
	kind levelKind
	lit  string
}

// Pattern matches MQTT topics level by level, e.g.
// "plant/{site}/{line}/{asset}/{sensor}". A level is a literal, a capture
// ({site}, {line}, {asset} or {sensor}), "+" (any level), or "#" (the rest,
// last only).
type Pattern struct {
	src    string
	levels []level
}

// ParsePattern parses a topic pattern.
func ParsePattern(s string) (*Pattern, error) {
	if s == "" {
		return nil, errors.New("empty topic pattern")
	}
	p := &Pattern{src: s}
	seen := map[levelKind]bool{}
	parts := strings.Split(s, "/")
	for i, part := range parts {
		var l level
		switch part {
		case "+":
			l.kind = levelAny
		case "#":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("topic pattern %q: '#' must be the last level", s)
			}
			l.kind = levelRest
		case "{site}":
			l.kind = levelSite
		case "{line}":
			l.kind = levelLine
		case "{asset}":
			l.kind = levelAsset
		case "{sensor}":
			l.kind = levelSensor
		default:
			if strings.ContainsAny(part, "{}+#") {
				return nil, fmt.Errorf("topic pattern %q: level %q: want a literal, {site}, {line}, {asset}, {sensor}, + or #", s, part)
			}
			l = level{kind: levelLiteral, lit: part}
		}
		if l.kind >= levelSite && l.kind <= levelSensor {
			if seen[l.kind] {
				return nil, fmt.Errorf("topic pattern %q: %s captured twice", s, part)
			}
			seen[l.kind] = true
		}
		p.levels = append(p.levels, l)
	}
	return p, nil
}

// String returns the pattern as parsed.
func (p *Pattern) String() string { return p.src }

// Subscription returns the MQTT topic filter that covers the pattern:
// captures become "+".
func (p *Pattern) Subscription() string {
	var b strings.Builder
	for i, l := range p.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		switch l.kind {
		case levelLiteral:
			b.WriteString(l.lit)
		case levelRest:
			b.WriteByte('#')
		default:
			b.WriteByte('+')
		}
	}
	return b.String()
}

// capturesSensor reports whether the pattern captures the sensor.
func (p *Pattern) capturesSensor() bool {
	for _, l := range p.levels {
		if l.kind == levelSensor {
			return true
		}
	}
	return false
}

// Match reports whether topic matches and returns its captures, without
// allocating. A captured level must not be empty. As in MQTT, a trailing
// "#" also matches the parent level ("a/#" matches "a").
func (p *Pattern) Match(topic string) (Route, bool) {
	var r Route
	rest, done := topic, false
	for _, l := range p.levels {
		if l.kind == levelRest {
			return r, true
		}
		if done {
			return Route{}, false
		}
		part, tail, more := strings.Cut(rest, "/")
		if !p.set(&r, l, part) {
			return Route{}, false
		}
		rest, done = tail, !more
	}
	if !done {
		return Route{}, false
	}
	return r, true
}

func (p *Pattern) set(r *Route, l level, part string) bool {
	switch l.kind {
	case levelLiteral:
		return part == l.lit
	case levelAny:
		return true
	}
	if part == "" {
		return false
	}
	switch l.kind {
	case levelSite:
		r.Site = part
	case levelLine:
		r.Line = part
	case levelAsset:
		r.Asset = part
	case levelSensor:
		r.Sensor = part
	}
	return true
}
