package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"millwright/hub/auth"
	"millwright/hub/store"
)

// cheap keeps the tests fast; DefaultParams is measured in BenchmarkHash.
var cheap = auth.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newManager(t testing.TB, mod func(*auth.Options)) (*auth.Manager, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	o := auth.Options{Store: st, Params: cheap, Now: c.Now, SessionTTL: 8 * time.Hour, IdleTimeout: 30 * time.Minute}
	if mod != nil {
		mod(&o)
	}
	m, err := auth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"tech", auth.Technician}, {"op", auth.Operator}} {
		if err := m.SetPassword(t.Context(), u.name, u.role, u.name+"-password", "test"); err != nil {
			t.Fatal(err)
		}
	}
	return m, st, c
}

func loginReq(t *testing.T, remote string) *http.Request {
	r := httptest.NewRequestWithContext(t.Context(), "POST", "http://hub/api/v1/login", nil)
	r.RemoteAddr = remote
	return r
}

// login logs name in and returns the session cookie and principal.
func login(t *testing.T, m *auth.Manager, name, pw string) (*http.Cookie, auth.Principal) {
	t.Helper()
	rec := httptest.NewRecorder()
	p, err := m.Login(rec, loginReq(t, "10.0.0.1:5555"), name, pw)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("login set %d cookies", len(cs))
	}
	return cs[0], p
}

func withCookie(t *testing.T, method string, c *http.Cookie) *http.Request {
	r := httptest.NewRequestWithContext(t.Context(), method, "http://hub/api/v1/x", nil)
	r.AddCookie(c)
	return r
}

func TestPasswords(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	h2, _ := auth.HashPassword("correct horse battery", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
		err            bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse batterY", false, false},
		{"empty", h, "", false, false},
		{"other algorithm", strings.Replace(h, "argon2id", "argon2i", 1), "correct horse battery", false, true},
		{"huge memory", strings.Replace(h, "m=64,", "m=99999999,", 1), "correct horse battery", false, true},
		{"changed cost", strings.Replace(h, "t=1,", "t=2,", 1), "correct horse battery", false, false},
		{"truncated", h[:len(h)-10], "correct horse battery", false, true},
		{"garbage", "$$$$$", "x", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tt.hash, tt.pw)
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("VerifyPassword = %v, %v; want %v, error %v", ok, err, tt.ok, tt.err)
			}
		})
	}
	if _, err := auth.HashPassword("short", cheap); !errors.Is(err, auth.ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
}

