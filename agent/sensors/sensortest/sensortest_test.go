package sensortest_test

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"millwright/agent/sensors/sensortest"
)

func TestParse(t *testing.T) {
	ops, err := sensortest.Parse([]byte("# header\n0x53 w 00 r e5 # DEVID\n\nw 80 00 r? 00 e5\n0x1d w 2d 08\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 {
		t.Fatalf("%d ops", len(ops))
	}
	if o := ops[0]; o.Addr != 0x53 || string(o.W) != "\x00" || string(o.R) != "\xe5" || o.AnyR || o.Line != 2 {
		t.Errorf("op 0 = %+v", o)
	}
	if o := ops[1]; o.Addr != 0 || len(o.W) != 2 || len(o.R) != 2 || !o.AnyR {
		t.Errorf("op 1 = %+v", o)
	}
	if o := ops[2]; o.Addr != 0x1d || len(o.W) != 2 || o.R != nil {
		t.Errorf("op 2 = %+v", o)
	}
	for _, bad := range []string{"0x53 00", "0x53 w zz", "0x53", "0xzz w 00", "w 100"} {
		if _, err := sensortest.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestCompare(t *testing.T) {
	want, err := sensortest.Parse([]byte("0x53 w 00 r e5\n0x53 w 32 r? 01 02\n"))
	if err != nil {
		t.Fatal(err)
	}
	ok := []i2ctest.IO{{Addr: 0x53, W: []byte{0}, R: []byte{0xe5}}, {Addr: 0x53, W: []byte{0x32}, R: []byte{9, 9}}}
	if err := sensortest.Compare(want, ok); err != nil {
		t.Errorf("measurement bytes compared exactly: %v", err)
	}
	for name, got := range map[string][]i2ctest.IO{
		"exact read":  {{Addr: 0x53, W: []byte{0}, R: []byte{0xe4}}, ok[1]},
		"address":     {{Addr: 0x1d, W: []byte{0}, R: []byte{0xe5}}, ok[1]},
		"read length": {ok[0], {Addr: 0x53, W: []byte{0x32}, R: []byte{9}}},
		"missing":     ok[:1],
		"extra":       append(append([]i2ctest.IO(nil), ok...), ok[0]),
	} {
		if err := sensortest.Compare(want, got); err == nil {
			t.Errorf("%s: no difference found", name)
		}
	}
}

func TestLoopBus(t *testing.T) {
	ops, err := sensortest.Parse([]byte("0x48 w 00 r 12 34\n0x48 w 01\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := &sensortest.LoopBus{Ops: ops}
	r := make([]byte, 2)
	for range 3 {
		if err := l.Tx(0x48, []byte{0}, r); err != nil || r[0] != 0x12 {
			t.Fatalf("Tx: %v % x", err, r)
		}
		if err := l.Tx(0x48, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Tx(0x48, []byte{1}, nil); err == nil {
		t.Fatal("a write out of order was accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("0x53 w 00 r e5 # c\nw 80 00 r? 00 e5\n")
	f.Fuzz(func(t *testing.T, s string) {
		ops, err := sensortest.Parse([]byte(s))
		if err != nil {
			return
		}
		// Printing and parsing again gives the same ops.
		var b strings.Builder
		for _, o := range ops {
			if o.Addr != 0 {
				b.WriteString("0x" + hex(byte(o.Addr>>8)) + hex(byte(o.Addr)) + " ")
			}
			if len(o.W) > 0 {
				b.WriteString("w")
				for _, v := range o.W {
					b.WriteString(" " + hex(v))
				}
			}
			if len(o.R) > 0 {
				if o.AnyR {
					b.WriteString(" r?")
				} else {
					b.WriteString(" r")
				}
				for _, v := range o.R {
					b.WriteString(" " + hex(v))
				}
			}
			b.WriteString("\n")
		}
		again, err := sensortest.Parse([]byte(b.String()))
		if err != nil {
			t.Fatalf("reparse %q: %v", b.String(), err)
		}
		if len(again) != len(ops) {
			t.Fatalf("%d ops, reparsed %d", len(ops), len(again))
		}
		for i := range ops {
			a, c := ops[i], again[i]
			if a.Addr != c.Addr || string(a.W) != string(c.W) || string(a.R) != string(c.R) || a.AnyR != c.AnyR {
				t.Fatalf("op %d: %+v, reparsed %+v", i, a, c)
			}
		}
	})
}

func hex(v byte) string {
	const d = "0123456789abcdef"
	return string([]byte{d[v>>4], d[v&15]})
}
