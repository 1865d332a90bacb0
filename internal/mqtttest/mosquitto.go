// Package mqtttest starts real MQTT brokers for tests: Mosquitto, installed
// by scripts/install-test-deps.sh, as a child process on a free loopback
// port, stopped when the test ends.
package mqtttest

import (
	"millwright/internal/proctest"

	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"
)

// MosquittoPath finds the mosquitto binary: $MOSQUITTO, then PATH, then
// /usr/sbin where Debian puts it.
func MosquittoPath() (string, error) {
	if p := os.Getenv("MOSQUITTO"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", fmt.Errorf("mosquitto not found on PATH, in $MOSQUITTO or at %s: run scripts/install-test-deps.sh", debian)
}

// Mosquitto is a running broker.
type Mosquitto struct {
	// URL is the broker's address for MQTT clients, tcp://127.0.0.1:PORT.
	URL  string
	Addr string
	// TLSURL and TLSAddr are the TLS listener's (ssl://127.0.0.1:PORT),
	// with MosquittoOptions.TLS only.
	TLSURL  string
	TLSAddr string
	cmd     *exec.Cmd
	dir     string
	conf    string
	log     *proctest.Buffer
}

// MosquittoOptions adds lines to the generated configuration.
type MosquittoOptions struct {
	// Extra is appended to the configuration file verbatim.
	Extra string
	// TLS adds a listener requiring client certificates, as Millwright's
	// gateways use it (see MosquittoTLS).
	TLS *MosquittoTLS
}

// StartMosquitto starts Mosquitto on a free loopback port and waits until it
// accepts connections. Its configuration never silently drops queued
// messages (max_queued_messages 0, max_inflight_messages 0), so a lost
// message in a test is ours, not the broker's. It fails the test when
// Mosquitto is missing.
func StartMosquitto(t testing.TB, opts MosquittoOptions) *Mosquitto {
	t.Helper()
	bin, err := MosquittoPath()
	if err != nil {
		t.Fatal(err)
	}
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Run as whoever runs the test: as root, mosquitto would otherwise
	// switch to the "mosquitto" user, which cannot write the test's folder.
	who := "root"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	tlsConf, tlsPort, err := opts.TLS.config(dir)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`user %s
listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 0
max_inflight_messages 0
log_dest stdout
log_type error
log_type warning
log_type notice
%s
%s
`, who, port, dir, tlsConf, opts.Extra)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, conf: conf, log: &proctest.Buffer{}}
	if tlsPort != 0 {
		m.TLSAddr = fmt.Sprintf("127.0.0.1:%d", tlsPort)
		m.TLSURL = "ssl://" + m.TLSAddr
	}
	m.start(t, bin)
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.log.String())
		}
	})
	return m
}

func (m *Mosquitto) start(t testing.TB, bin string) {
	t.Helper()
	m.cmd = exec.Command(bin, "-c", m.conf)
	m.cmd.Stdout = m.log
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	for _, addr := range []string{m.Addr, m.TLSAddr} {
		if addr == "" {
			continue
		}
		if err := proctest.WaitListening(addr, 10*time.Second); err != nil {
			m.stop()
			t.Fatalf("mosquitto did not listen on %s: %v\n%s", addr, err, m.log.String())
		}
	}
}

// Restart stops the broker and starts it again on the same port with the
// same persistence directory, as an operator's restart would.
func (m *Mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	m.start(t, m.cmd.Path)
}

func (m *Mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
}

// Log returns what the broker has logged so far.
func (m *Mosquitto) Log() string { return m.log.String() }
