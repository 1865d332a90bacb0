package snapshot_test

import (
	"bytes"
	"errors"
	"testing"

	"millwright/models/snapshot"
)

type state struct {
	A int       `cbor:"1,keyasint"`
	B []float64 `cbor:"2,keyasint"`
}

func TestRoundTrip(t *testing.T) {
	in := state{A: 7, B: []float64{1.5, -2, 0.1}}
	b, err := snapshot.Marshal("k", 3, &in)
	if err != nil {
		t.Fatal(err)
	}
	var out state
	v, err := snapshot.Unmarshal(b, "k", 3, &out)
	if err != nil || v != 3 || out.A != in.A || len(out.B) != 3 || out.B[2] != 0.1 {
		t.Fatalf("Unmarshal = %+v, %d, %v", out, v, err)
	}
	if kind, err := snapshot.Kind(b); kind != "k" || err != nil {
		t.Fatalf("Kind = %q, %v", kind, err)
	}
	b2, _ := snapshot.Marshal("k", 3, &out)
	if !bytes.Equal(b, b2) {
		t.Fatal("encoding is not deterministic")
	}
}

func TestRefuses(t *testing.T) {
	good, _ := snapshot.Marshal("k", 2, &state{A: 1})
	badState, _ := snapshot.Marshal("k", 1, map[string]string{"zz": "x"})
	deep := []byte{0xa3, 0x01, 0x61, 'k', 0x02, 0x01, 0x03}
	for range 40 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0x00)
	cases := []struct {
		name       string
		b          []byte
		kind       string
		maxVersion int
		want       error
	}{
		{"other kind", good, "j", 5, snapshot.ErrKind},
		{"newer version", good, "k", 1, snapshot.ErrVersion},
		{"truncated", good[:len(good)-1], "k", 5, snapshot.ErrCorrupt},
		{"empty", nil, "k", 5, snapshot.ErrCorrupt},
		{"not a map", []byte{0x01}, "k", 5, snapshot.ErrCorrupt},
		{"unknown field", badState, "k", 5, snapshot.ErrCorrupt},
		{"too deep", deep, "k", 5, snapshot.ErrCorrupt},
		{"oversized", make([]byte, snapshot.MaxSize+1), "k", 5, snapshot.ErrOversized},
	}
	for _, c := range cases {
		var s state
		if _, err := snapshot.Unmarshal(c.b, c.kind, c.maxVersion, &s); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	good, _ := snapshot.Marshal("k", 1, &state{A: 1, B: []float64{2}})
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s state
		if _, err := snapshot.Unmarshal(b, "k", 1, &s); err != nil {
			return
		}
		b2, err := snapshot.Marshal("k", 1, &s)
		if err != nil {
			t.Fatal(err)
		}
		var s2 state
		if _, err := snapshot.Unmarshal(b2, "k", 1, &s2); err != nil {
			t.Fatalf("re-encoded snapshot refused: %v", err)
		}
	})
}
