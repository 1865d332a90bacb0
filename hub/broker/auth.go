package broker

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Listener ids: clients of the TLS listener are gateways (or the hub)
// known by their certificate; the plain and internal listeners trust every
// client (loopback demo, the hub's own unix socket).
const (
	plainID    = "tcp"
	tlsID      = "tls"
	internalID = "internal"
)

// HubIdentity is the certificate CommonName with full access: the hub's own
// clients when they connect over TLS.
const HubIdentity = "hub"

// AgentClientIDPrefix is the agent's client id prefix: a gateway may
// connect as client id "<id>" or "mw-agent-<id>", so that a gateway cannot
// take over another's session (and knock it off) by its client id.
const AgentClientIDPrefix = "mw-agent-"

// authHook authenticates TLS clients by their certificate and applies the
// topic ACLs. The identity of a TLS client is its certificate's
// CommonName, stored as its username (as Mosquitto's
// use_identity_as_username does): whatever username the client sent is
// replaced.
type authHook struct {
	mqtt.HookBase
	b *Broker

	denied  atomic.Int64
	refused atomic.Int64

	logMu   sync.Mutex
	lastLog map[string]time.Time // identity, action, topic → last refusal logged
}

func (h *authHook) ID() string { return "millwright-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	if cl.Net.Listener != tlsID {
		return true
	}
	leaf := peerCert(cl)
	if leaf == nil {
		h.refuse(cl, "", "no client certificate")
		return false
	}
	id := leaf.Subject.CommonName
	switch {
	case h.b.revoked != nil && h.b.revoked(leaf):
		h.refuse(cl, id, "certificate revoked")
		return false
	case !validIdentity(id):
		h.refuse(cl, id, "certificate CommonName is not a gateway id")
		return false
	case id != HubIdentity && cl.ID != id && cl.ID != AgentClientIDPrefix+id:
		h.refuse(cl, id, "client id belongs to another identity")
		return false
	case id != HubIdentity && atomic.LoadUint32(&cl.Properties.Will.Flag) == 1 &&
		!allowed([]byte(id), cl.Properties.Will.TopicName, true):
		// The broker publishes a will without asking the ACL: a forged
		// death notice of another gateway is refused here, as Mosquitto does.
		h.refuse(cl, id, "will topic outside the identity's topics: "+cl.Properties.Will.TopicName)
		return false
	}
	cl.Properties.Username = []byte(id)
	return true
}

// handshakeFailed counts a TLS handshake refused: no, expired, revoked
// or foreign client certificate (or no TLS at all).
func (h *authHook) handshakeFailed(remote string, err error) {
	h.refused.Add(1)
	if h.b.metrics != nil {
		h.b.metrics.refused.Inc()
	}
	h.b.log.Warn("mqtt TLS handshake refused", "remote", remote, "err", err)
}

func (h *authHook) refuse(cl *mqtt.Client, id, reason string) {
	h.refused.Add(1)
	if h.b.metrics != nil {
		h.b.metrics.refused.Inc()
	}
	h.b.log.Warn("mqtt connection refused", "identity", id, "client_id", cl.ID, "remote", cl.Net.Remote, "reason", reason)
}

// OnACLCheck allows a gateway to publish under mw/v1/{telemetry,agent,local}/<id>/
// and to read mw/v1/{hub,telemetry}/<id>/ (its commands, and its own
// machines' telemetry that it scores); the hub identity may do anything.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Listener != tlsID {
		return true
	}
	id := cl.Properties.Username
	if string(id) == HubIdentity || allowed(id, topic, write) {
		return true
	}
	h.deny(cl, topic, write)
	return false
}

func (h *authHook) deny(cl *mqtt.Client, topic string, write bool) {
	h.denied.Add(1)
	action := "subscribe"
	if write {
		action = "publish"
	}
	if h.b.metrics != nil {
		h.b.metrics.denied.WithLabelValues(action).Inc()
	}
	// One line per identity and topic per denyLogEvery: a misbehaving
	// gateway must not flood the log.
	id := string(cl.Properties.Username)
	key := id + "\x00" + action + "\x00" + topic
	now := time.Now()
	h.logMu.Lock()
	last, seen := h.lastLog[key]
	logIt := !seen || now.Sub(last) >= denyLogEvery
	if logIt {
		if h.lastLog == nil || len(h.lastLog) >= maxDenyKeys {
			h.lastLog = make(map[string]time.Time)
		}
		h.lastLog[key] = now
	}
	h.logMu.Unlock()
	if logIt {
		h.b.log.Warn("mqtt "+action+" refused by ACL", "gateway", id, "topic", topic, "client_id", cl.ID)
	}
}

// maxDenyKeys bounds the memory of recent refusals logged.
const maxDenyKeys = 10000

const denyLogEvery = 10 * time.Second

// allowed applies the gateway ACL to a topic (publish, delivery) or a
// topic filter (subscribe). Wildcards in the first four levels never
// match an identity, so "mw/v1/hub/+/cmd" and "mw/v1/#" are refused.
func allowed(id []byte, topic string, write bool) bool {
	rest, ok := strings.CutPrefix(topic, "mw/v1/")
	if !ok {
		return false
	}
	dir, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	switch dir {
	case "telemetry":
	case "agent", "local":
		if !write {
			return false
		}
	case "hub":
		if write {
			return false
		}
	default:
		return false
	}
	seg, _, _ := strings.Cut(rest, "/")
	return len(id) > 0 && seg == string(id) // no allocation: compared, not converted
}

func validIdentity(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

// peerCert is the verified client certificate of a TLS client, or nil.
func peerCert(cl *mqtt.Client) *x509.Certificate {
	c, ok := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return nil
	}
	cs := c.ConnectionState()
	if !cs.HandshakeComplete || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}

// Sweep disconnects every TLS client whose certificate is now revoked or
// expired; the hub calls it when the revocation list changes.
func (b *Broker) Sweep() int {
	if b.tlsLn == nil {
		return 0
	}
	now := time.Now()
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener != tlsID || cl.Closed() {
			continue
		}
		leaf := peerCert(cl)
		if leaf == nil {
			continue
		}
		reason := ""
		switch {
		case b.revoked != nil && b.revoked(leaf):
			reason = "certificate revoked"
		case now.After(leaf.NotAfter):
			reason = "certificate expired"
		default:
			continue
		}
		b.log.Warn("mqtt client disconnected", "identity", leaf.Subject.CommonName, "client_id", cl.ID, "reason", reason)
		_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		n++
	}
	return n
}

// Stats are the broker's security counters.
type Stats struct {
	// Denied counts publishes and subscriptions (and deliveries) refused by
	// the topic ACL; Refused counts connections refused.
	Denied, Refused int64
}

// Stats returns the security counters.
func (b *Broker) Stats() Stats {
	return Stats{Denied: b.auth.denied.Load(), Refused: b.auth.refused.Load()}
}
