package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"millwright/hub/api"
	"millwright/hub/auth"
	"millwright/hub/store"
	"millwright/wire"
)

// FuzzUploadSnapshot feeds arbitrary bytes (raw, or wrapped CBOR
// snapshots) to the upload endpoint: it answers 201, 400 or 413, never
// 500, and what it stores reads back byte for byte.
func FuzzUploadSnapshot(f *testing.F) {
	f.Add([]byte("raw model state"), "hst")
	f.Add([]byte{}, "hst")
	wrapped, _ := wire.Marshal(&wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "x"}, Model: "rrcf", Data: []byte("d")})
	f.Add(wrapped, "")
	f.Add([]byte{0xa1, 0x06, 0x40}, "")
	st, err := store.Open(f.Context(), f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	h := api.New(api.Options{Store: st, Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, body []byte, kind string) {
		req := httptest.NewRequest("POST", "/api/v1/snapshots?kind="+url.QueryEscape(kind), bytes.NewReader(body))
		if kind == "" || len(kind) > 64 {
			req = httptest.NewRequest("POST", "/api/v1/snapshots", bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
			var info store.SnapshotInfo
			decode(t, rec.Body.String(), &info)
			_, data, err := st.SnapshotData(t.Context(), info.ID)
			if err != nil || store.SnapshotID(data) != info.ID || int64(len(data)) != info.Size {
				t.Fatalf("stored %+v reads back %d bytes, %v", info, len(data), err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}

// FuzzLogin feeds arbitrary bodies to POST /api/v1/login: 400, 401 or 429,
// never a 500, and never a session without the user's password.
func FuzzLogin(f *testing.F) {
	f.Add([]byte(`{"name":"viewer","password":"viewer-password"}`))
	f.Add([]byte(`{"name":"viewer","password":"wrong"}`))
	f.Add([]byte(`{"name":"` + string(bytes.Repeat([]byte("x"), 300)) + `","password":""}`))
	f.Add([]byte(`{"name":1}`))
	st, err := store.Open(f.Context(), f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	m, err := auth.New(auth.Options{Store: st, Params: auth.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		f.Fatal(err)
	}
	if err := m.SetPassword(f.Context(), "viewer", auth.Viewer, "viewer-password", "test"); err != nil {
		f.Fatal(err)
	}
	h := api.New(api.Options{Store: st, Auth: m, Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			if !bytes.Contains(body, []byte("viewer-password")) && !bytes.Contains(body, []byte(`\u`)) {
				t.Fatalf("logged in with %q", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
