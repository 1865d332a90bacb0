package routing

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"millwright/internal/conf"
	"millwright/wire"
)

// Channel kinds.
const (
	// KindInbox is the hub's technician inbox: the alerts the store
	// already holds and the UI lists. Routing to it only counts.
	KindInbox = "inbox"
	// KindWebhook POSTs JSON with a "text" field, as chat tools' incoming
	// webhooks expect, retrying with exponential backoff.
	KindWebhook = "webhook"
	// KindMQTT publishes JSON to a topic, for shop-floor displays.
	KindMQTT = "mqtt"
)

// Config is the routing section of the hub configuration.
type Config struct {
	Channels []ChannelConfig `yaml:"channels"`
	Rules    []Rule          `yaml:"rules"`
}

// ChannelConfig is one destination.
type ChannelConfig struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"` // inbox, webhook or mqtt
	// URL is the webhook's address (webhook only).
	URL string `yaml:"url"`
	// Topic is where to publish (mqtt only). {gateway}, {machine}, {site},
	// {line} and {severity} are replaced by the alert's values.
	Topic    string `yaml:"topic"`
	QoS      byte   `yaml:"qos"`
	Retained bool   `yaml:"retained"`
}

// Match selects alerts. Each non-empty list must contain the alert's
// value; empty lists match everything.
type Match struct {
	Sites []string `yaml:"sites"`
	Lines []string `yaml:"lines"`
	// Machines are machine ids, or "gateway/machine" to name one exactly.
	Machines   []string `yaml:"machines"`
	Severities []string `yaml:"severities"`
}

// Escalation sends a still-open alert to more channels after a while.
type Escalation struct {
	// After is counted from when the hub received the alert.
	After    conf.Duration `yaml:"after"`
	Channels []string      `yaml:"channels"`
}

// Rule routes the alerts it matches to its channels. Every matching rule
// applies; an alert reaches each channel at most once.
type Rule struct {
	Name     string       `yaml:"name"`
	Match    Match        `yaml:"match"`
	Channels []string     `yaml:"channels"`
	Escalate []Escalation `yaml:"escalate"`
}

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	names := map[string]bool{}
	for i, ch := range c.Channels {
		at := fmt.Sprintf("routing.channels[%d]", i)
		if ch.Name == "" {
			return fmt.Errorf("%s.name: must not be empty", at)
		}
		if names[ch.Name] {
			return fmt.Errorf("%s.name: %q is used twice", at, ch.Name)
		}
		names[ch.Name] = true
		switch ch.Kind {
		case KindInbox:
		case KindWebhook:
			u, err := url.Parse(ch.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s.url: %q is not an http(s) URL", at, ch.URL)
			}
		case KindMQTT:
			if ch.Topic == "" || strings.ContainsAny(ch.Topic, "+#") {
				return fmt.Errorf("%s.topic: %q must be a topic without wildcards", at, ch.Topic)
			}
			if ch.QoS > 2 {
				return fmt.Errorf("%s.qos: %d is not 0, 1 or 2", at, ch.QoS)
			}
		default:
			return fmt.Errorf("%s.kind: %q is not inbox, webhook or mqtt", at, ch.Kind)
		}
	}
	refs := func(at string, chans []string) error {
		if len(chans) == 0 {
			return fmt.Errorf("%s: must name at least one channel", at)
		}
		for _, n := range chans {
			if !names[n] {
				return fmt.Errorf("%s: unknown channel %q", at, n)
			}
		}
		return nil
	}
	for i, r := range c.Rules {
		at := fmt.Sprintf("routing.rules[%d]", i)
		if err := refs(at+".channels", r.Channels); err != nil {
			return err
		}
		for _, s := range r.Match.Severities {
			if s != wire.SeverityWarning && s != wire.SeverityCritical {
				return fmt.Errorf("%s.match.severities: %q is not warning or critical", at, s)
			}
		}
		for j, e := range r.Escalate {
			eat := fmt.Sprintf("%s.escalate[%d]", at, j)
			if e.After.D() <= 0 {
				return fmt.Errorf("%s.after: must be positive", eat)
			}
			if err := refs(eat+".channels", e.Channels); err != nil {
				return err
			}
		}
	}
	return nil
}

// escalates reports whether any rule escalates.
func (c *Config) escalates() bool {
	return slices.ContainsFunc(c.Rules, func(r Rule) bool { return len(r.Escalate) > 0 })
}

// target is what rules match on.
type target struct {
	gateway, machine, site, line, severity string
}

func (m *Match) matches(t *target) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(m.Sites, t.site) || !in(m.Lines, t.line) || !in(m.Severities, t.severity) {
		return false
	}
	if len(m.Machines) == 0 {
		return true
	}
	for _, id := range m.Machines {
		if gw, machine, ok := strings.Cut(id, "/"); ok {
			if gw == t.gateway && machine == t.machine {
				return true
			}
		} else if id == t.machine {
			return true
		}
	}
	return false
}
