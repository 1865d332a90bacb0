// Package auth is the hub's login: users with roles, memory-hard password
// hashes, browser sessions with CSRF protection, rate-limited login and
// bearer API tokens for automation.
//
// # Roles
//
// Roles are ordered: viewer < technician < operator < admin. A viewer reads
// everything; a technician also acknowledges, resolves and labels alerts;
// an operator also deploys challengers, promotes and rolls back; an admin
// also manages users and API tokens. A route names the least role it
// needs (Principal.Can).
//
// # Passwords
//
// Passwords are hashed with argon2id (RFC 9106) and stored in the PHC
// string format, so the parameters travel with each hash and can be raised
// later without invalidating old hashes. DefaultParams are OWASP's argon2id
// settings (19 MiB, 2 passes, 1 lane); at most Options.MaxHashing hashes
// run at once so a burst of logins cannot exhaust memory. Comparison is constant-time, and an unknown user
// costs the same hash as a known one.
//
// # Sessions and CSRF
//
// A session id is 256 random bits, sent only in an HttpOnly, SameSite=Strict
// cookie (Secure when the request came over TLS or Options.SecureCookies);
// the store keeps only its SHA-256. Sessions end after Options.SessionTTL
// or Options.IdleTimeout without a request. Every state-changing request
// (POST, PUT, PATCH, DELETE) of a cookie session must carry the session's
// synchronizer token in the X-CSRF-Token header; the token is derived from
// the session id (a domain-separated SHA-256), so it is bound to the
// session, needs no storage and dies with it. A present Origin header must
// name the hub's own host, and Sec-Fetch-Site must not say cross-site.
// Bearer tokens need no CSRF token: a browser never sends them on its own.
//
// # Rate limits
//
// Login attempts draw from two token buckets, one per user name and one
// per client address (Limiter, a small keyed token bucket with a bounded
// key set): the first stops guessing one account's password from many
// addresses, the second stops one address from trying many accounts.
package auth
