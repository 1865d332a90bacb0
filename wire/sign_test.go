package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"millwright/wire"
)

// FuzzSigningBytes: arbitrary bytes are refused with a *DecodeError or give
// signing bytes that start with the domain and are a fixed point: the body
// re-canonicalised is itself, so signer and verifier agree.
func FuzzSigningBytes(f *testing.F) {
	for _, m := range messages() {
		b, err := wire.Marshal(m.in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa2, 0x0b, 0x01, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fn := range []struct {
			domain string
			sb     func([]byte) ([]byte, error)
		}{
			{wire.DomainCommand, wire.CommandSigningBytes},
			{wire.DomainSnapshot, wire.SnapshotSigningBytes},
		} {
			out, err := fn.sb(b)
			if err != nil {
				var de *wire.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				continue
			}
			prefix := append([]byte(fn.domain), 0)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("signing bytes %x lack the domain %q", out, fn.domain)
			}
			again, err := fn.sb(out[len(prefix):])
			if err != nil {
				t.Fatalf("canonical body refused: %v", err)
			}
			if !bytes.Equal(again, out) {
				t.Fatalf("signing bytes not a fixed point:\n%x\n%x", out, again)
			}
		}
	})
}

func TestSigningBytesDropSignature(t *testing.T) {
	c := &wire.Command{Env: wire.Envelope{Version: 1, Seq: 3}, ID: "c", Kind: wire.CmdDeploy, Snapshot: []byte{1, 2}, SnapshotHash: "h"}
	plain, err := wire.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Sig = &wire.Signature{KeyID: "k", Value: []byte{9}}
	c.Snapshot = []byte{3, 4, 5}
	signed, err := wire.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wire.CommandSigningBytes(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.CommandSigningBytes(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("signature or snapshot bytes changed the command's signing bytes")
	}
	c.SnapshotHash = "other"
	other, _ := wire.Marshal(c)
	if o, _ := wire.CommandSigningBytes(other); bytes.Equal(o, a) {
		t.Fatal("SnapshotHash is not covered")
	}
}
