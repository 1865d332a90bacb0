package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"millwright/hub/auth"
	"millwright/hub/store"
)

// route registers fn at pattern behind the login: the caller must be
// authenticated (session cookie or bearer token), hold at least role need,
// and a cookie session's state-changing request must carry its CSRF token
// and come from the hub's own origin. Without Options.Auth every request
// acts as auth.Open(), an admin.
func (h *handler) route(pattern string, need auth.Role, fn http.HandlerFunc) {
	h.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.Open()
		if h.opts.Auth != nil {
			var err error
			p, err = h.opts.Auth.Authenticate(r)
			if errors.Is(err, auth.ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="millwright"`)
				writeError(w, http.StatusUnauthorized, "not logged in: log in (POST /api/v1/login) or send Authorization: Bearer <token>")
				return
			}
			if err != nil {
				h.internal(w, r, err)
				return
			}
			if err := auth.CheckCSRF(r, p); err != nil {
				h.log.Warn("request refused", "reason", err, "method", r.Method, "path", r.URL.Path, "user", p.Name, "remote", r.RemoteAddr)
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		if !p.Can(need) {
			h.log.Warn("request refused", "reason", "role", "need", need, "role", p.Role, "method", r.Method, "path", r.URL.Path, "user", p.Name)
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s %s needs the %s role; %s is a %s", r.Method, r.URL.Path, need, p.Name, p.Role))
			return
		}
		fn(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	}))
}

func (h *handler) authRoutes() {
	h.mux.HandleFunc("POST /api/v1/login", h.login)
	h.mux.HandleFunc("GET /api/v1/session", h.session)
	h.route("POST /api/v1/logout", auth.Viewer, h.logout)
	h.route("GET /api/v1/users", auth.Admin, h.users)
	h.route("PUT /api/v1/users/{name}", auth.Admin, h.putUser)
	h.route("DELETE /api/v1/users/{name}", auth.Admin, h.deleteUser)
	h.route("GET /api/v1/tokens", auth.Admin, h.tokens)
	h.route("POST /api/v1/tokens", auth.Admin, h.createToken)
	h.route("DELETE /api/v1/tokens/{id}", auth.Admin, h.revokeToken)
}

// Session is the body of GET /api/v1/session and POST /api/v1/login.
type Session struct {
	// Auth is "required" when the hub needs a login, "off" when it is open.
	Auth          string `json:"auth"`
	Authenticated bool   `json:"authenticated"`
	Name          string `json:"name,omitempty"`
	Role          string `json:"role,omitempty"`
	Via           string `json:"via,omitempty"`
	// CSRF goes in the X-CSRF-Token header of every POST, PUT, PATCH and
	// DELETE of this session.
	CSRF string `json:"csrf,omitempty"`
}

func sessionBody(p auth.Principal) Session {
	mode := "required"
	if p.Via == "open" {
		mode = "off"
	}
	return Session{Auth: mode, Authenticated: true, Name: p.Name, Role: p.Role.String(), Via: p.Via, CSRF: p.CSRF()}
}

// session answers 200 whether or not the caller is logged in, so the UI
// can ask without an error: authenticated tells.
func (h *handler) session(w http.ResponseWriter, r *http.Request) {
	if h.opts.Auth == nil {
		writeJSON(w, http.StatusOK, sessionBody(auth.Open()))
		return
	}
	p, err := h.opts.Auth.Authenticate(r)
	if errors.Is(err, auth.ErrUnauthenticated) {
		writeJSON(w, http.StatusOK, Session{Auth: "required"})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionBody(p))
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if h.opts.Auth == nil {
		writeError(w, http.StatusConflict, "this hub has no login (auth.mode: off)")
		return
	}
	if err := auth.CheckOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if !decode(w, r, &body) {
		return
	}
	p, err := h.opts.Auth.Login(w, r, body.Name, body.Password)
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, rl.Error())
	case errors.Is(err, auth.ErrBadCredentials):
		writeError(w, http.StatusUnauthorized, err.Error())
	case err != nil:
		h.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, sessionBody(p))
	}
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if h.opts.Auth != nil {
		if err := h.opts.Auth.Logout(w, r, p); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) needAuth(w http.ResponseWriter) bool {
	if h.opts.Auth == nil {
		writeError(w, http.StatusServiceUnavailable, "users are not configured on this hub (auth.mode: off)")
		return false
	}
	return true
}

func (h *handler) users(w http.ResponseWriter, r *http.Request) {
	us, err := h.opts.Store.Users(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (h *handler) putUser(w http.ResponseWriter, r *http.Request) {
	if !h.needAuth(w) {
		return
	}
	var body struct {
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if !decode(w, r, &body) {
		return
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := r.PathValue("name")
	if err := h.opts.Auth.SetPassword(r.Context(), name, role, body.Password, who(r, "")); err != nil {
		if errors.Is(err, auth.ErrWeakPassword) || !auth.ValidName(name) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		h.fail(w, r, err)
		return
	}
	u, err := h.opts.Store.User(r.Context(), name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == who(r, "") {
		writeError(w, http.StatusConflict, "you cannot delete yourself")
		return
	}
	if err := h.opts.Store.DeleteUser(r.Context(), name, who(r, ""), h.opts.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) tokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.opts.Store.Tokens(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

// CreatedToken is the body of POST /api/v1/tokens: Token is the secret,
// shown this once.
type CreatedToken struct {
	store.APIToken
	Token string `json:"token"`
}

func (h *handler) createToken(w http.ResponseWriter, r *http.Request) {
	if !h.needAuth(w) {
		return
	}
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
		TTL  string `json:"ttl"` // duration, "d" allowed; empty never expires
	}
	if !decode(w, r, &body) {
		return
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if body.TTL != "" {
		if ttl, err = parseDays(body.TTL); err != nil {
			writeError(w, http.StatusBadRequest, "ttl: want a duration (90d, 12h)")
			return
		}
	}
	secret, t, err := h.opts.Auth.CreateToken(r.Context(), body.Name, role, ttl, who(r, ""))
	if err != nil {
		if !auth.ValidName(body.Name) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreatedToken{APIToken: t, Token: secret})
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := h.opts.Store.RevokeToken(r.Context(), r.PathValue("id"), who(r, ""), h.opts.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
