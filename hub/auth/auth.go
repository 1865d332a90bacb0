package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"millwright/hub/store"
)

// Cookie and header names.
const (
	CookieName   = "mw_session"
	CSRFHeader   = "X-CSRF-Token"
	tokenPrefix  = "mwt_"
	touchEvery   = time.Minute // last-seen writes are at most this often per session or token
	cleanupEvery = 10 * time.Minute
)

// Errors of Login and Authenticate.
var (
	ErrBadCredentials  = errors.New("wrong user name or password")
	ErrUnauthenticated = errors.New("not logged in")
	ErrCSRF            = errors.New("missing or wrong CSRF token: send the X-CSRF-Token header that GET /api/v1/session returns")
	ErrOrigin          = errors.New("cross-origin request refused")
)

// RateLimitError is returned by Login when too many attempts were made.
type RateLimitError struct {
	Key        string // "user" or "address"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many login attempts for this %s: try again in %v", e.Key, e.RetryAfter.Round(time.Second))
}

// RateLimit is a token bucket: Burst attempts at once, then one per Every.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// Options configure New. Store is required; the zero value of the rest
// takes the defaults noted.
type Options struct {
	Store *store.Store
	// Params of new password hashes; default DefaultParams().
	Params Params
	// SessionTTL bounds a session's life; default 12h.
	SessionTTL time.Duration
	// IdleTimeout ends a session without requests this long; default 30m.
	IdleTimeout time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests (behind a TLS-terminating proxy). Requests over TLS always
	// get Secure cookies.
	SecureCookies bool
	// UserLimit and AddrLimit bound login attempts per user name (default
	// 5, then one per 20s) and per client address (20, then one per 3s).
	UserLimit RateLimit
	AddrLimit RateLimit
	// MaxHashing bounds concurrent password hashes (memory); default 2.
	MaxHashing int
	Now        func() time.Time
	Logger     *slog.Logger
}

// Manager logs users in and authenticates requests.
type Manager struct {
	opts      Options
	log       *slog.Logger
	users     *Limiter
	addrs     *Limiter
	hashing   chan struct{}
	dummyHash string // verified for unknown users, so they cost the same
}

// New returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: no store")
	}
	if opts.Params == (Params{}) {
		opts.Params = DefaultParams()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.UserLimit.Burst <= 0 || opts.UserLimit.Every <= 0 {
		opts.UserLimit = RateLimit{Burst: 5, Every: 20 * time.Second}
	}
	if opts.AddrLimit.Burst <= 0 || opts.AddrLimit.Every <= 0 {
		opts.AddrLimit = RateLimit{Burst: 20, Every: 3 * time.Second}
	}
	if opts.MaxHashing <= 0 {
		opts.MaxHashing = 2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dummy, err := HashPassword("not a password of anyone", opts.Params)
	if err != nil {
		return nil, err
	}
	return &Manager{
		opts:      opts,
		log:       opts.Logger,
		users:     NewLimiter(opts.UserLimit.Burst, opts.UserLimit.Every, 10000),
		addrs:     NewLimiter(opts.AddrLimit.Burst, opts.AddrLimit.Every, 10000),
		hashing:   make(chan struct{}, opts.MaxHashing),
		dummyHash: dummy,
	}, nil
}

// Principal is who made a request.
type Principal struct {
	Name    string
	Role    Role
	Via     string // "session", "token" or "open" (authentication off)
	TokenID string // with Via "token"

	session []byte // id hash, with Via "session"
	csrf    string
}

// Can reports whether p holds at least role r.
func (p Principal) Can(r Role) bool { return p.Role >= r }

// CSRF is the synchronizer token a session's state-changing requests must
// send in the X-CSRF-Token header ("" for other principals).
func (p Principal) CSRF() string { return p.csrf }

// Open is the principal of every request when authentication is off.
func Open() Principal { return Principal{Name: "anonymous", Role: Admin, Via: "open"} }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal WithPrincipal stored.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// ValidName reports whether s is an acceptable user or token name: 1-64
// letters, digits, '.', '_', '-' or '@'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)
		if !ok {
			return false
		}
	}
	return true
}

func (m *Manager) hash(ctx context.Context, f func()) error {
	select {
	case m.hashing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.hashing }()
	f()
	return nil
}

