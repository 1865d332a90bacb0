package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"millwright/hub/auth"
	"millwright/hub/config"
	"millwright/hub/store"
)

// openAuth loads the hub's config (for its data directory), opens the
// store and an auth manager over it. The hub may be running: the store
// is SQLite in WAL mode.
func openAuth(ctx context.Context, cfgPath, data string) (*store.Store, *auth.Manager, error) {
	cfg, err := config.LoadWith(cfgPath, func(c *config.Config) {
		if data != "" {
			c.DataDir = data
		}
	})
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DataDir, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	m, err := auth.New(auth.Options{Store: st})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, m, nil
}

func operator() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli/" + u
	}
	return "cli"
}

// runUser manages hub users:
//
//	hub user add --name N --role R [--password-env VAR] [--config F] [--data DIR]
//	hub user list | delete --name N
//
// add reads the password from the environment variable --password-env
// names, else from the first line of stdin.
func runUser(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("user: want add, list or delete")
	}
	sub := args[0]
	fs := flag.NewFlagSet("hub user "+sub, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub config `file` (for data_dir)")
	data := fs.String("data", "", "data `dir`ectory (overrides the config)")
	name := fs.String("name", "", "user `name`")
	roleName := fs.String("role", "", "`role`: viewer, technician, operator or admin")
	pwEnv := fs.String("password-env", "", "read the password from this environment `variable` instead of stdin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, m, err := openAuth(ctx, *cfgPath, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		role, err := auth.ParseRole(*roleName)
		if err != nil {
			return fmt.Errorf("user add: --role: %w", err)
		}
		var pw string
		if *pwEnv != "" {
			pw = os.Getenv(*pwEnv)
			if pw == "" {
				return fmt.Errorf("user add: environment variable %s is empty", *pwEnv)
			}
		} else {
			line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("user add: read password: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if err := m.SetPassword(ctx, *name, role, pw, operator()); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		fmt.Fprintf(out, "user %s (%s) saved\n", *name, role)
	case "list":
		us, err := st.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUPDATED\tBY")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Updated.Format(time.RFC3339), u.By)
		}
		return tw.Flush()
	case "delete":
		if err := st.DeleteUser(ctx, *name, operator(), time.Now()); err != nil {
			return fmt.Errorf("user delete: %w", err)
		}
		fmt.Fprintf(out, "user %s deleted\n", *name)
	default:
		return fmt.Errorf("user: unknown command %q (want add, list or delete)", sub)
	}
	return nil
}

// runToken manages API tokens:
//
//	hub token create --name N --role R [--ttl 90d] [--config F] [--data DIR]
//	hub token list | revoke --id ID
//
// create prints the token once; only its hash is stored.
func runToken(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("token: want create, list or revoke")
	}
	sub := args[0]
	fs := flag.NewFlagSet("hub token "+sub, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub config `file` (for data_dir)")
	data := fs.String("data", "", "data `dir`ectory (overrides the config)")
	name := fs.String("name", "", "token `name` (who uses it, e.g. ci-deploy)")
	roleName := fs.String("role", "", "`role`: viewer, technician, operator or admin")
	ttl := fs.Duration("ttl", 0, "lifetime (0: until revoked)")
	id := fs.String("id", "", "token `id` (revoke)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, m, err := openAuth(ctx, *cfgPath, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "create":
		role, err := auth.ParseRole(*roleName)
		if err != nil {
			return fmt.Errorf("token create: --role: %w", err)
		}
		secret, t, err := m.CreateToken(ctx, *name, role, *ttl, operator())
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		fmt.Fprintf(os.Stderr, "token %s (%s, %s) created; it is shown only now:\n", t.ID, t.Name, t.Role)
		fmt.Fprintln(out, secret)
	case "list":
		ts, err := st.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tBY\tEXPIRES\tREVOKED")
		for _, t := range ts {
			exp := "never"
			if !t.Expires.IsZero() {
				exp = t.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", t.ID, t.Name, t.Role, t.Created.Format(time.RFC3339), t.CreatedBy, exp, t.Revoked)
		}
		return tw.Flush()
	case "revoke":
		if err := st.RevokeToken(ctx, *id, operator(), time.Now()); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintf(out, "token %s revoked\n", *id)
	default:
		return fmt.Errorf("token: unknown command %q (want create, list or revoke)", sub)
	}
	return nil
}
