package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/api"
	"millwright/hub/auth"
	"millwright/hub/config"
)

// DemoLoginsFile, in the data directory, holds the demo users' logins
// (mode 0600) in demo mode, for scripts.
const DemoLoginsFile = "demo-logins.txt"

// setupAuth builds the event stream and, unless opts.Auth.Mode is off or
// empty, the login manager; in demo mode it creates the demo users.
func (s *Server) setupAuth(ctx context.Context, reg prometheus.Registerer) error {
	s.stream = api.NewStream(api.StreamOptions{Registerer: reg})
	a := s.opts.Auth
	if a.Mode == "" || a.Mode == config.AuthOff {
		if a.Mode == config.AuthOff {
			s.log.Warn("authentication is off: anyone who reaches the HTTP port may change models and alerts", "http", s.opts.HTTPAddr)
		}
		return nil
	}
	ll := a.LoginLimit
	var err error
	s.auth, err = auth.New(auth.Options{Store: s.store, Params: s.opts.AuthParams, SessionTTL: a.SessionTTL.D(), IdleTimeout: a.IdleTimeout.D(),
		SecureCookies: a.SecureCookies, UserLimit: auth.RateLimit{Burst: ll.UserBurst, Every: ll.UserEvery.D()},
		AddrLimit: auth.RateLimit{Burst: ll.AddressBurst, Every: ll.AddressEvery.D()},
		Now:       s.opts.Now, Logger: s.opts.Logger.With("component", "auth")})
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	switch a.Mode {
	case config.AuthDemo:
		if s.demo, err = s.auth.DemoUsers(ctx, a.DemoPassword.Value()); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		var b strings.Builder
		for _, c := range s.demo {
			fmt.Fprintf(&b, "%s %s %s\n", c.Name, c.Role, c.Password)
		}
		path := filepath.Join(s.opts.DataDir, DemoLoginsFile)
		_ = os.Remove(path) // a fresh file, so it gets mode 0600 whatever was there
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return fmt.Errorf("auth: write demo logins: %w", err)
		}
	case config.AuthRequired:
		us, err := s.store.Users(ctx)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if len(us) == 0 {
			s.log.Warn("no users yet: nobody can log in; create one with: hub user add --name NAME --role admin")
		}
	}
	return nil
}

// DemoLogins are the demo users' logins (demo mode only; else nil).
func (s *Server) DemoLogins() []auth.Credential { return s.demo }

// Auth is the hub's login manager, nil when authentication is off.
func (s *Server) Auth() *auth.Manager { return s.auth }
