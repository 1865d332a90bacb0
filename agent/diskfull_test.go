package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// setFileSizeLimit sets RLIMIT_FSIZE of process pid: writes past limit
// bytes fail with EFBIG (the Go runtime ignores SIGXFSZ), as on a full disk.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("prlimit: %v", e)
	}
}

// The agent binary's outbox cannot grow (RLIMIT_FSIZE on its process, the
// closest a test gets to a full disk without root) while nobody acks and
// alerts keep coming: every write that fails is counted by class on
// /metrics, the books of what was stored still balance, alerts are still
// raised locally, and the agent keeps running. When the disk has room
// again, what was stored reaches the hub and new alerts are queued again.
func TestOutboxWriteFailuresCounted(t *testing.T) {
	r := newCrashRig(t, 3, "model: baseline\nalert:\n  consecutive: 1\n  cooldown: 1ms\nmodels:\n  warmup: 50\n  champion: gated\nevent_time:\n  lateness: 0\nintervals:\n  metrics: 10ms\n")
	r.hub.SetAcking(false)
	p, fd := r.start()
	db := filepath.Join(r.state, "outbox.db")
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, uint64(st.Size())+64<<10)
	fault := func(a int) bool { return fd.tick > 60 && (fd.tick+3*a)%10 == 0 }
	var m map[string]float64
	failed := func() float64 {
		return m[`mw_agent_outbox_write_failed_total{class="metrics"}`] + m[`mw_agent_outbox_write_failed_total{class="alert"}`]
	}
	for {
		for range 20 {
			fd.send(fault)
		}
		fd.drain()
		if m, err = p.metrics(); err != nil {
			t.Fatal(err)
		}
		if failed() > 0 && m[`mw_agent_outbox_write_failed_total{class="alert"}`] > 0 {
			break
		}
		if fd.tick > 20000 {
			t.Fatalf("no failed write: %v", m)
		}
	}
	resp, err := http.Get("http://" + p.http + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with a full disk: %v %v", resp, err)
	}
	resp.Body.Close()
	produced, delivered, queued := m["mw_agent_outbox_produced_total"], m["mw_agent_outbox_delivered_total"], m["mw_agent_outbox_depth"]
	dropped := m[`mw_agent_outbox_dropped_total{class="metrics"}`] + m[`mw_agent_outbox_dropped_total{class="snapshot"}`] + m[`mw_agent_outbox_dropped_total{class="alert"}`]
	if produced != delivered+dropped+queued {
		t.Fatalf("books: produced %v != delivered %v + dropped %v + queued %v", produced, delivered, dropped, queued)
	}
	if n := strings.Count(p.logs.String(), "msg=ALERT"); float64(n) != m["mw_agent_alerts_total"] {
		t.Errorf("%d alerts raised locally, %v raised: local outputs must not depend on the outbox", n, m["mw_agent_alerts_total"])
	}

	// Room again: the hub acks, what was stored is delivered, and a new
	// alert is queued and delivered.
	setFileSizeLimit(t, p.cmd.Process.Pid, ^uint64(0))
	r.hub.SetAcking(true)
	before := len(r.hub.Alerts())
	alertsBefore := m["mw_agent_alerts_total"]
	pollUntil(t, 30*time.Second, "a new alert delivered", func() bool {
		fd.send(fault)
		return len(r.hub.Alerts()) > before
	})
	fd.drain()
	m, _ = p.metrics()
	if m["mw_agent_alerts_total"] <= alertsBefore {
		t.Errorf("no alert raised after the disk had room: %v", m["mw_agent_alerts_total"])
	}
	p.stop(t)
	t.Logf("write failures: %v metrics, %v alerts", failed()-m[`mw_agent_outbox_write_failed_total{class="alert"}`], m[`mw_agent_outbox_write_failed_total{class="alert"}`])
}
