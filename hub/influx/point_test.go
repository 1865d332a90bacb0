package influx

import (
	"math"
	"strings"
	"testing"
	"time"

	"millwright/wire"
)

func TestAppendLine(t *testing.T) {
	ts := time.Unix(1, 5)
	cases := []struct {
		name     string
		p        Point
		want     string
		rejected int
		err      bool
	}{
		{"plain", Point{Measurement: "m", Tags: []Tag{{"a", "1"}, {"b", "x"}}, Fields: []Field{Float("f", 0.5), Int("i", -3), String("s", "hi")}, Time: ts},
			`m,a=1,b=x f=0.5,i=-3i,s="hi" 1000000005` + "\n", 0, false},
		{"escapes", Point{Measurement: "m m,x", Tags: []Tag{{"k k", "v,=v"}}, Fields: []Field{String("f=1", `say "hi" \ bye`)}, Time: ts},
			`m\ m\,x,k\ k=v\,\=v f\=1="say \"hi\" \\ bye" 1000000005` + "\n", 0, false},
		{"empty tag left out", Point{Measurement: "m", Tags: []Tag{{"a", ""}, {"b", "2"}}, Fields: []Field{Int("i", 1)}, Time: ts},
			"m,b=2 i=1i 1000000005\n", 0, false},
		{"non-finite fields left out", Point{Measurement: "m", Fields: []Field{Float("nan", math.NaN()), Float("ok", 1e-7), Float("inf", math.Inf(-1))}, Time: ts},
			"m ok=1e-07 1000000005\n", 2, false},
		{"only NaN", Point{Measurement: "m", Fields: []Field{Float("nan", math.NaN())}, Time: ts}, "", 1, true},
		{"no fields", Point{Measurement: "m", Time: ts}, "", 0, true},
		{"no measurement", Point{Fields: []Field{Int("i", 1)}}, "", 0, true},
		{"newline in tag", Point{Measurement: "m", Tags: []Tag{{"a", "x\ny"}}, Fields: []Field{Int("i", 1)}}, "", 0, true},
		{"trailing backslash", Point{Measurement: "m", Tags: []Tag{{"a", `x\`}}, Fields: []Field{Int("i", 1)}}, "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rejected := 0
			got, err := appendLine([]byte("prefix"), &c.p, &rejected)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if string(got) != "prefix"+c.want {
				t.Fatalf("got  %q\nwant %q", got, "prefix"+c.want)
			}
			if rejected != c.rejected {
				t.Fatalf("rejected = %d, want %d", rejected, c.rejected)
			}
		})
	}
}

func TestModelPointFields(t *testing.T) {
	var s scratch
	m := wire.ModelMetric{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Count: 10, ScoreMean: 0.25, ScoreMax: 0.5,
		ScoreLast: 0.125, Alerts: 2, Samples: 1000, LatencyNs: 1500, Threshold: 0.75}
	rejected := 0
	b, err := appendLine(nil, s.modelPoint("gw", time.Unix(0, 42), 5e9, &m), &rejected)
	if err != nil {
		t.Fatal(err)
	}
	want := "model_metrics,gateway=gw,machine=m1,model=hst,role=champion alerts=2i,count=10i,interval_ns=5000000000i," +
		"latency_ns=1500i,samples=1000i,score_last=0.125,score_max=0.5,score_mean=0.25,threshold=0.75 42\n"
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// FuzzAppendLine encodes points whose names and values come from agents:
// the result is either refused or exactly one line, ending in a newline,
// whose unescaped separators are where line protocol expects them.
func FuzzAppendLine(f *testing.F) {
	f.Add("m", "k", "v", "f", "s", 1.5)
	f.Add("a b", "k=1", "v,2", `f"`, `x\y"z`, math.NaN())
	f.Add("m", "k", "v\\", "f", "s\n", 0.0)
	f.Fuzz(func(t *testing.T, meas, tagK, tagV, fieldK, str string, fl float64) {
		p := Point{Measurement: meas, Tags: []Tag{{tagK, tagV}}, Fields: []Field{Float(fieldK, fl), String("s", str)}, Time: time.Unix(0, 1)}
		rejected := 0
		b, err := appendLine(nil, &p, &rejected)
		if err != nil {
			if len(b) != 0 {
				t.Fatalf("refused point left %q", b)
			}
			return
		}
		s := string(b)
		if !strings.HasSuffix(s, " 1\n") {
			t.Fatalf("line %q does not end in its timestamp", s)
		}
		// Outside string fields, no newline; spaces unescaped exactly twice
		// (before fields, before time).
		spaces, inString := 0, false
		for i := 0; i < len(s)-1; i++ {
			c := s[i]
			switch {
			case c == '\\':
				i++
			case c == '"' && spaces == 1 && (inString || s[i-1] == '='): // strings only among fields
				inString = !inString
			case inString:
			case c == '\n' || c == '\r':
				t.Fatalf("newline inside %q", s)
			case c == ' ':
				spaces++
			}
		}
		if spaces != 2 || inString {
			t.Fatalf("line %q has %d unescaped spaces (want 2), string open %v", s, spaces, inString)
		}
	})
}
