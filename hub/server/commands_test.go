package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/store"
	"millwright/wire"
)

// TestChallengerToOfflineGatewayDeliveredOnBirth: a challenger deployed
// while its gateway is offline waits in the store; the gateway's next birth
// releases the command over MQTT, and its ack marks the deployment acked.
func TestChallengerToOfflineGatewayDeliveredOnBirth(t *testing.T) {
	srv, stop := startHub(t, t.TempDir(), nil)
	defer stop()
	base := "http://" + srv.HTTPAddr()

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr()).SetClientID("agent-gw3"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	cmds := make(chan wire.Command, 4)
	c.Subscribe(wire.HubTopic("gw3", wire.LeafCmd), 1, func(_ paho.Client, m paho.Message) {
		var cmd wire.Command
		if wire.Unmarshal(m.Payload(), &cmd) == nil {
			cmds <- cmd
		}
	}).WaitTimeout(10 * time.Second)
	seq := uint64(0)
	pub := func(leaf string, m wire.Message) {
		t.Helper()
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if tok := c.Publish(wire.AgentTopic("gw3", leaf), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	env := func() wire.Envelope {
		seq++
		return wire.Envelope{Version: 1, Sender: "gw3", Seq: seq, Time: time.Now().UnixNano()}
	}
	birth := &wire.Birth{AgentVersion: "x", Machines: []wire.MachineInfo{{ID: "motor-1", Type: "motor", Model: "hst"}}}
	birth.Env = env()
	pub(wire.LeafBirth, birth)
	pub(wire.LeafDeath, &wire.Death{Env: env(), Reason: "maintenance"})
	waitFor(t, "gateway offline", func() bool {
		var st struct {
			Gateways       int `json:"gateways"`
			GatewaysOnline int `json:"gateways_online"`
		}
		getJSON(t, base+"/api/v1/status", &st)
		return st.Gateways == 1 && st.GatewaysOnline == 0
	})

	body, _ := json.Marshal(map[string]any{"kind": "rrcf", "targets": []string{"motor-1"}, "settings": map[string]float64{"trees": 10}})
	resp, err := http.Post(base+"/api/v1/challengers", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Deployments []store.Deployment }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 201 || len(created.Deployments) != 1 {
		t.Fatalf("POST challengers: %s %+v", resp.Status, created)
	}
	select {
	case cmd := <-cmds:
		t.Fatalf("command sent to an offline gateway: %+v", cmd)
	case <-time.After(1500 * time.Millisecond): // more than a dispatcher period: it had its chance
	}

	birth.Env = env()
	pub(wire.LeafBirth, birth)
	var cmd wire.Command
	select {
	case cmd = <-cmds:
	case <-time.After(10 * time.Second):
		t.Fatal("command not delivered after the birth")
	}
	if cmd.Kind != wire.CmdDeploy || cmd.Role != wire.RoleChallenger || cmd.Model != "rrcf" || cmd.Machine != "motor-1" ||
		cmd.Name != "challenger-rrcf" || cmd.Settings["trees"] != 10 || cmd.ID != created.Deployments[0].CommandID {
		t.Fatalf("command = %+v", cmd)
	}
	pub(wire.LeafCmdAck, &wire.CommandAck{Env: env(), CommandID: cmd.ID, OK: true})
	waitFor(t, "deployment acked", func() bool {
		var ds struct{ Deployments []store.Deployment }
		getJSON(t, base+"/api/v1/deployments?role=challenger", &ds)
		return len(ds.Deployments) == 1 && ds.Deployments[0].Status == store.DeployAcked
	})
}
