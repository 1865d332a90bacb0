package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
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

// storeCommand starts `hub user` and `hub token`: it checks the
// subcommand against subs before touching anything, parses the flags
// (--config and --data, plus those flags adds) and opens the store with an
// auth manager over it.
func storeCommand(ctx context.Context, cmd string, subs, args []string, flags func(*flag.FlagSet)) (string, *store.Store, *auth.Manager, error) {
	want := fmt.Sprintf("%s: want %s", cmd, strings.Join(subs, ", "))
	if len(args) == 0 {
		return "", nil, nil, errors.New(want)
	}
	if !slices.Contains(subs, args[0]) {
		return "", nil, nil, fmt.Errorf("%s: unknown command %q (want %s)", cmd, args[0], strings.Join(subs, ", "))
	}
	fs := flag.NewFlagSet("hub "+cmd+" "+args[0], flag.ContinueOnError)
	cfgPath := fs.String("config", "", "hub config `file` (for data_dir)")
	data := fs.String("data", "", "data `dir`ectory (overrides the config)")
	flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return "", nil, nil, err
	}
	st, m, err := openAuth(ctx, *cfgPath, *data)
	return args[0], st, m, err
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
	var name, roleName, pwEnv string
	sub, st, m, err := storeCommand(ctx, "user", []string{"add", "list", "delete"}, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "user `name`")
		fs.StringVar(&roleName, "role", "", "`role`: viewer, technician, operator or admin")
		fs.StringVar(&pwEnv, "password-env", "", "read the password from this environment `variable` instead of stdin")
	})
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		role, err := auth.ParseRole(roleName)
		if err != nil {
			return fmt.Errorf("user add: --role: %w", err)
		}
		var pw string
		if pwEnv != "" {
			pw = os.Getenv(pwEnv)
			if pw == "" {
				return fmt.Errorf("user add: environment variable %s is empty", pwEnv)
			}
		} else {
			line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("user add: read password: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if err := m.SetPassword(ctx, name, role, pw, operator()); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		fmt.Fprintf(out, "user %s (%s) saved\n", name, role)
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
		if err := st.DeleteUser(ctx, name, operator(), time.Now()); err != nil {
			return fmt.Errorf("user delete: %w", err)
		}
		fmt.Fprintf(out, "user %s deleted\n", name)
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
	var name, roleName, id string
	var ttl time.Duration
	sub, st, m, err := storeCommand(ctx, "token", []string{"create", "list", "revoke"}, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "token `name` (who uses it, e.g. ci-deploy)")
		fs.StringVar(&roleName, "role", "", "`role`: viewer, technician, operator or admin")
		fs.DurationVar(&ttl, "ttl", 0, "lifetime (0: until revoked)")
		fs.StringVar(&id, "id", "", "token `id` (revoke)")
	})
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "create":
		role, err := auth.ParseRole(roleName)
		if err != nil {
			return fmt.Errorf("token create: --role: %w", err)
		}
		secret, t, err := m.CreateToken(ctx, name, role, ttl, operator())
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
		if err := st.RevokeToken(ctx, id, operator(), time.Now()); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintf(out, "token %s revoked\n", id)
	}
	return nil
}
