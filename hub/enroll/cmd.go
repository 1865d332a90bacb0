package enroll

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"millwright/hub/config"
	"millwright/internal/pki"
)

// Main runs `hub enroll` (cmd "enroll"), `hub revoke` (cmd "revoke") or
// `hub cert` (cmd "cert") against the PKI directory of the hub's
// configuration. All work while the hub runs: a revocation reaches its
// broker within pki.revocation_check. `hub cert` issues a key pair made on
// the hub: an external broker's server certificate (--server --host …) or
// the hub's own client identity at it (--name hub).
func Main(_ context.Context, cmd string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hub "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	cfgPath := fs.String("config", "", "hub YAML config `file`")
	data := fs.String("data", "", "hub data `dir`ectory (overrides the config)")
	var (
		gateway, hubURL, name, hosts, outDir = new(string), new(string), new(string), new(string), new(string)
		ttl                                  = new(time.Duration)
		server                               = new(bool)
	)
	switch cmd {
	case "enroll", "revoke":
		fs.StringVar(gateway, "gateway", "", "gateway `id`")
	}
	if cmd == "enroll" {
		fs.DurationVar(ttl, "ttl", 0, "how long the token is valid (default pki.token_ttl, 1h)")
		fs.StringVar(hubURL, "hub", "", "hub `url` agents enrol against, for the printed instructions")
	}
	if cmd == "cert" {
		fs.StringVar(name, "name", pki.Hub, "certificate `name` (CommonName): hub for the hub's own identity, or the server's name")
		fs.BoolVar(server, "server", false, "a TLS server certificate for --host instead of a client one")
		fs.StringVar(hosts, "host", "", "with --server: comma-separated host `names` and IP addresses")
		fs.StringVar(outDir, "out", ".", "`dir`ectory for NAME.crt, NAME.key (0600) and ca.crt")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	if *gateway == "" && cmd != "cert" {
		return fmt.Errorf("%s: --gateway is required", cmd)
	}
	cfg, err := config.LoadWith(*cfgPath, func(c *config.Config) {
		if *data != "" {
			c.DataDir = *data
		}
	})
	if err != nil {
		return err
	}
	ca, err := pki.Open(cfg.PKIDir(), pki.Options{Validity: cfg.PKI.Validity.D()})
	if err != nil {
		return err
	}
	switch cmd {
	case "enroll":
		if *ttl <= 0 {
			*ttl = cfg.PKI.TokenTTL.D()
		}
		return printToken(out, ca, cfg, *gateway, *ttl, *hubURL)
	case "cert":
		return issueCert(out, ca, *name, *server, *hosts, *outDir)
	case "revoke":
		serials, err := ca.Revoke(*gateway)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %d certificate(s) of %s: %s\n", len(serials), *gateway, strings.Join(serials, ", "))
		fmt.Fprintf(out, "a running hub disconnects %s within %v and refuses it from now on.\n", *gateway, max(cfg.PKI.RevocationCheck.D(), time.Second))
		fmt.Fprintf(out, "an external broker reads the revocation list from %s (reload it: Mosquitto on SIGHUP or restart).\n", ca.CRLPath())
		fmt.Fprintf(out, "to give %s a new certificate: hub enroll --gateway %s\n", *gateway, *gateway)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func printToken(out io.Writer, ca *pki.Authority, cfg config.Config, gateway string, ttl time.Duration, hubURL string) error {
	token, expires, err := ca.NewToken(gateway, ttl)
	if err != nil {
		return err
	}
	if hubURL == "" {
		scheme := "http"
		if cfg.HTTP.TLS.Enabled() {
			scheme = "https"
		}
		hubURL = scheme + "://" + publicAddr(cfg.HTTP.Listen)
	}
	fmt.Fprintf(out, `enrolment token for gateway %s (one use, valid until %s):

  %s

on the gateway (the key is made there and never leaves it):

  agent enroll --hub %s --token %s --gateway %s --dir /etc/millwright/tls --ca-hash %s

(--ca-hash pins the hub CA: it checks the CA received and, with
http.tls.hosts, the hub's HTTPS certificate too; with a certificate of
another CA add --hub-ca FILE. --token env:NAME or file:PATH keeps the
token out of ps.)
`, gateway, expires.Format(time.RFC3339), token, hubURL, token, gateway, ca.Fingerprint())
	if !cfg.MQTT.TLS.Enabled() {
		fmt.Fprintf(out, "\nthis hub's broker has no TLS listener: set mqtt.tls.listen in its config to use the certificate.\n")
		return nil
	}
	fmt.Fprintf(out, `
then in the agent's config:

  gateway: %s
  broker: mqtts://%s
  mqtt:
    tls: {ca: /etc/millwright/tls/ca.crt, cert: /etc/millwright/tls/%s.crt, key: /etc/millwright/tls/%s.key}
`, gateway, publicAddr(cfg.MQTT.TLS.Listen), gateway, gateway)
	return nil
}

// publicAddr replaces an unspecified listen host (0.0.0.0, ::, "") by a
// placeholder the operator must fill in.
func publicAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "HUB-HOST"
	}
	return net.JoinHostPort(host, port)
}

func issueCert(out io.Writer, ca *pki.Authority, name string, server bool, hosts, dir string) error {
	if name == "" || strings.ContainsAny(name, "/\\") || name[0] == '.' {
		return fmt.Errorf("cert: --name %q is not usable as a file name", name)
	}
	req := pki.Request{Name: name, Server: server}
	if server {
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			} else if ip := net.ParseIP(h); ip != nil {
				req.IPs = append(req.IPs, ip)
			} else {
				req.DNSNames = append(req.DNSNames, h)
			}
		}
		if len(req.IPs)+len(req.DNSNames) == 0 {
			return errors.New("cert: --server needs --host")
		}
	}
	certPEM, keyPEM, err := ca.IssueKeyPair(req)
	if err != nil {
		return err
	}
	certPath, keyPath, caPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt")
	if err := pki.WriteKeyFile(keyPath, keyPEM); err != nil {
		return err
	}
	if err := pki.WriteFile(certPath, certPEM); err != nil {
		return err
	}
	if err := pki.WriteFile(caPath, ca.CertPEM()); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s, %s (0600) and %s; revocations: %s\n", certPath, keyPath, caPath, ca.CRLPath())
	return nil
}
