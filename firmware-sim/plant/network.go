package plant

import (
	"math/rand/v2"
)

// delivery is an encoded message waiting for its delivery time.
type delivery struct {
	at      int64  // true time, Unix ns, at which the broker receives it
	order   uint64 // send order, to break ties
	topic   string
	payload []byte
	dup     bool // a duplicate of an earlier delivery
	owner   bool // the last delivery of its payload, which recycles it
}

// outageWin is an Outage resolved to true times.
type outageWin struct {
	gw, machine string // machine empty: the whole gateway
	from, to    int64
	lose        bool
}

// netsim delays, reorders, duplicates and holds back messages as the
// scenario's Network says. It is deterministic: every message draws the
// same number of values from its device's network stream.
type netsim struct {
	cfg     Network
	step    int64
	q       []delivery // a min-heap on (at, order)
	order   uint64
	free    [][]byte
	outages []outageWin
	lost    int64 // messages lost in outages
}

func newNetsim(cfg Network, start, step int64) *netsim {
	n := &netsim{cfg: cfg, step: step}
	for _, o := range cfg.Outages {
		from := start + int64(o.At)
		n.outages = append(n.outages, outageWin{gw: o.Gateway, machine: o.Machine, from: from, to: from + int64(o.Duration), lose: o.Lose})
	}
	return n
}

// buffer returns an empty buffer to encode a message into.
func (n *netsim) buffer() []byte {
	if k := len(n.free); k > 0 {
		b := n.free[k-1]
		n.free = n.free[:k-1]
		return b[:0]
	}
	return make([]byte, 0, 512)
}

// release returns a delivered message's buffer for reuse.
func (n *netsim) release(d delivery) {
	if d.owner {
		n.free = append(n.free, d.payload)
	}
}

// send schedules a message that a device sent at true time t.
func (n *netsim) send(rng *rand.Rand, gw, machine, topic string, t int64, payload []byte) {
	c := &n.cfg
	u1, u2, u3, u4, u5 := rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()
	delay := int64(c.Latency) + int64(u1*float64(c.Jitter))
	if u2 < c.Reorder {
		// Held back by one to three ticks: delivered after later messages.
		delay += n.step + int64(u3*float64(2*n.step))
	}
	at := t + delay
	for _, o := range n.outages {
		hit := o.machine == machine || o.machine == "" && o.gw == gw
		if hit && t >= o.from && t < o.to {
			if o.lose {
				n.lost++
				n.free = append(n.free, payload)
				return
			}
			// Offline: the device keeps the message and sends it in the
			// burst when it comes back, in order.
			at = o.to + delay
		}
	}
	dup := u4 < c.Duplicate
	n.push(delivery{at: at, topic: topic, payload: payload, owner: !dup})
	if dup {
		// The duplicate shares the payload and is always delivered after
		// the original, so it is the one that recycles the buffer.
		n.push(delivery{at: at + int64(u5*float64(n.step)) + 1, topic: topic, payload: payload, dup: true, owner: true})
	}
}

// pop removes and returns the next delivery due at or before now.
func (n *netsim) pop(now int64) (delivery, bool) {
	if len(n.q) == 0 || n.q[0].at > now {
		return delivery{}, false
	}
	d := n.q[0]
	last := len(n.q) - 1
	n.q[0] = n.q[last]
	n.q[last] = delivery{}
	n.q = n.q[:last]
	n.down(0)
	return d, true
}

// next is the time of the next delivery; ok is false when none waits.
func (n *netsim) next() (int64, bool) {
	if len(n.q) == 0 {
		return 0, false
	}
	return n.q[0].at, true
}

func (n *netsim) len() int { return len(n.q) }

func (n *netsim) push(d delivery) {
	n.order++
	d.order = n.order
	n.q = append(n.q, d)
	i := len(n.q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !n.less(i, p) {
			break
		}
		n.q[i], n.q[p] = n.q[p], n.q[i]
		i = p
	}
}

func (n *netsim) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(n.q) {
			return
		}
		m := l
		if r := l + 1; r < len(n.q) && n.less(r, l) {
			m = r
		}
		if !n.less(m, i) {
			return
		}
		n.q[i], n.q[m] = n.q[m], n.q[i]
		i = m
	}
}

func (n *netsim) less(i, j int) bool {
	a, b := &n.q[i], &n.q[j]
	return a.at < b.at || a.at == b.at && a.order < b.order
}
