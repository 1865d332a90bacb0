package auth

import (
	"fmt"
	"strings"
)

// Role is what a user or token may do; higher roles include lower ones.
type Role int

// Roles, in increasing order of power. RoleNone is no role at all.
const (
	RoleNone Role = iota
	Viewer
	Technician
	Operator
	Admin
)

var roleNames = [...]string{"", "viewer", "technician", "operator", "admin"}

// String names the role ("viewer" … "admin"; "" for RoleNone).
func (r Role) String() string {
	if r < RoleNone || r > Admin {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if i > 0 && strings.EqualFold(s, n) {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("role %q: want viewer, technician, operator or admin", s)
}

// MarshalText writes the role's name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Roles lists every role from least to most powerful.
func Roles() []Role { return []Role{Viewer, Technician, Operator, Admin} }
