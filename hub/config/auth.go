package config

import (
	"fmt"
	"net"
	"time"

	"millwright/internal/conf"
)

// Auth modes.
const (
	// AuthRequired needs a login or API token for the API and UI; users
	// are created with `hub user add`. For production.
	AuthRequired = "required"
	// AuthDemo is AuthRequired with the users admin, operator, technician
	// and viewer created (or reset) at start, their passwords printed.
	AuthDemo = "demo"
	// AuthOff leaves the API open; only allowed on a loopback listener.
	AuthOff = "off"
)

// Auth is the hub's login (see hub/auth).
type Auth struct {
	// Mode is required, demo or off.
	Mode string `yaml:"mode"`
	// SessionTTL bounds a login session; IdleTimeout ends one unused this long.
	SessionTTL  conf.Duration `yaml:"session_ttl"`
	IdleTimeout conf.Duration `yaml:"idle_timeout"`
	// SecureCookies marks session cookies Secure on plain HTTP too (behind
	// a TLS-terminating proxy); over TLS they always are.
	SecureCookies bool `yaml:"secure_cookies"`
	// DemoPassword, in demo mode, is every demo user's password; empty
	// generates one per user at each start.
	DemoPassword conf.Secret `yaml:"demo_password"`
	// LoginLimit bounds login attempts per user name and per client address.
	LoginLimit LoginLimit `yaml:"login_limit"`
}

// LoginLimit is two token buckets: burst attempts, then one per every.
type LoginLimit struct {
	UserBurst    int           `yaml:"user_burst"`
	UserEvery    conf.Duration `yaml:"user_every"`
	AddressBurst int           `yaml:"address_burst"`
	AddressEvery conf.Duration `yaml:"address_every"`
}

// DefaultAuth is the demo's login: users created and printed at start.
func DefaultAuth() Auth {
	return Auth{
		Mode:        AuthDemo,
		SessionTTL:  conf.Duration(12 * time.Hour),
		IdleTimeout: conf.Duration(30 * time.Minute),
		LoginLimit: LoginLimit{UserBurst: 5, UserEvery: conf.Duration(20 * time.Second),
			AddressBurst: 20, AddressEvery: conf.Duration(3 * time.Second)},
	}
}

// validate checks the section; listen is http.listen (mode off needs
// loopback).
func (a *Auth) validate(listen string) error {
	switch a.Mode {
	case AuthRequired, AuthDemo:
	case AuthOff:
		host, _, _ := net.SplitHostPort(listen)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("auth.mode: off is only allowed with a loopback http.listen, not %q", listen)
		}
	default:
		return fmt.Errorf("auth.mode: %q: want required, demo or off", a.Mode)
	}
	switch {
	case a.SessionTTL.D() < time.Minute:
		return fmt.Errorf("auth.session_ttl: %v is under the minimum of 1m", a.SessionTTL.D())
	case a.IdleTimeout.D() < time.Minute:
		return fmt.Errorf("auth.idle_timeout: %v is under the minimum of 1m", a.IdleTimeout.D())
	case a.IdleTimeout.D() > a.SessionTTL.D():
		return fmt.Errorf("auth.idle_timeout: %v is longer than session_ttl %v", a.IdleTimeout.D(), a.SessionTTL.D())
	case !a.DemoPassword.IsZero() && len(a.DemoPassword.Value()) < 10:
		return fmt.Errorf("auth.demo_password: want at least 10 characters")
	case !a.DemoPassword.IsZero() && a.Mode != AuthDemo:
		return fmt.Errorf("auth.demo_password: only used with mode demo")
	case a.LoginLimit.UserBurst < 1 || a.LoginLimit.AddressBurst < 1:
		return fmt.Errorf("auth.login_limit: bursts must be at least 1")
	case a.LoginLimit.UserEvery.D() < time.Millisecond || a.LoginLimit.AddressEvery.D() < time.Millisecond:
		return fmt.Errorf("auth.login_limit: refill periods must be at least 1ms")
	}
	return nil
}
