package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"millwright/internal/conf"
)

// MQTTTLS is the embedded broker's TLS listener (mqtt.tls): client
// certificates issued by the hub's CA are required, each gateway is kept to
// its own topics, and revocations apply at once.
type MQTTTLS struct {
	// Listen is the TLS (mqtts) address, e.g. 0.0.0.0:8883; empty means
	// no TLS listener.
	Listen string `yaml:"listen"`
	// Only turns the plain listener (mqtt.listen) off: production.
	Only bool `yaml:"only"`
	// Cert and Key are the broker's server certificate files. Empty: one
	// issued by the hub's CA for Hosts is kept in the PKI directory.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Hosts are the names and IP addresses agents reach the broker by, for
	// the issued certificate; default localhost and 127.0.0.1.
	Hosts []string `yaml:"hosts"`
}

// Enabled reports whether the TLS listener is configured.
func (t MQTTTLS) Enabled() bool { return t.Listen != "" }

// HTTPTLS serves the API and UI over HTTPS (http.tls) with Cert and Key,
// or with a certificate the hub's CA issues for Hosts. The key file must
// not be readable by group or others.
type HTTPTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Hosts, without Cert and Key: the names and addresses of the hub; the
	// hub CA issues the certificate, and `agent enroll --ca-hash` can then
	// trust it with nothing but what `hub enroll` prints.
	Hosts []string `yaml:"hosts"`
}

// Enabled reports whether HTTPS is configured.
func (t HTTPTLS) Enabled() bool { return t.Cert != "" || len(t.Hosts) > 0 }

// PKI is the hub's certificate authority for gateways (hub enroll,
// hub revoke, POST /api/v1/enroll).
type PKI struct {
	// Dir holds the CA, tokens and revocations; default <data_dir>/pki.
	Dir string `yaml:"dir"`
	// Validity of the certificates issued to gateways; default 8760h.
	Validity conf.Duration `yaml:"validity"`
	// TokenTTL is how long an enrolment token is valid unless --ttl says
	// otherwise; default 1h.
	TokenTTL conf.Duration `yaml:"token_ttl"`
	// RevocationCheck is how often the running hub re-reads the revocation
	// list written by `hub revoke`; default 1s.
	RevocationCheck conf.Duration `yaml:"revocation_check"`
}

// PKIDir resolves the PKI directory default.
func (c Config) PKIDir() string {
	if c.PKI.Dir != "" {
		return c.PKI.Dir
	}
	return filepath.Join(c.DataDir, "pki")
}

// validateTLS checks mqtt.tls, http.tls and pki.
func (c *Config) validateTLS() error {
	t := c.MQTT.TLS
	switch {
	case t.Enabled() && c.MQTT.Broker != "":
		return errors.New("mqtt.tls: configures the embedded broker; with mqtt.broker set there is none")
	case t.Only && !t.Enabled():
		return errors.New("mqtt.tls.only: needs mqtt.tls.listen")
	case (t.Cert == "") != (t.Key == ""):
		return errors.New("mqtt.tls: set both cert and key, or neither (the hub CA issues one)")
	case t.Cert != "" && len(t.Hosts) > 0:
		return errors.New("mqtt.tls.hosts: only for the certificate the hub issues itself; not with cert and key")
	}
	if t.Enabled() {
		if err := hostPort(t.Listen); err != nil {
			return fmt.Errorf("mqtt.tls.listen: %w", err)
		}
	}
	h := c.HTTP.TLS
	if (h.Cert == "") != (h.Key == "") {
		return errors.New("http.tls: set both cert and key, or neither")
	}
	if h.Cert != "" && len(h.Hosts) > 0 {
		return errors.New("http.tls.hosts: only for the certificate the hub issues itself; not with cert and key")
	}
	for _, d := range []struct {
		name string
		v    conf.Duration
		min  time.Duration
	}{
		{"pki.validity", c.PKI.Validity, time.Hour},
		{"pki.token_ttl", c.PKI.TokenTTL, time.Minute},
		{"pki.revocation_check", c.PKI.RevocationCheck, 10 * time.Millisecond},
	} {
		if d.v != 0 && d.v.D() < d.min {
			return fmt.Errorf("%s: %v is under the minimum of %v", d.name, d.v.D(), d.min)
		}
	}
	return nil
}