// SetPassword creates the user or sets its role and password.
func (m *Manager) SetPassword(ctx context.Context, name string, role Role, password, by string) error {
	if !ValidName(name) {
		return fmt.Errorf("user name %q: want 1-64 letters, digits, '.', '_', '-' or '@'", name)
	}
	if role == RoleNone {
		return errors.New("user: a role is required")
	}
	var h string
	var err error
	if herr := m.hash(ctx, func() { h, err = HashPassword(password, m.opts.Params) }); herr != nil {
		return herr
	}
	if err != nil {
		return err
	}
	_, err = m.opts.Store.PutUser(ctx, store.User{Name: name, Role: role.String(), Password: h}, by, m.opts.Now())
	return err
}

func sessionHash(raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte("millwright session\x00"))
	h.Write(raw)
	return h.Sum(nil)
}

func csrfToken(raw []byte) string {
	h := sha256.New()
	h.Write([]byte("millwright csrf\x00"))
	h.Write(raw)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ClientAddr is the request's peer address without its port (forwarding
// headers are not trusted).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Login checks name and password, rate-limited per user name and per
// client address, and starts a session: it sets the session cookie on w
// and returns the new principal.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, name, password string) (Principal, error) {
	ctx := r.Context()
	now := m.opts.Now()
	addr := ClientAddr(r)
	if ok, wait := m.addrs.Allow(addr, now); !ok {
		m.log.Warn("login rate-limited", "by", "address", "remote", addr)
		return Principal{}, &RateLimitError{Key: "address", RetryAfter: wait}
	}
	if !ValidName(name) || len(password) > MaxPasswordLen {
		// No such user can exist; bounding the name also bounds the
		// per-user limiter's keys.
		m.log.Warn("login failed", "reason", "malformed", "remote", addr)
		return Principal{}, ErrBadCredentials
	}
	userKey := strings.ToLower(name)
	if ok, wait := m.users.Allow(userKey, now); !ok {
		m.log.Warn("login rate-limited", "by", "user", "user", name, "remote", addr)
		return Principal{}, &RateLimitError{Key: "user", RetryAfter: wait}
	}
	u, err := m.opts.Store.User(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Principal{}, err
	}
	encoded := m.dummyHash
	if known {
		encoded = u.Password
	}
	var match bool
	var verr error
	if herr := m.hash(ctx, func() { match, verr = VerifyPassword(encoded, password) }); herr != nil {
		return Principal{}, herr
	}
	if verr != nil {
		m.log.Error("stored password hash unreadable", "user", name, "err", verr)
	}
	role, rerr := ParseRole(u.Role)
	if !known || !match || verr != nil || rerr != nil {
		m.log.Warn("login failed", "user", name, "remote", addr)
		return Principal{}, ErrBadCredentials
	}
	m.users.Reset(userKey)
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Principal{}, fmt.Errorf("session id: %w", err)
	}
	se := store.Session{IDHash: sessionHash(raw), User: u.Name, Created: now, LastSeen: now, Expires: now.Add(m.opts.SessionTTL), Remote: addr}
	if err := m.opts.Store.CreateSession(ctx, se); err != nil {
		return Principal{}, err
	}
	http.SetCookie(w, m.cookie(r, base64.RawURLEncoding.EncodeToString(raw), int(m.opts.SessionTTL/time.Second)))
	m.log.Info("login", "user", u.Name, "role", role, "remote", addr)
	return Principal{Name: u.Name, Role: role, Via: "session", session: se.IDHash, csrf: csrfToken(raw)}, nil
}

func (m *Manager) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || m.opts.SecureCookies}
}

// Logout ends p's session (if it is one) and clears the cookie.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request, p Principal) error {
	http.SetCookie(w, m.cookie(r, "", -1))
	if p.Via != "session" {
		return nil
	}
	return m.opts.Store.DeleteSession(r.Context(), p.session, p.Name, m.opts.Now())
}

