package main

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"millwright/hub/auth"
	"millwright/hub/store"
)

// TestUserAndTokenCommands adds a user (password on stdin, then from the
// environment), lists it, creates a token and checks both authenticate
// against the same store.
func TestUserAndTokenCommands(t *testing.T) {
	data := t.TempDir()
	ctx := t.Context()
	var out bytes.Buffer
	if err := runUser(ctx, []string{"add", "--data", data, "--name", "rita", "--role", "technician"}, strings.NewReader("rita-secret-1\n"), &out); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MW_TEST_PW", "omar-secret-1")
	if err := runUser(ctx, []string{"add", "--data", data, "--name", "omar", "--role", "operator", "--password-env", "MW_TEST_PW"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"add", "--data", data, "--name", "x", "--role", "root"},
		{"add", "--data", data, "--name", "bad name", "--role", "viewer"},
		{"add", "--data", data, "--name", "y", "--role", "viewer", "--password-env", "MW_TEST_UNSET"},
		{"frob", "--data", data},
	} {
		if err := runUser(ctx, bad, strings.NewReader("long enough password\n"), &out); err == nil {
			t.Errorf("hub user %v: no error", bad)
		}
	}
	if err := runUser(ctx, []string{"add", "--data", data, "--name", "z", "--role", "viewer"}, strings.NewReader("short\n"), &out); err == nil {
		t.Error("short password accepted")
	}
	out.Reset()
	if err := runUser(ctx, []string{"list", "--data", data}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "rita") || !strings.Contains(out.String(), "operator") || strings.Contains(out.String(), "secret") {
		t.Fatalf("user list:\n%s", out.String())
	}
	out.Reset()
	if err := runToken(ctx, []string{"create", "--data", data, "--name", "ci", "--role", "operator", "--ttl", "24h"}, &out); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out.String())

	st, err := store.Open(ctx, data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := auth.New(auth.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	if p, err := m.Authenticate(r); err != nil || p.Role != auth.Operator {
		t.Fatalf("token from the CLI: %+v, %v", p, err)
	}
	for name, pw := range map[string]string{"rita": "rita-secret-1", "omar": "omar-secret-1"} {
		r := httptest.NewRequest("POST", "/api/v1/login", nil)
		if _, err := m.Login(httptest.NewRecorder(), r, name, pw); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
	}
}

// TestStoreCommandRefusesBeforeOpening: a missing or unknown subcommand is
// refused with what is wanted, and no store is created for it.
func TestStoreCommandRefusesBeforeOpening(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"user none", func() error { return runUser(t.Context(), nil, strings.NewReader(""), io.Discard) }, "user: want add, list, delete"},
		{"user unknown", func() error {
			return runUser(t.Context(), []string{"promote", "--data", dir}, strings.NewReader(""), io.Discard)
		}, `user: unknown command "promote"`},
		{"token unknown", func() error { return runToken(t.Context(), []string{"mint", "--data", dir}, io.Discard) }, `token: unknown command "mint"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("data dir written: %v", entries)
	}
}
