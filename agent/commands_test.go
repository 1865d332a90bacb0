package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/agent/daemon"
	"millwright/agent/internal/brokertest"
	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// lamp records what an AlarmOutput was told.
type lamp struct {
	mu  sync.Mutex
	got []bool
}

func (l *lamp) Set(_ context.Context, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, on)
	return nil
}

func (l *lamp) states() []bool { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.got) }

func TestCommandsLocalOutputsAndRestart(t *testing.T) {
	b := brokertest.Start(t)
	h := startHub(t, b.URL)
	lp := new(lamp)
	logs := new(syncBuf)
	opts := daemon.Options{
		Gateway:         "gw1",
		BrokerURL:       b.URL,
		StateDir:        t.TempDir(),
		HTTPAddr:        "127.0.0.1:0",
		Learn:           1,
		MetricsInterval: time.Hour,
		Alarm:           lp,
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
	}
	// A local consumer of alerts, such as an HMI on the gateway.
	var localMu sync.Mutex
	var local []wire.Alert
	lc := connect(t, b.URL, "hmi")
	if tok := lc.Subscribe("mw/v1/local/gw1/alerts", 1, func(_ paho.Client, m paho.Message) {
		var al wire.Alert
		if err := json.Unmarshal(m.Payload(), &al); err != nil {
			t.Errorf("local alert: %v", err)
			return
		}
		localMu.Lock()
		local = append(local, al)
		localMu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	a, stop := startAgent(t, opts)
	send := machineSender(t, b.URL, "press-1")
	const normal = 300
	sendNormal(send, normal)
	waitFor(t, "normal vectors scored", func() bool { return a.PipelineStats().Vectors == normal })

	hubc := connect(t, b.URL, "hub-cmd")
	command := func(c wire.Command) wire.CommandAck {
		t.Helper()
		c.Env = wire.Envelope{Version: wire.Version, Sender: "hub", Time: time.Now().UnixNano()}
		p, err := wire.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		hubc.Publish(wire.HubTopic("gw1", wire.LeafCmd), 1, false, p).Wait()
		var ack wire.CommandAck
		waitFor(t, "ack of "+c.ID, func() bool {
			found := false
			h.locked(func() {
				for _, x := range h.cmdAcks {
					if x.CommandID == c.ID {
						ack, found = x, true
					}
				}
			})
			return found
		})
		return ack
	}
	warm, _ := catalog.New("hst", 2, 7)
	snap, err := warm.(models.Snapshotter).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cmd    wire.Command
		ok     bool
		reason string
	}{
		{wire.Command{ID: "c1", Kind: wire.CmdPing}, true, ""},
		{wire.Command{ID: "c2", Kind: wire.CmdDeploy, Machine: "press-1", Role: wire.RoleChallenger, Name: "hst-warm", Snapshot: snap}, true, ""},
		{wire.Command{ID: "c3", Kind: wire.CmdDeploy, Machine: "press-1", Role: wire.RoleChallenger, Model: "rrcf"}, true, ""},
		{wire.Command{ID: "c4", Kind: wire.CmdDeploy, Machine: "press-9", Model: "pca"}, false, "unknown machine"},
		{wire.Command{ID: "c5", Kind: wire.CmdDeploy, Machine: "press-1", Snapshot: []byte("junk")}, false, "corrupt snapshot"},
		{wire.Command{ID: "c6", Kind: wire.CmdRollback, Machine: "press-1"}, false, "no previous champion"},
	} {
		ack := command(c.cmd)
		if ack.OK != c.ok || !strings.Contains(ack.Reason, c.reason) {
			t.Errorf("%s: ack = %+v, want ok=%v reason containing %q", c.cmd.ID, ack, c.ok, c.reason)
		}
	}

	for i := range 10 {
		send(normal+i, 60, 50) // vibration far out
	}
	waitFor(t, "alert at the hub and on the local topic", func() bool {
		var n int
		h.locked(func() { n = len(h.alerts) })
		localMu.Lock()
		defer localMu.Unlock()
		return n > 0 && len(local) > 0
	})
	localMu.Lock()
	if al := local[0]; al.Machine != "press-1" || !strings.Contains(al.Message, "recent scores") {
		t.Errorf("local alert = %+v", al)
	}
	localMu.Unlock()
	waitFor(t, "lamp on", func() bool { s := lp.states(); return len(s) > 0 && s[len(s)-1] })
	for i := range 30 {
		send(normal+10+i, 60+0.1*float64(i%3), 1)
	}
	waitFor(t, "lamp off after the episode", func() bool { s := lp.states(); return len(s) >= 3 && !s[len(s)-1] })

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var series []wire.ModelMetric
	h.locked(func() { series = h.metrics[len(h.metrics)-1].Series })
	var names []string
	for _, s := range series {
		names = append(names, s.Role+":"+s.Model+":"+s.Kind)
		if s.Model == "hst-warm" && (s.Snapshot == "" || len(s.Hist) != wire.HistBins) {
			t.Errorf("challenger metric = %+v, want its snapshot hash and a histogram", s)
		}
		if s.Role != wire.RoleChampion && s.Both+s.OnlyModel+s.OnlyChampion == 0 {
			t.Errorf("%s: no paired decisions over an interval with an alert: %+v", s.Model, s)
		}
	}
	d := catalog.Default
	if got := strings.Join(names, " "); got != "champion:"+d+":"+d+" twin:"+d+"-twin:"+d+" challenger:hst-warm:hst challenger:challenger-1:rrcf" {
		t.Errorf("models in the final metrics: %s", got)
	}

	if es, err := os.ReadDir(filepath.Join(opts.StateDir, "models")); err == nil {
		for _, e := range es {
			t.Log(e.Name())
		}
	}
	// A restart brings back every role.
	var births int
	h.locked(func() { births = len(h.births) })
	a2, stop2 := startAgent(t, opts)
	// The birth follows the subscriptions: telemetry sent now is received.
	waitFor(t, "birth after restart", func() bool { var n int; h.locked(func() { n = len(h.births) }); return n > births })
	send(normal+50, 60, 1)
	waitFor(t, "scoring after restart", func() bool { return a2.PipelineStats().Vectors == 1 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	h.locked(func() { series = h.metrics[len(h.metrics)-1].Series })
	var after []string
	for _, s := range series {
		after = append(after, s.Model)
	}
	slices.Sort(after)
	if want := []string{d, d + "-twin", "challenger-1", "hst-warm"}; !slices.Equal(after, slices.Sorted(slices.Values(want))) {
		t.Errorf("after restart: %+v\nlogs:\n%s", series, logs)
	}
}
