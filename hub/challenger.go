package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// runChallenger deploys a challenger through the hub's HTTP API, uploading
// a warm-start snapshot first when --snapshot names a file.
func runChallenger(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hub challenger", flag.ContinueOnError)
	hub := fs.String("hub", "http://127.0.0.1:8080", "hub `url`")
	kind := fs.String("kind", "", "model `kind` (hst, rrcf, …)")
	var targets, settings listFlag
	fs.Var(&targets, "target", "target `asset` (gateway/machine or a unique machine id); repeatable")
	machineType := fs.String("type", "", "deploy to every asset of this machine `type`")
	snapFile := fs.String("snapshot", "", "warm-start snapshot `file` (agent replay --snapshot-out) to upload")
	snapID := fs.String("snapshot-id", "", "warm-start from a snapshot already on the hub")
	fs.Var(&settings, "set", "model setting `key=value`; repeatable")
	name := fs.String("name", "", "model instance `name` (default challenger-KIND)")
	by := fs.String("by", os.Getenv("USER"), "who asks (audit log)")
	reason := fs.String("reason", "", "why (audit log)")
	tokenEnv := fs.String("token-env", "MW_HUB_TOKEN", "environment `variable` holding an operator API token (hub token create)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kind == "" || (len(targets) == 0 && *machineType == "") {
		return errors.New("challenger: --kind and a --target or --type are required")
	}
	if *snapFile != "" && *snapID != "" {
		return errors.New("challenger: --snapshot and --snapshot-id exclude each other")
	}
	set := map[string]float64{}
	for _, kv := range settings {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || k == "" || err != nil {
			return fmt.Errorf("challenger: --set %q: want key=number", kv)
		}
		set[k] = f
	}
	c := &client{base: strings.TrimRight(*hub, "/"), by: *by, token: os.Getenv(*tokenEnv), http: &http.Client{Timeout: 30 * time.Second}}
	if *snapFile != "" {
		data, err := os.ReadFile(*snapFile)
		if err != nil {
			return fmt.Errorf("challenger: %w", err)
		}
		var info struct {
			ID string `json:"id"`
		}
		if err := c.do(ctx, "POST", "/api/v1/snapshots?kind="+url.QueryEscape(*kind), "application/octet-stream", data, &info); err != nil {
			return fmt.Errorf("challenger: upload snapshot: %w", err)
		}
		*snapID = info.ID
		fmt.Fprintf(out, "snapshot %s uploaded (%d bytes)\n", info.ID, len(data))
	}
	req := map[string]any{"kind": *kind, "targets": []string(targets), "machine_type": *machineType, "snapshot_id": *snapID,
		"settings": set, "name": *name, "reason": *reason}
	body, _ := json.Marshal(req)
	var res struct {
		Deployments []struct {
			ID, Gateway, Machine, Name, Status string
		} `json:"deployments"`
	}
	if err := c.do(ctx, "POST", "/api/v1/challengers", "application/json", body, &res); err != nil {
		return fmt.Errorf("challenger: %w", err)
	}
	for _, d := range res.Deployments {
		fmt.Fprintf(out, "%s  %s/%s  %s  %s\n", d.ID, d.Gateway, d.Machine, d.Name, d.Status)
	}
	return nil
}

type client struct {
	base, by string
	token    string // API token, sent as a bearer credential; never logged
	http     *http.Client
}

// do sends a request and decodes a 2xx JSON answer into v; any other
// status is an error carrying the API's message.
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	if c.by != "" {
		req.Header.Set("X-User", c.by)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.Unmarshal(b, v)
}
