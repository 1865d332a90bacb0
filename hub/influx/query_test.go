package influx

import (
	"errors"
	"testing"
	"time"
)

func TestDecodeResult(t *testing.T) {
	body := `{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"model":"hst"},"columns":["time","v"],"values":[[1000,0.5],[2000,null]]}]}]}`
	s, err := decodeResult([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].Tags["model"] != "hst" || len(s[0].Values) != 2 || s[0].Column("v") != 1 || s[0].Values[1][1] != nil {
		t.Fatalf("series = %+v", s)
	}
	if f := floatOf(s[0].Values[0][1]); f == nil || *f != 0.5 {
		t.Fatalf("value = %v", f)
	}
	var qe *QueryError
	if _, err := decodeResult([]byte(`{"results":[{"statement_id":0,"error":"database not found: x"}]}`)); !errors.As(err, &qe) || qe.Msg != "database not found: x" {
		t.Fatalf("err = %v", err)
	}
	if _, err := decodeResult([]byte(`{"error":"bad"}`)); !errors.As(err, &qe) {
		t.Fatalf("err = %v", err)
	}
	if _, err := decodeResult([]byte(`{"results":[{"series":[{"columns":["a"],"values":[[1,2]]}]}]}`)); err == nil {
		t.Fatal("ragged row accepted")
	}
}

// FuzzDecodeResult feeds arbitrary answers: they decode or fail, never panic,
// and every decoded row has one value per column.
func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,2]]}]}]}`))
	f.Add([]byte(`{"results":[{"error":"x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeResult(b)
		if err != nil {
			return
		}
		for _, ser := range s {
			for _, row := range ser.Values {
				if len(row) != len(ser.Columns) {
					t.Fatalf("row %v for columns %v", row, ser.Columns)
				}
			}
		}
	})
}

func TestQuoting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{QuoteString(`it's \ x`), `'it\'s \\ x'`},
		{QuoteIdent(`a"b`), `"a\"b"`},
		{durationLiteral(time.Minute), "1m"},
		{durationLiteral(90 * time.Second), "90s"},
		{durationLiteral(1500 * time.Microsecond), "1500u"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}
