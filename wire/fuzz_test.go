package wire_test

import (
	"errors"
	"testing"

	"millwright/wire"
)

// FuzzUnmarshal feeds arbitrary bytes to every decoder: each either refuses
// them with a *DecodeError or decodes a message that re-encodes and decodes
// to the same thing.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range messages() {
		b, err := wire.Marshal(m.in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"machine":"m","readings":[{"sensor":"s","value":1,"time":1}]}`))
	f.Add([]byte{0xa1, 0x00, 0xa1, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range messages() {
			err := wire.Unmarshal(b, m.out)
			if err != nil {
				var de *wire.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("%T: error %v is not a *DecodeError", m.out, err)
				}
				continue
			}
			again, err := wire.Marshal(m.out)
			if err != nil {
				t.Fatalf("%T: re-encode: %v", m.out, err)
			}
			if err := wire.Unmarshal(again, m.out); err != nil {
				t.Fatalf("%T: decode of re-encoded: %v", m.out, err)
			}
		}
		var tm wire.Telemetry
		if err := wire.DecodeTelemetry(b, "m", 1, &tm); err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeTelemetry error %v is not a *DecodeError", err)
			}
		}
	})
}
