package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Root is the first two levels of every topic of this contract version.
const Root = "mw/v1"

// Leaf names of the per-gateway agent and hub topics.
const (
	LeafBirth     = "birth"
	LeafDeath     = "death"
	LeafMetrics   = "metrics"
	LeafAlerts    = "alerts"
	LeafSnapshots = "snapshots"
	LeafCmdAck    = "cmdack"
	LeafDrift     = "drift"
	LeafCmd       = "cmd"
	LeafAck       = "ack"
)

// TelemetryTopic is where machine machine behind gateway gw publishes readings.
func TelemetryTopic(gw, machine string) string {
	return Root + "/telemetry/" + gw + "/" + machine
}

// TelemetrySubscription matches the telemetry of every machine behind gw.
func TelemetrySubscription(gw string) string { return Root + "/telemetry/" + gw + "/+" }

// AgentTopic is an agent → hub topic of gateway gw, leaf one of the Leaf constants.
func AgentTopic(gw, leaf string) string { return Root + "/agent/" + gw + "/" + leaf }

// AgentSubscription matches every agent → hub topic of every gateway.
const AgentSubscription = Root + "/agent/+/+"

// HubTopic is a hub → agent topic of gateway gw (LeafCmd or LeafAck).
func HubTopic(gw, leaf string) string { return Root + "/hub/" + gw + "/" + leaf }

// HubSubscription matches every hub → agent topic of gateway gw.
func HubSubscription(gw string) string { return Root + "/hub/" + gw + "/+" }

// Topic is a parsed topic of this contract.
type Topic struct {
	Dir     string // "telemetry", "agent" or "hub"
	Gateway string
	Machine string // telemetry only
	Leaf    string // agent and hub only
}

// ErrTopic is returned for topics outside the contract.
var ErrTopic = errors.New("topic outside the wire contract")

// ParseTopic splits a topic of this contract into its parts without
// allocating beyond the returned strings, which share t's memory.
func ParseTopic(t string) (Topic, error) {
	rest, ok := strings.CutPrefix(t, Root+"/")
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q", ErrTopic, t)
	}
	dir, rest, _ := strings.Cut(rest, "/")
	a, b, ok := strings.Cut(rest, "/")
	if !ok || a == "" || b == "" || strings.Contains(b, "/") {
		return Topic{}, fmt.Errorf("%w: %q", ErrTopic, t)
	}
	switch dir {
	case "telemetry":
		return Topic{Dir: dir, Gateway: a, Machine: b}, nil
	case "agent", "hub":
		return Topic{Dir: dir, Gateway: a, Leaf: b}, nil
	}
	return Topic{}, fmt.Errorf("%w: %q", ErrTopic, t)
}

// ValidID reports whether s can be used as a gateway, machine or sensor id:
// 1 to 64 bytes of letters, digits, '-', '_' and '.'.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
