package server_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/auth"
	"millwright/hub/config"
	"millwright/hub/server"
	"millwright/wire"
)

// TestDemoLoginAndLiveStream runs a hub in demo mode: the demo users exist
// with the printed passwords, the API needs a login, an ingested alert
// reaches an open event stream, and shutdown ends that stream instead of
// waiting on it.
func TestDemoLoginAndLiveStream(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := server.New(ctx, server.Options{DataDir: dir, HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0",
		Auth: config.DefaultAuth(), AuthParams: auth.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	waitFor(t, "hub ready", func() bool { return srv.Ready() == nil })
	base := "http://" + srv.HTTPAddr()

	logins := srv.DemoLogins()
	if len(logins) != 4 {
		t.Fatalf("demo logins %+v", logins)
	}
	b, err := os.ReadFile(filepath.Join(dir, server.DemoLoginsFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, server.DemoLoginsFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("demo logins file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, c := range logins {
		if !strings.Contains(string(b), c.Name+" "+c.Role.String()+" "+c.Password+"\n") {
			t.Errorf("%s lacks %s's login", server.DemoLoginsFile, c.Name)
		}
	}
	if resp, err := http.Get(base + "/api/v1/status"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status without login: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	secret, _, err := srv.Auth().CreateToken(t.Context(), "test", auth.Viewer, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/stream?gateway=gw9&machine=m9", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	expect := func(prefix string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q on the stream", prefix)
			}
		}
	}
	expect("event: hello")

	c := paho.NewClient(paho.NewClientOptions().AddBroker(srv.BrokerURL()).SetClientID("gw9"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	msg, _ := wire.Marshal(&wire.Alert{Env: wire.Envelope{Version: wire.Version, Sender: "gw9", Seq: 1, Time: time.Now().UnixNano()},
		ID: "gw9-m9-1", Machine: "m9", Model: "hst", Severity: wire.SeverityWarning, Score: 0.9, Threshold: 0.8})
	if tok := c.Publish(wire.AgentTopic("gw9", wire.LeafAlerts), 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	expect("event: alert")
	expect(`data: {"id":"gw9-m9-1"`)

	// Shutdown with the stream still open: Run returns cleanly and fast.
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return with an event stream open")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("shutdown took %v with an open stream", d)
	}
	for range lines {
	}
}
