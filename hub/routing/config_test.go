package routing

import (
	"strings"
	"testing"
	"time"

	"millwright/internal/conf"
)

func TestValidate(t *testing.T) {
	chans := []ChannelConfig{{Name: "inbox", Kind: KindInbox}, {Name: "chat", Kind: KindWebhook, URL: "https://chat.example/hook"},
		{Name: "board", Kind: KindMQTT, Topic: "displays/{site}/{line}"}}
	cases := []struct {
		name string
		c    Config
		err  string // substring; "" means valid
	}{
		{"empty", Config{}, ""},
		{"full", Config{Channels: chans, Rules: []Rule{{Channels: []string{"inbox", "board"}, Match: Match{Severities: []string{"critical"}},
			Escalate: []Escalation{{After: conf.Duration(time.Minute), Channels: []string{"chat"}}}}}}, ""},
		{"unnamed channel", Config{Channels: []ChannelConfig{{Kind: KindInbox}}}, "channels[0].name"},
		{"twice", Config{Channels: []ChannelConfig{{Name: "a", Kind: KindInbox}, {Name: "a", Kind: KindInbox}}}, "used twice"},
		{"bad kind", Config{Channels: []ChannelConfig{{Name: "a", Kind: "pager"}}}, "kind"},
		{"bad url", Config{Channels: []ChannelConfig{{Name: "a", Kind: KindWebhook, URL: "ftp://x"}}}, "channels[0].url"},
		{"wildcard topic", Config{Channels: []ChannelConfig{{Name: "a", Kind: KindMQTT, Topic: "a/+"}}}, "topic"},
		{"bad qos", Config{Channels: []ChannelConfig{{Name: "a", Kind: KindMQTT, Topic: "a", QoS: 3}}}, "qos"},
		{"unknown channel", Config{Channels: chans, Rules: []Rule{{Channels: []string{"pager"}}}}, `rules[0].channels: unknown channel "pager"`},
		{"no channel", Config{Channels: chans, Rules: []Rule{{}}}, "at least one"},
		{"bad severity", Config{Channels: chans, Rules: []Rule{{Channels: []string{"inbox"}, Match: Match{Severities: []string{"fatal"}}}}}, "severities"},
		{"zero after", Config{Channels: chans, Rules: []Rule{{Channels: []string{"inbox"}, Escalate: []Escalation{{Channels: []string{"chat"}}}}}}, "escalate[0].after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.c.Validate()
			if c.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want one containing %q", err, c.err)
			}
		})
	}
}

func TestConfigFromYAML(t *testing.T) {
	src := `
channels:
  - {name: inbox, kind: inbox}
  - {name: chat, kind: webhook, url: "https://chat.example/hooks/abc"}
  - {name: board, kind: mqtt, topic: "displays/{site}/{line}", qos: 1, retained: true}
rules:
  - name: critical on line 2
    match: {sites: [plant-a], lines: ["2"], severities: [critical]}
    channels: [inbox, board]
    escalate:
      - {after: 15m, channels: [chat]}
`
	var c Config
	if err := conf.Decode([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Rules[0].Escalate[0].After.D() != 15*time.Minute || !c.Channels[2].Retained || c.Rules[0].Match.Lines[0] != "2" {
		t.Fatalf("decoded %+v", c)
	}
	if err := conf.Decode([]byte("rules:\n  - {chanels: [x]}\n"), &c); err == nil {
		t.Fatal("misspelt field accepted")
	}
}

func TestMatch(t *testing.T) {
	tg := target{gateway: "gw1", machine: "press-4", site: "plant-a", line: "2", severity: "critical"}
	cases := []struct {
		name string
		m    Match
		want bool
	}{
		{"everything", Match{}, true},
		{"site", Match{Sites: []string{"plant-b", "plant-a"}}, true},
		{"other site", Match{Sites: []string{"plant-b"}}, false},
		{"line", Match{Lines: []string{"2"}}, true},
		{"other line", Match{Lines: []string{"3"}}, false},
		{"machine", Match{Machines: []string{"press-4"}}, true},
		{"gateway/machine", Match{Machines: []string{"gw1/press-4"}}, true},
		{"other gateway's machine", Match{Machines: []string{"gw2/press-4"}}, false},
		{"severity", Match{Severities: []string{"warning"}}, false},
		{"all of them", Match{Sites: []string{"plant-a"}, Lines: []string{"2"}, Machines: []string{"press-4"}, Severities: []string{"critical"}}, true},
	}
	for _, c := range cases {
		if got := c.m.matches(&tg); got != c.want {
			t.Errorf("%s: matches = %v, want %v", c.name, got, c.want)
		}
	}
}