// Authenticate finds who made r: a bearer token in Authorization, else
// the session cookie. It returns ErrUnauthenticated when there is neither
// or they are not valid (expired, idle, revoked).
func (m *Manager) Authenticate(r *http.Request) (Principal, error) {
	ctx := r.Context()
	now := m.opts.Now()
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
			return Principal{}, ErrUnauthenticated
		}
		t, err := m.opts.Store.TokenByHash(ctx, tokenHash(strings.TrimSpace(secret)), now)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, ErrUnauthenticated
		}
		if err != nil {
			return Principal{}, err
		}
		role, err := ParseRole(t.Role)
		if err != nil {
			return Principal{}, ErrUnauthenticated
		}
		if now.Sub(t.LastUsed) > touchEvery {
			if err := m.opts.Store.TouchToken(ctx, t.ID, now); err != nil {
				m.log.Warn("touch token", "err", err)
			}
		}
		return Principal{Name: "token:" + t.Name, Role: role, Via: "token", TokenID: t.ID}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 32 {
		return Principal{}, ErrUnauthenticated
	}
	hash := sessionHash(raw)
	se, err := m.opts.Store.SessionByHash(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if now.Sub(se.LastSeen) > m.opts.IdleTimeout {
		if err := m.opts.Store.DeleteSession(ctx, hash, "", now); err != nil {
			m.log.Warn("delete idle session", "err", err)
		}
		return Principal{}, ErrUnauthenticated
	}
	role, err := ParseRole(se.Role)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	if now.Sub(se.LastSeen) > touchEvery {
		if err := m.opts.Store.TouchSession(ctx, hash, now); err != nil {
			m.log.Warn("touch session", "err", err)
		}
	}
	return Principal{Name: se.User, Role: role, Via: "session", session: hash, csrf: csrfToken(raw)}, nil
}

// Unsafe reports whether method changes state (anything but GET, HEAD,
// OPTIONS and TRACE).
func Unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// CheckOrigin refuses a state-changing request that a browser marks as
// coming from another site: an Origin header naming another host, or
// Sec-Fetch-Site cross-site.
func CheckOrigin(r *http.Request) error {
	if !Unsafe(r.Method) {
		return nil
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return ErrOrigin
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	_, host, ok := strings.Cut(o, "://")
	if !ok || !strings.EqualFold(host, r.Host) {
		return ErrOrigin
	}
	return nil
}

// CheckCSRF refuses a state-changing request of a cookie session that
// lacks the session's token in X-CSRF-Token, or that fails CheckOrigin.
func CheckCSRF(r *http.Request, p Principal) error {
	if !Unsafe(r.Method) {
		return nil
	}
	if err := CheckOrigin(r); err != nil {
		return err
	}
	if p.Via != "session" {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
		return ErrCSRF
	}
	return nil
}

// CreateToken makes an API token with role for name; the returned secret
// is shown once and only its hash is stored. ttl 0 never expires.
func (m *Manager) CreateToken(ctx context.Context, name string, role Role, ttl time.Duration, by string) (string, store.APIToken, error) {
	if !ValidName(name) {
		return "", store.APIToken{}, fmt.Errorf("token name %q: want 1-64 letters, digits, '.', '_', '-' or '@'", name)
	}
	if role == RoleNone {
		return "", store.APIToken{}, errors.New("token: a role is required")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", store.APIToken{}, fmt.Errorf("token secret: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := m.opts.Now().UTC()
	t := store.APIToken{ID: store.NewID("tok-"), Name: name, Role: role.String(), Hash: tokenHash(secret), Created: now, CreatedBy: by}
	if ttl > 0 {
		t.Expires = now.Add(ttl)
	}
	if err := m.opts.Store.CreateToken(ctx, t); err != nil {
		return "", store.APIToken{}, err
	}
	return secret, t, nil
}

// Credential is a demo user's login.
type Credential struct {
	Name     string
	Role     Role
	Password string
}

// DemoUsers makes sure a user named after each role exists with password
// (a fresh random one per user when empty), and returns their logins.
// Passwords of existing demo users are reset, so the printed ones work.
func (m *Manager) DemoUsers(ctx context.Context, password string) ([]Credential, error) {
	var out []Credential
	for _, r := range Roles() {
		pw := password
		if pw == "" {
			pw = RandomPassword()
		}
		if err := m.SetPassword(ctx, r.String(), r, pw, "hub/demo"); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", r, err)
		}
		out = append(out, Credential{Name: r.String(), Role: r, Password: pw})
	}
	return out, nil
}

// RandomPassword returns 16 random characters (about 95 bits).
func RandomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 0, 16)
	b := make([]byte, 32)
	for len(out) < cap(out) {
		if _, err := rand.Read(b); err != nil {
			panic("auth: no randomness: " + err.Error()) // crypto/rand does not fail on supported platforms
		}
		for _, c := range b {
			// Rejection sampling: only bytes below a multiple of the
			// alphabet's size, so every character is equally likely.
			if int(c) < 256/len(alphabet)*len(alphabet) && len(out) < cap(out) {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// Run deletes expired and idle sessions every 10 minutes until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		now := m.opts.Now()
		if n, err := m.opts.Store.DeleteStaleSessions(ctx, now, now.Add(-m.opts.IdleTimeout)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Warn("delete stale sessions", "err", err)
		} else if n > 0 {
			m.log.Info("stale sessions deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
