package influxtest_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"millwright/internal/influxtest"
)

func TestStartWriteQueryRestart(t *testing.T) {
	d := influxtest.Start(t, influxtest.Options{Database: "t1"})
	write := func(line string) {
		t.Helper()
		resp, err := http.Post(d.URL+"/write?db=t1", "text/plain", strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write: %s", resp.Status)
		}
	}
	count := func() string {
		t.Helper()
		resp, err := http.Get(d.URL + "/query?db=t1&q=" + url.QueryEscape(`SELECT count(v) FROM m`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	write("m v=1 1000000000")
	d.Restart(t)
	write("m v=2 2000000000")
	if got := count(); !strings.Contains(got, `,2]`) {
		t.Fatalf("count after restart: %s (data must survive a restart)", got)
	}
	d.Stop()
	if _, err := http.Get(d.URL + "/ping"); err == nil {
		t.Fatal("influxd still answers after Stop")
	}
}
