package mqttc

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// readBuffer is the read buffer under paho's packet decoder.
const readBuffer = 32 << 10

// bufferedConn reads through a buffer: paho decodes each packet's fixed
// header a byte at a time, which is one read system call per byte on a
// bare connection (half the agent's CPU at 100k readings/s).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// openConnection is paho's OpenConnectionFunc for the schemes the agent
// uses (tcp/mqtt, TLS, unix), with a read buffer under the decoder.
func openConnection(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	if o.Dialer != nil {
		d = o.Dialer
	}
	var (
		conn net.Conn
		err  error
	)
	switch uri.Scheme {
	case "mqtt", "tcp":
		conn, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		td := &tls.Dialer{NetDialer: d, Config: o.TLSConfig}
		conn, err = td.DialContext(context.Background(), "tcp", uri.Host)
	case "unix":
		path := uri.Path
		if uri.Host != "" {
			path = uri.Host
		}
		conn, err = d.Dial("unix", path)
	default:
		return nil, fmt.Errorf("mqtt: unsupported scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}, nil
}
