package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"millwright/internal/pki"
	"millwright/wire"
)

// ClientTLS is the hub's own client identity at an external broker
// (mqtt.client_tls): the broker's CA and a client certificate issued by the
// hub's CA with `hub cert --name hub-1 --out DIR`, one per replica.
//
// A broker that binds the client id to the certificate (Mosquitto's
// use_identity_as_username with use_username_as_clientid) lets each
// identity hold one connection, so with ClientTLS a replica makes exactly
// one: ingest, command dispatch and MQTT alert routes share it, and its
// client id is the certificate's CommonName.
type ClientTLS struct {
	// CA verifies the broker's server certificate (the hub CA's ca.crt,
	// or whichever CA issued the broker's certificate).
	CA string `yaml:"ca"`
	// Cert and Key are this replica's client certificate and key; the key
	// file must not be readable by group or others.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether any of the client TLS files is configured.
func (t ClientTLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// Load reads the files (the key through conf.ReadKeyFile, which refuses
// loose permissions) and returns the TLS configuration and the identity
// the certificate carries (its CommonName).
func (t ClientTLS) Load() (*tls.Config, string, error) {
	cfg, err := pki.ClientTLS(t.CA, t.Cert, t.Key)
	if err != nil {
		return nil, "", fmt.Errorf("mqtt.client_tls: %w", err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return nil, "", fmt.Errorf("mqtt.client_tls.cert %s: %w", t.Cert, err)
	}
	id := leaf.Subject.CommonName
	if !wire.ValidID(id) {
		return nil, "", fmt.Errorf("mqtt.client_tls.cert %s: CommonName %q is not a usable client id", t.Cert, id)
	}
	return cfg, id, nil
}

// ReplicaID resolves mqtt.replica: the configured name, or with an
// external broker <hostname>-<pid>, so that replicas started from one
// config file never share a client id; none with the embedded broker.
func (m MQTT) ReplicaID() string {
	if m.Replica != "" || m.Broker == "" {
		return m.Replica
	}
	host, err := os.Hostname()
	if err != nil || !wire.ValidID(host+"-0000000000") {
		host = "hub"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// ReplicaClientID is the client id of the replica's ingest connection:
// mqtt.client_id, suffixed with -<replica> when there is one (the command
// publisher appends -cmd). With client_tls the certificate's CommonName
// replaces it (ClientTLS).
func (m MQTT) ReplicaClientID() string {
	if r := m.ReplicaID(); r != "" {
		return m.ClientID + "-" + r
	}
	return m.ClientID
}

// validateExternal checks mqtt.replica and mqtt.client_tls.
func (c *Config) validateExternal() error {
	m := c.MQTT
	if m.Replica != "" && !wire.ValidID(m.Replica) {
		return fmt.Errorf("mqtt.replica: %q is not a valid id (1-64 of letters, digits, '-', '_', '.')", m.Replica)
	}
	t := m.ClientTLS
	if !t.Enabled() {
		return nil
	}
	if m.Broker == "" {
		return errors.New("mqtt.client_tls: only for an external broker (mqtt.broker); the hub's clients reach the embedded broker over its internal socket")
	}
	for _, f := range []struct{ name, v string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
		if f.v == "" {
			return fmt.Errorf("mqtt.client_tls.%s: must be set (ca, cert and key go together)", f.name)
		}
	}
	u, err := url.Parse(m.Broker)
	if err != nil {
		return fmt.Errorf("mqtt.broker: %w", err)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
	default:
		return fmt.Errorf("mqtt.broker: %q: mqtt.client_tls needs an mqtts://, ssl://, tls:// or wss:// URL", m.Broker)
	}
	return nil
}
