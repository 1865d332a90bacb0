package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

func TestUsersSessionsTokens(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	if _, err := st.PutUser(ctx, store.User{Name: "ana", Role: "technician"}, "admin", at); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("user without hash: %v", err)
	}
	u, err := st.PutUser(ctx, store.User{Name: "ana", Role: "technician", Password: "$argon2id$hash"}, "admin", at)
	if err != nil || u.Role != "technician" || !u.Created.Equal(at) {
		t.Fatalf("PutUser = %+v, %v", u, err)
	}
	hash := []byte("0123456789abcdef0123456789abcdef")
	if err := st.CreateSession(ctx, store.Session{IDHash: hash, User: "ana", Created: at, LastSeen: at, Expires: at.Add(time.Hour), Remote: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	se, err := st.SessionByHash(ctx, hash, at.Add(time.Minute))
	if err != nil || se.User != "ana" || se.Role != "technician" {
		t.Fatalf("SessionByHash = %+v, %v", se, err)
	}
	if _, err := st.SessionByHash(ctx, hash, at.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	// An unchanged save keeps sessions; a new password or role ends them.
	if _, err := st.PutUser(ctx, store.User{Name: "ana", Role: "technician", Password: "$argon2id$hash"}, "admin", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, hash, at); err != nil {
		t.Fatalf("session after an unchanged save: %v", err)
	}
	if _, err := st.PutUser(ctx, store.User{Name: "ana", Role: "technician", Password: "$argon2id$new"}, "admin", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, hash, at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after a password change: %v", err)
	}
	if err := st.CreateSession(ctx, store.Session{IDHash: hash, User: "ana", Created: at, LastSeen: at, Expires: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUser(ctx, store.User{Name: "ana", Role: "operator", Password: "$argon2id$new"}, "admin", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, hash, at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after a role change: %v", err)
	}
	// Stale sessions are swept: expired or idle.
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		h := bytes.Repeat([]byte{byte(i)}, 32)
		if err := st.CreateSession(ctx, store.Session{IDHash: h, User: "ana", Created: at, LastSeen: at, Expires: at.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.DeleteStaleSessions(ctx, at.Add(2*time.Minute), at.Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("DeleteStaleSessions = %d, %v; want the expired one", n, err)
	}
	if n, _ := st.DeleteStaleSessions(ctx, at.Add(2*time.Minute), at.Add(time.Second)); n != 1 {
		t.Fatalf("idle sweep deleted %d, want 1", n)
	}
	// Tokens: live, expired, revoked.
	tok := store.APIToken{ID: "tok-1", Name: "ci", Role: "operator", Hash: []byte("h1"), Created: at, CreatedBy: "admin", Expires: at.Add(time.Hour)}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := st.TokenByHash(ctx, []byte("h1"), at); err != nil || got.Name != "ci" || !got.Expires.Equal(at.Add(time.Hour)) {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := st.TokenByHash(ctx, []byte("h1"), at.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	if err := st.RevokeToken(ctx, "tok-1", "admin", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenByHash(ctx, []byte("h1"), at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	if err := st.RevokeToken(ctx, "tok-nope", "admin", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	// Deleting a user is audited; the hash never reaches the audit log.
	if err := st.DeleteUser(ctx, "ana", "admin", at); err != nil {
		t.Fatal(err)
	}
	es, err := st.Audit(ctx, store.AuditFilter{Subject: "user/ana"})
	actions := map[string]int{}
	for _, e := range es {
		actions[e.Action]++
	}
	if err != nil || es[0].Action != "user.delete" || es[0].Actor != "admin" || actions["user.create"] != 1 || actions["user.update"] != 3 ||
		actions["user.login"] != 4 || len(es[len(es)-1].Before) != 0 {
		t.Fatalf("user audit = %+v, %v", es, err)
	}
	for _, e := range es {
		if bytes.Contains(e.Before, []byte("argon2id")) || bytes.Contains(e.After, []byte("argon2id")) {
			t.Fatalf("audit entry %d holds a password hash", e.ID)
		}
	}
}

func TestAlertLabelAndChampionAge(t *testing.T) {
	ctx := t.Context()
	st := open(t, t.TempDir())
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	env := func(seq uint64) wire.Envelope {
		return wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: at.UnixNano()}
	}
	if _, err := st.IngestBirth(ctx, &wire.Birth{Env: env(1), Machines: []wire.MachineInfo{{ID: "m1", Model: "hst"}, {ID: "m2"}}}, at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IngestAlert(ctx, &wire.Alert{Env: env(2), ID: "a1", Machine: "m1", Model: "hst", Severity: "warning"}, at); err != nil {
		t.Fatal(err)
	}
	for i, l := range []string{store.LabelUnsure, store.LabelRealFault} {
		if _, err := st.AddFeedback(ctx, store.Feedback{AlertID: "a1", Label: l, Who: "ana"}, at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	as, err := st.Alerts(ctx, store.AlertFilter{})
	if err != nil || len(as) != 1 || as[0].Label != store.LabelRealFault {
		t.Fatalf("alerts = %+v, %v; want the latest label", as, err)
	}
	if a, err := st.Alert(ctx, "a1"); err != nil || a.Label != store.LabelRealFault {
		t.Fatalf("Alert = %+v, %v", a, err)
	}
	if _, err := st.Alert(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown alert: %v", err)
	}
	ms, err := st.Machines(ctx)
	if err != nil || len(ms) != 2 {
		t.Fatal(ms, err)
	}
	if ms[0].ChampionSince == nil || !ms[0].ChampionSince.Equal(at) || ms[1].ChampionSince != nil {
		t.Fatalf("champion ages %v, %v: want m1's birth champion since %v and none for m2", ms[0].ChampionSince, ms[1].ChampionSince, at)
	}
}