// FuzzVerifyPassword feeds stored hashes (a database row is untrusted
// input to the verifier): never a panic, and never a match for a string
// HashPassword did not write.
func FuzzVerifyPassword(f *testing.F) {
	h, _ := auth.HashPassword("correct horse battery", cheap)
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		ok, err := auth.VerifyPassword(s, "correct horse battery")
		if ok && err != nil {
			t.Fatal("match with an error")
		}
		if ok && s != h && !strings.HasPrefix(s, "$argon2id$") {
			t.Fatalf("%q matched", s)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.HashPassword("correct horse battery", auth.DefaultParams()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := auth.NewLimiter(3, 10*time.Second, 2)
	for i := range 3 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("a", t0)
	if ok || wait != 10*time.Second {
		t.Fatalf("4th attempt: %v, wait %v; want refused for 10s", ok, wait)
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key shares a's bucket")
	}
	if ok, _ := l.Allow("a", t0.Add(9*time.Second)); ok {
		t.Fatal("refilled too early")
	}
	if ok, _ := l.Allow("a", t0.Add(10*time.Second)); !ok {
		t.Fatal("not refilled after one period")
	}
	l.Reset("a")
	for range 3 {
		if ok, _ := l.Allow("a", t0.Add(10*time.Second)); !ok {
			t.Fatal("reset did not refill")
		}
	}
	// A third key makes room (MaxKeys 2) by forgetting the full bucket
	// (b, refilled by now), never the drained one: spraying keys does not
	// reset a's limit.
	l.Allow("c", t0.Add(10*time.Second))
	if ok, _ := l.Allow("a", t0.Add(10*time.Second)); ok {
		t.Fatal("a's drained bucket was forgotten to make room")
	}
}

func TestSessionLifecycle(t *testing.T) {
	m, st, c := newManager(t, nil)
	cookie, p := login(t, m, "tech", "tech-password")
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP", cookie)
	}
	if p.Name != "tech" || p.Role != auth.Technician || p.Via != "session" || len(p.CSRF()) < 40 {
		t.Fatalf("principal %+v", p)
	}
	got, err := m.Authenticate(withCookie(t, "GET", cookie))
	if err != nil || got.Name != "tech" || got.CSRF() != p.CSRF() {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	// CSRF: a POST needs the session's token.
	post := withCookie(t, "POST", cookie)
	if err := auth.CheckCSRF(post, got); !errors.Is(err, auth.ErrCSRF) {
		t.Fatalf("POST without token: %v", err)
	}
	post.Header.Set(auth.CSRFHeader, p.CSRF()+"x")
	if err := auth.CheckCSRF(post, got); !errors.Is(err, auth.ErrCSRF) {
		t.Fatalf("POST with a wrong token: %v", err)
	}
	post.Header.Set(auth.CSRFHeader, p.CSRF())
	if err := auth.CheckCSRF(post, got); err != nil {
		t.Fatalf("POST with the token: %v", err)
	}
	// Another session has another token.
	_, p2 := login(t, m, "tech", "tech-password")
	if p2.CSRF() == p.CSRF() {
		t.Fatal("two sessions share a CSRF token")
	}
	// Activity keeps it alive; idleness ends it.
	c.Add(20 * time.Minute)
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); err != nil {
		t.Fatalf("after 20m: %v", err)
	}
	c.Add(29 * time.Minute)
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); err != nil {
		t.Fatalf("29m after the last request: %v", err)
	}
	c.Add(31 * time.Minute)
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("31m idle: %v, want unauthenticated", err)
	}
	// Absolute expiry, even when active.
	cookie, _ = login(t, m, "op", "op-password")
	for range 16 {
		c.Add(29 * time.Minute)
		if _, err := m.Authenticate(withCookie(t, "GET", cookie)); err != nil {
			t.Fatalf("active session refused before its TTL: %v", err)
		}
	}
	c.Add(29 * time.Minute) // 8h13m
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("after the TTL: %v", err)
	}
	// Logout ends it; a role change ends the user's sessions.
	cookie, p = login(t, m, "op", "op-password")
	if err := m.Logout(httptest.NewRecorder(), withCookie(t, "POST", cookie), p); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	cookie, _ = login(t, m, "op", "op-password")
	if err := m.SetPassword(t.Context(), "op", auth.Viewer, "op-password", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(withCookie(t, "GET", cookie)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("after a role change: %v", err)
	}
	// Tampered cookies are strangers.
	for _, v := range []string{"", "x", strings.Repeat("A", 43), cookie.Value + "A"} {
		if _, err := m.Authenticate(withCookie(t, "GET", &http.Cookie{Name: auth.CookieName, Value: v})); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("cookie %q: %v", v, err)
		}
	}
	// The audit log names who logged in.
	es, err := st.Audit(t.Context(), store.AuditFilter{Action: "user.login"})
	if err != nil || len(es) < 4 || es[0].Actor != "op" {
		t.Fatalf("login audit = %+v, %v", es, err)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	m, _, _ := newManager(t, nil)
	r := loginReq(t, "10.0.0.1:1")
	r.TLS = &tlsState
	rec := httptest.NewRecorder()
	if _, err := m.Login(rec, r, "tech", "tech-password"); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies()[0]; !c.Secure {
		t.Fatalf("cookie over TLS is not Secure: %+v", c)
	}
	m2, _, _ := newManager(t, func(o *auth.Options) { o.SecureCookies = true })
	rec = httptest.NewRecorder()
	if _, err := m2.Login(rec, loginReq(t, "10.0.0.1:1"), "tech", "tech-password"); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies()[0]; !c.Secure {
		t.Fatalf("SecureCookies: cookie %+v", c)
	}
}

