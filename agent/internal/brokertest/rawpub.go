package brokertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"millwright/wire"
)

// RawPublisher is the least MQTT 3.1.1 client there is: it connects with a
// clean session and no keep-alive and publishes at QoS 0 through a write
// buffer. A load generator whose own cost per message is a copy, so that a
// benchmark sharing its core measures the subscriber, not the publisher.
// It is not safe for concurrent use.
type RawPublisher struct {
	conn net.Conn
	w    *bufio.Writer
	hdr  [7]byte
}

// DialRaw connects to the broker at addr (host:port) as clientID and waits
// for its CONNACK.
func DialRaw(ctx context.Context, addr, clientID string) (*RawPublisher, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raw mqtt dial %s: %w", addr, err)
	}
	// CONNECT: protocol "MQTT" level 4, clean session, keep-alive 0.
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	body = append(body, clientID...)
	pkt := appendLength([]byte{0x10}, len(body))
	pkt = append(pkt, body...)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := conn.Write(pkt); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw mqtt connect: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw mqtt connack: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("raw mqtt connack refused: % x", ack)
	}
	conn.SetDeadline(time.Time{})
	return &RawPublisher{conn: conn, w: bufio.NewWriterSize(conn, 64<<10)}, nil
}

func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// Publish buffers one QoS 0 PUBLISH; Flush sends what is buffered. It
// allocates nothing.
func (p *RawPublisher) Publish(topic string, payload []byte) error {
	n := 2 + len(topic) + len(payload)
	h := appendLength(append(p.hdr[:0], 0x30), n)
	h = binary.BigEndian.AppendUint16(h, uint16(len(topic)))
	p.w.Write(h)
	p.w.WriteString(topic)
	_, err := p.w.Write(payload)
	return err
}

// Flush writes the buffered messages to the broker.
func (p *RawPublisher) Flush() error { return p.w.Flush() }

// Close flushes, says DISCONNECT and closes the connection.
func (p *RawPublisher) Close() error {
	err := p.w.Flush()
	if err == nil {
		_, err = p.conn.Write([]byte{0xe0, 0})
	}
	return errors.Join(err, p.conn.Close())
}

// Frame is one encoded wire.Telemetry message of several readings (one
// per sensor, all of one event time), as a simulated machine publishes
// them, whose time and values can be rewritten in place: a benchmark sends
// a new message every time without encoding one.
type Frame struct {
	Payload []byte
	times   []int // offsets of 8-byte CBOR integers (the envelope's and each reading's time)
	values  []int // offsets of 8-byte CBOR floats, one per sensor
}

// Sentinels written at encoding time and searched for afterwards.
const sentinelTime = int64(0x1a2b3c4d5e6f7081)

func sentinelValue(i int) float64 { return 1.0000000001 + float64(i)*1.0000000003 }

// NewFrame encodes a telemetry message of machine with one reading of
// each sensor.
func NewFrame(machine string, sensors []string) (*Frame, error) {
	m := &wire.Telemetry{Env: wire.Envelope{Sender: machine, Time: sentinelTime}, Machine: machine}
	for i, s := range sensors {
		m.Readings = append(m.Readings, wire.Reading{Sensor: s, Time: sentinelTime, Value: sentinelValue(i)})
	}
	b, err := wire.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("frame of %s: %w", machine, err)
	}
	f := &Frame{Payload: b}
	tenc := binary.BigEndian.AppendUint64([]byte{0x1b}, uint64(sentinelTime))
	for off := 0; ; {
		i := bytes.Index(b[off:], tenc)
		if i < 0 {
			break
		}
		f.times = append(f.times, off+i+1)
		off += i + len(tenc)
	}
	for i := range sensors {
		venc := binary.BigEndian.AppendUint64([]byte{0xfb}, math.Float64bits(sentinelValue(i)))
		j := bytes.Index(b, venc)
		if j < 0 {
			return nil, fmt.Errorf("frame of %s: value of sensor %d not encoded as a float64", machine, i)
		}
		f.values = append(f.values, j+1)
	}
	if len(f.times) != len(sensors)+1 {
		return nil, fmt.Errorf("frame of %s: %d times found, want %d", machine, len(f.times), len(sensors)+1)
	}
	return f, nil
}

// Set rewrites the message's event time (Unix ns, at least 2^32) and the
// value of each sensor.
func (f *Frame) Set(t int64, values []float64) {
	for _, off := range f.times {
		binary.BigEndian.PutUint64(f.Payload[off:], uint64(t))
	}
	for i, off := range f.values {
		if i < len(values) {
			binary.BigEndian.PutUint64(f.Payload[off:], math.Float64bits(values[i]))
		}
	}
}

// Fleet is a gateway's machines as firmware-sim publishes them: assets
// m00, m01, … of sensors s0, s1, …, one message of one reading per sensor
// per asset and tick, rewritten in place for every message.
type Fleet struct {
	Gateway string
	Topics  []string
	Frames  []*Frame
	vals    []float64
}

// NewFleet encodes the frames of assets machines of sensors sensors.
func NewFleet(gw string, assets, sensors int) (*Fleet, error) {
	f := &Fleet{Gateway: gw, vals: make([]float64, sensors)}
	names := make([]string, sensors)
	for s := range names {
		names[s] = fmt.Sprintf("s%d", s)
	}
	for a := range assets {
		fr, err := NewFrame(f.Machine(a), names)
		if err != nil {
			return nil, err
		}
		f.Topics = append(f.Topics, wire.TelemetryTopic(gw, f.Machine(a)))
		f.Frames = append(f.Frames, fr)
	}
	return f, nil
}

// Machine is the id of asset a.
func (f *Fleet) Machine(a int) string { return fmt.Sprintf("m%02d", a) }

// Send buffers asset a's message of tick at event time t: smooth normal
// values, or with fault every value thirty times its normal.
func (f *Fleet) Send(p *RawPublisher, a, tick int, t int64, fault bool) error {
	for s := range f.vals {
		v := 10*float64(s+1) + math.Sin(float64(tick)/7+float64(a+s)) + 0.1*math.Cos(float64(tick)/3)
		if fault {
			v *= 30
		}
		f.vals[s] = v
	}
	f.Frames[a].Set(t, f.vals)
	return p.Publish(f.Topics[a], f.Frames[a].Payload)
}

// SetLast rewrites asset a's message at time t with the values last sent,
// without publishing it.
func (f *Fleet) SetLast(a int, t int64) { f.Frames[a].Set(t, f.vals) }
