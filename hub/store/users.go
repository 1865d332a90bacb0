package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a person who may log in to the hub. Role is one of viewer,
// technician, operator or admin (hub/auth gives them meaning); Password is
// an encoded password hash, never the password.
type User struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Password string    `json:"-"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	By       string    `json:"by,omitempty"`
}

// PutUser creates the user or replaces its role and password hash, and
// audits the change (never the hash) as done by by. Changing either ends
// the user's sessions.
func (s *Store) PutUser(ctx context.Context, u User, by string, now time.Time) (User, error) {
	if u.Name == "" || u.Role == "" || u.Password == "" {
		return User{}, fmt.Errorf("put user: name, role and password hash are required: %w", ErrInvalid)
	}
	at := now.UnixNano()
	err := s.write(ctx, "put user", func(tx *sql.Tx) error {
		var before *User
		if old, err := userTx(ctx, tx, u.Name); err == nil {
			before = &old
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password, created, updated, by) VALUES (?1, ?2, ?3, ?4, ?4, ?5)
			ON CONFLICT (name) DO UPDATE SET role = ?2, password = ?3, updated = ?4, by = ?5`, u.Name, u.Role, u.Password, at, by); err != nil {
			return err
		}
		var err error
		if u, err = userTx(ctx, tx, u.Name); err != nil {
			return err
		}
		if before != nil && (before.Role != u.Role || before.Password != u.Password) {
			// A changed role or password ends the user's sessions: they
			// log in again, with what they may now do.
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, u.Name); err != nil {
				return err
			}
		}
		ch := Change{Actor: by, Action: "user.create", Subject: "user/" + u.Name, After: u}
		if before != nil {
			ch.Action, ch.Before = "user.update", before
		}
		return audit(ctx, tx.ExecContext, at, ch)
	})
	return u, err
}

// User returns the named user, or ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (User, error) {
	return userTx(ctx, s.db, name)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userTx(ctx context.Context, q queryRower, name string) (User, error) {
	var u User
	var c, up int64
	err := q.QueryRowContext(ctx, `SELECT name, role, password, created, updated, by FROM users WHERE name = ?`, name).
		Scan(&u.Name, &u.Role, &u.Password, &c, &up, &u.By)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	u.Created, u.Updated = time.Unix(0, c).UTC(), time.Unix(0, up).UTC()
	return u, nil
}

// Users lists every user by name. Password holds the hash, which JSON
// never shows.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, password, created, updated, by FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var c, up int64
		if err := rows.Scan(&u.Name, &u.Role, &u.Password, &c, &up, &u.By); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created, u.Updated = time.Unix(0, c).UTC(), time.Unix(0, up).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser deletes a user and its sessions, audited as done by by.
func (s *Store) DeleteUser(ctx context.Context, name, by string, now time.Time) error {
	return s.write(ctx, "delete user", func(tx *sql.Tx) error {
		old, err := userTx(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: by, Action: "user.delete", Subject: "user/" + name, Before: old})
	})
}

// Session is a logged-in browser. IDHash is a hash of the secret session
// id in the cookie; the id itself is never stored.
type Session struct {
	IDHash   []byte
	User     string
	Role     string // the user's current role (read with the session)
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	Remote   string
}

// CreateSession stores a new session and audits the login.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	return s.write(ctx, "create session", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user, created, last_seen, expires, remote) VALUES (?, ?, ?, ?, ?, ?)`,
			se.IDHash, se.User, se.Created.UnixNano(), se.LastSeen.UnixNano(), se.Expires.UnixNano(), se.Remote); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, se.Created.UnixNano(), Change{Actor: se.User, Action: "user.login", Subject: "user/" + se.User,
			After: map[string]string{"remote": se.Remote}})
	})
}

// SessionByHash returns the session with this id hash and its user's
// current role, or ErrNotFound (also for an expired one).
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (Session, error) {
	var se Session
	var c, l, e int64
	err := s.db.QueryRowContext(ctx, `SELECT s.id_hash, s.user, u.role, s.created, s.last_seen, s.expires, s.remote
		FROM sessions s JOIN users u ON u.name = s.user WHERE s.id_hash = ? AND s.expires > ?`, hash, now.UnixNano()).
		Scan(&se.IDHash, &se.User, &se.Role, &c, &l, &e, &se.Remote)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	se.Created, se.LastSeen, se.Expires = time.Unix(0, c).UTC(), time.Unix(0, l).UTC(), time.Unix(0, e).UTC()
	return se, nil
}

// TouchSession records activity on a session.
func (s *Store) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id_hash = ?`, now.UnixNano(), hash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session (logout); a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte, by string, now time.Time) error {
	return s.write(ctx, "delete session", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || by == "" {
			return nil
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: by, Action: "user.logout", Subject: "user/" + by})
	})
}

// DeleteStaleSessions deletes sessions expired at now or idle since
// before idleSince, and returns how many.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ? OR last_seen < ?`, now.UnixNano(), idleSince.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("delete stale sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// APIToken is a bearer token for automation. Hash is a hash of the
// secret, which is shown once when the token is created and never stored.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      []byte    `json:"-"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
}

func nsOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func zeroOrNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// CreateToken stores a new API token and audits it (never its hash).
func (s *Store) CreateToken(ctx context.Context, t APIToken) error {
	if t.ID == "" || t.Name == "" || t.Role == "" || len(t.Hash) == 0 {
		return fmt.Errorf("create token: id, name, role and hash are required: %w", ErrInvalid)
	}
	return s.write(ctx, "create token", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created, created_by, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Role, t.Hash, t.Created.UnixNano(), t.CreatedBy, zeroOrNs(t.Expires)); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, t.Created.UnixNano(), Change{Actor: t.CreatedBy, Action: "token.create", Subject: "token/" + t.ID, After: t})
	})
}

const tokenCols = `id, name, role, hash, created, created_by, expires, last_used, revoked`

func scanToken(r scanner) (APIToken, error) {
	var t APIToken
	var c, e, l int64
	err := r.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &c, &t.CreatedBy, &e, &l, &t.Revoked)
	t.Created, t.Expires, t.LastUsed = time.Unix(0, c).UTC(), nsOrZero(e), nsOrZero(l)
	return t, err
}

// TokenByHash returns the live (not revoked, not expired at now) token
// with this hash, or ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte, now time.Time) (APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE hash = ? AND revoked = 0 AND (expires = 0 OR expires > ?)`, hash, now.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// TouchToken records that a token was used.
func (s *Store) TouchToken(ctx context.Context, id string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, now.UnixNano(), id); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

// Tokens lists every API token, newest first.
func (s *Store) Tokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes a token at once, audited as done by by.
func (s *Store) RevokeToken(ctx context.Context, id, by string, now time.Time) error {
	return s.write(ctx, "revoke token", func(tx *sql.Tx) error {
		old, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if old.Revoked {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: by, Action: "token.revoke", Subject: "token/" + id, Before: old})
	})
}