func TestLoginRateLimit(t *testing.T) {
	m, _, c := newManager(t, func(o *auth.Options) {
		o.UserLimit = auth.RateLimit{Burst: 3, Every: time.Minute}
		o.AddrLimit = auth.RateLimit{Burst: 5, Every: time.Minute}
	})
	try := func(name, pw, remote string) error {
		_, err := m.Login(httptest.NewRecorder(), loginReq(t, remote), name, pw)
		return err
	}
	// Per user: 3 wrong guesses from different addresses, then even the
	// right password is refused until the bucket refills.
	for i := range 3 {
		if err := try("tech", "wrong-password", "10.0.1."+string(rune('1'+i))+":1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var rl *auth.RateLimitError
	if err := try("tech", "tech-password", "10.0.2.1:1"); !errors.As(err, &rl) || rl.Key != "user" || rl.RetryAfter <= 0 {
		t.Fatalf("4th attempt: %v, want a per-user rate limit", err)
	}
	c.Add(time.Minute)
	if err := try("tech", "tech-password", "10.0.2.1:1"); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	// A success refills the user's bucket.
	for range 2 {
		try("op", "wrong-password", "10.0.3.1:1")
	}
	if err := try("op", "op-password", "10.0.3.1:1"); err != nil {
		t.Fatal(err)
	}
	// Per address: one address trying many names.
	for i := range 2 {
		try("nobody"+string(rune('a'+i)), "x-password", "10.0.3.1:1")
	}
	if err := try("nobody-z", "x-password", "10.0.3.1:1"); !errors.As(err, &rl) || rl.Key != "address" {
		t.Fatalf("6th attempt from one address: %v, want a per-address rate limit", err)
	}
	// A huge or malformed name fails without a hash or a limiter entry.
	if err := try(strings.Repeat("n", 1<<20), "x-password", "10.0.5.1:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("1 MiB name: %v", err)
	}
	// Unknown users cost a hash too and fail the same way.
	if err := try("ghost", "x-password", "10.0.4.1:1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestTokens(t *testing.T) {
	m, st, c := newManager(t, nil)
	secret, tok, err := m.CreateToken(t.Context(), "ci", auth.Operator, 24*time.Hour, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "mwt_") || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	bearer := func(s string) *http.Request {
		r := httptest.NewRequestWithContext(t.Context(), "POST", "http://hub/api/v1/promotions", nil)
		r.Header.Set("Authorization", "Bearer "+s)
		return r
	}
	p, err := m.Authenticate(bearer(secret))
	if err != nil || p.Role != auth.Operator || p.Via != "token" || p.Name != "token:ci" {
		t.Fatalf("bearer = %+v, %v", p, err)
	}
	if err := auth.CheckCSRF(bearer(secret), p); err != nil {
		t.Fatalf("a bearer POST needs no CSRF token: %v", err)
	}
	for _, s := range []string{"", secret + "x", "mwt_nope", strings.TrimPrefix(secret, "mwt_")} {
		if _, err := m.Authenticate(bearer(s)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("token %q: %v", s, err)
		}
	}
	// Only the hash is stored.
	ts, err := st.Tokens(t.Context())
	if err != nil || len(ts) != 1 || strings.Contains(string(ts[0].Hash), secret) || len(ts[0].Hash) != 32 {
		t.Fatalf("stored tokens %+v, %v", ts, err)
	}
	c.Add(25 * time.Hour)
	if _, err := m.Authenticate(bearer(secret)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}
	secret, tok, _ = m.CreateToken(t.Context(), "ci2", auth.Viewer, 0, "admin")
	if err := st.RevokeToken(t.Context(), tok.ID, "admin", c.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(bearer(secret)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		method, origin, fetchSite string
		ok                        bool
	}{
		{"POST", "", "", true},
		{"POST", "http://hub", "same-origin", true},
		{"POST", "https://hub", "", true},
		{"POST", "http://evil.example", "", false},
		{"POST", "http://hub.evil.example", "", false},
		{"POST", "null", "", false},
		{"POST", "", "cross-site", false},
		{"DELETE", "http://evil.example", "", false},
		{"GET", "http://evil.example", "cross-site", true}, // reads change nothing
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://hub/api/v1/x", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.fetchSite != "" {
			r.Header.Set("Sec-Fetch-Site", tt.fetchSite)
		}
		if err := auth.CheckOrigin(r); (err == nil) != tt.ok {
			t.Errorf("%s Origin %q Sec-Fetch-Site %q: %v, want ok=%v", tt.method, tt.origin, tt.fetchSite, err, tt.ok)
		}
	}
}

func TestDemoUsers(t *testing.T) {
	m, st, _ := newManager(t, nil)
	creds, err := m.DemoUsers(t.Context(), "")
	if err != nil || len(creds) != 4 {
		t.Fatalf("DemoUsers = %v, %v", creds, err)
	}
	seen := map[string]bool{}
	for _, c := range creds {
		if c.Name != c.Role.String() || len(c.Password) != 16 || seen[c.Password] {
			t.Fatalf("demo login %+v", c)
		}
		seen[c.Password] = true
		if _, err := m.Login(httptest.NewRecorder(), loginReq(t, "10.9.0.1:1"), c.Name, c.Password); err != nil {
			t.Fatalf("demo login %s: %v", c.Name, err)
		}
	}
	// A second start resets them: the printed passwords always work.
	again, _ := m.DemoUsers(t.Context(), "configured-demo-pw")
	if again[0].Password != "configured-demo-pw" {
		t.Fatalf("configured password not used: %+v", again[0])
	}
	if u, err := st.User(t.Context(), "admin"); err != nil || u.Role != "admin" || strings.Contains(u.Password, "configured") {
		t.Fatalf("stored admin %+v, %v", u, err)
	}
}

func TestRoles(t *testing.T) {
	for _, r := range auth.Roles() {
		got, err := auth.ParseRole(r.String())
		if err != nil || got != r {
			t.Fatalf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	if _, err := auth.ParseRole("root"); err == nil {
		t.Fatal("root is a role")
	}
	p := auth.Principal{Role: auth.Technician}
	if !p.Can(auth.Viewer) || !p.Can(auth.Technician) || p.Can(auth.Operator) || p.Can(auth.Admin) {
		t.Fatal("technician's abilities are wrong")
	}
}

// FuzzAuthenticate feeds arbitrary cookies and Authorization headers (the
// untrusted input of every request): never a panic, never a principal.
func FuzzAuthenticate(f *testing.F) {
	m, _, _ := newManager(f, nil)
	f.Add("AAAA", "Bearer mwt_x")
	f.Add("F4NZhPrtf94gt4RmPeyi4rlsidz2DBzARe3SyLA8-Ls", "")
	f.Add("", "Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, cookie, authz string) {
		r := httptest.NewRequest("GET", "http://hub/api/v1/status", nil)
		r.Header.Set("Cookie", auth.CookieName+"="+cookie)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if p, err := m.Authenticate(r); err == nil {
			t.Fatalf("cookie %q, authorization %q authenticated as %+v", cookie, authz, p)
		}
	})
}
