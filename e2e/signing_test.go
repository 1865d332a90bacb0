package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/agent/daemon"
	"millwright/hub/broker"
	"millwright/hub/store"
	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// bridge joins the agent's broker to the hub's, as a network path between
// the plant and the hub would, and can act as an attacker on that path
// would on the deploy commands it carries (see the modes).
type bridge struct {
	mode     atomic.Value // string: one of the modes below
	tampered atomic.Int32 // commands changed or held
	held     []byte       // a held command (used on the delivery goroutine only)
}

// Bridge modes.
const (
	pass   = ""       // carry everything as it is
	tamper = "tamper" // flip one bit of a deploy's snapshot
	strip  = "strip"  // remove a deploy's signature
	hold   = "hold"   // hold back a deploy; deliver it after the next command (out of order)
)

func connectClient(t *testing.T, url, id string, onConnect func(paho.Client)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(true).SetOnConnectHandler(onConnect)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func startBridge(t *testing.T, hubURL, agentURL, gw string) *bridge {
	t.Helper()
	b := &bridge{}
	var hubSide, agentSide atomic.Pointer[paho.Client]
	forward := func(to *atomic.Pointer[paho.Client], m paho.Message, payload []byte) {
		if c := to.Load(); c != nil {
			(*c).Publish(m.Topic(), 1, m.Retained(), payload) // not waited on: inside a handler
		}
	}
	subscribe := func(c paho.Client, filter string, h paho.MessageHandler) {
		if tok := c.Subscribe(filter, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Errorf("bridge subscribe %s: %v", filter, tok.Error())
		}
	}
	toAgent := func(_ paho.Client, m paho.Message) {
		payload := m.Payload()
		var c wire.Command
		isDeploy := strings.HasSuffix(m.Topic(), "/"+wire.LeafCmd) && wire.Unmarshal(payload, &c) == nil && c.Kind == wire.CmdDeploy
		mode, _ := b.mode.Load().(string)
		switch {
		case !isDeploy || mode == pass:
		case mode == hold && b.held == nil:
			b.held = payload
			b.tampered.Add(1)
			return
		case mode == tamper && len(c.Snapshot) > 0:
			c.Snapshot = append([]byte(nil), c.Snapshot...)
			c.Snapshot[len(c.Snapshot)/2] ^= 0x01 // one bit, signature left as it was
		case mode == strip:
			c.Sig = nil
		}
		if isDeploy && (mode == tamper || mode == strip) {
			p, err := wire.Marshal(&c)
			if err != nil {
				t.Errorf("bridge: %v", err)
				return
			}
			payload = p
			b.tampered.Add(1)
		}
		forward(&agentSide, m, payload)
		if isDeploy && mode == pass && b.held != nil {
			forward(&agentSide, m, b.held) // the older command, after a newer one
			b.held = nil
		}
	}
	toHub := func(_ paho.Client, m paho.Message) { forward(&hubSide, m, m.Payload()) }
	hc := connectClient(t, hubURL, "e2e-bridge-hub", func(c paho.Client) { subscribe(c, "mw/v1/hub/"+gw+"/#", toAgent) })
	hubSide.Store(&hc)
	ac := connectClient(t, agentURL, "e2e-bridge-agent", func(c paho.Client) { subscribe(c, "mw/v1/agent/"+gw+"/#", toHub) })
	agentSide.Store(&ac)
	return b
}

// TestSignedDeploys runs a hub that signs its commands and an agent that
// requires signatures, joined by a bridge. The agent's snapshots arrive
// signed and verified; a challenger deployed from one is applied. A deploy
// whose snapshot lost one bit on the way, one stripped of its signature,
// one delivered after a newer command (a stale sequence) and one whose
// snapshot is of another kind than it declares are refused, and the hub
// sees each refusal and its reason.
func TestSignedDeploys(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := startHub(t, ctx, "")
	defer s.stop(t, cancel)
	bundle := s.hub.SigningBundle()
	if bundle == "" {
		t.Fatal("the hub does not sign commands by default")
	}

	// The plant's network: its own broker, bridged to the hub's.
	plantNet, err := broker.New(broker.Options{Addr: "127.0.0.1:0", Logger: logger(t).With("component", "plant-broker")})
	if err != nil {
		t.Fatal(err)
	}
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- plantNet.Run(brokerCtx) }()
	t.Cleanup(func() { stopBroker(); <-brokerDone }) // after the clients (cleanups run last-in first-out)
	br := startBridge(t, s.broker, plantNet.URL(), "gw1")

	plant := &system{hub: s.hub, broker: plantNet.URL(), errs: s.errs}
	plant.run(func() error {
		return daemon.Run(ctx, daemon.Options{
			Gateway:          "gw1",
			BrokerURL:        plantNet.URL(),
			StateDir:         t.TempDir(),
			HTTPAddr:         "127.0.0.1:0",
			MetricsInterval:  500 * time.Millisecond,
			SnapshotInterval: time.Second,
			Logger:           logger(t).With("component", "agent", "gateway", "gw1"),
			Signing:          daemon.SigningOptions{Required: true, TrustedKeys: []string{bundle}},
		})
	})
	plant.startPlant(t, ctx, faultScenario())
	defer func() { cancel(); plant.wg.Wait() }()

	st := s.hub.Store()
	var champ store.SnapshotInfo
	waitFor(t, 60*time.Second, "a verified champion snapshot of pump-1 at the hub", func() bool {
		if s.hub.Ingest().Stats().SnapshotsVerified == 0 {
			return false
		}
		list, err := st.Snapshots(ctx, store.SnapshotFilter{Gateway: "gw1", Machine: "pump-1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range list {
			if sn.Role == wire.RoleChampion {
				champ = sn
				return true
			}
		}
		return false
	})
	if n := s.hub.Ingest().Stats().SnapshotsUnverified; n != 0 {
		t.Errorf("%d agent snapshots of unverified origin, want none", n)
	}

	base := "http://" + s.hub.HTTPAddr()
	deploy := func(name string) string {
		t.Helper()
		var out struct{ Deployments []struct{ ID string } }
		api(t, base, "POST", "/api/v1/challengers", map[string]any{"kind": champ.Model, "snapshot_id": champ.ID,
			"targets": []string{"gw1/pump-1"}, "name": name, "reason": "e2e signing"}, &out)
		if len(out.Deployments) != 1 {
			t.Fatalf("deployments = %+v, want 1", out)
		}
		return out.Deployments[0].ID
	}
	answered := func(dep string) store.Command {
		t.Helper()
		var got store.Command
		waitFor(t, 30*time.Second, "the agent's answer to deployment "+dep, func() bool {
			cmds, err := st.Commands(ctx, store.CommandFilter{Gateway: "gw1"})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				if c.Deployment == dep && (c.Status == store.CmdAcked || c.Status == store.CmdFailed) {
					got = c
					return true
				}
			}
			return false
		})
		return got
	}

	refused := func(what string, c store.Command, reason string) {
		t.Helper()
		if c.Status != store.CmdFailed || !strings.Contains(c.Reason, reason) {
			t.Fatalf("%s: %s (%q), want failed because %q", what, c.Status, c.Reason, reason)
		}
	}

	if c := answered(deploy("signed-warm")); c.Status != store.CmdAcked {
		t.Fatalf("signed deploy: %s (%s), want acked", c.Status, c.Reason)
	}
	br.mode.Store(tamper)
	refused("tampered snapshot", answered(deploy("tampered")), "snapshot does not match its signed hash")
	br.mode.Store(strip)
	refused("unsigned deploy", answered(deploy("unsigned")), "command unsigned")
	br.mode.Store(hold)
	stale := deploy("stale")
	waitFor(t, 30*time.Second, "the bridge to hold a deploy", func() bool { return br.tampered.Load() == 3 })
	br.mode.Store(pass)
	if c := answered(deploy("newer")); c.Status != store.CmdAcked {
		t.Fatalf("deploy after the held one: %s (%s), want acked", c.Status, c.Reason)
	}
	refused("deploy delivered after a newer one", answered(stale), "replayed or stale sequence")

	// A snapshot uploaded with the wrong kind: the hub signs what it was
	// told, the agent checks the bytes.
	det, err := catalog.New("rrcf", 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	rrcf, err := det.(models.Snapshotter).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := "hst"
	if champ.Model == other {
		other = "pca"
	}
	var up store.SnapshotInfo
	upload(t, base+"/api/v1/snapshots?kind="+other+"&gateway=gw1&machine=pump-1", rrcf, &up)
	var out struct{ Deployments []struct{ ID string } }
	api(t, base, "POST", "/api/v1/challengers", map[string]any{"kind": other, "snapshot_id": up.ID,
		"targets": []string{"gw1/pump-1"}, "name": "mislabelled", "reason": "e2e signing"}, &out)
	refused("snapshot of another kind", answered(out.Deployments[0].ID), "snapshot built for another model kind")
}

// upload posts raw snapshot bytes to the hub's API.
func upload(t *testing.T, url string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-User", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("upload: %s: %s", resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("upload: %s: %v", b, err)
	}
}
