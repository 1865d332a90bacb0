package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"

	"millwright/agent/mqttc"
	"millwright/internal/conf"
)

// MQTT tunes the broker connection beyond its URL (mqtt:).
type MQTT struct {
	// TLS is the client certificate written by `agent enroll`, for an
	// mqtts:// broker that requires one.
	TLS ClientTLS `yaml:"tls"`
}

// ClientTLS names the files of a client certificate. All three or none.
type ClientTLS struct {
	// CA is the certificate of the CA that signed the broker's (the hub
	// CA, ca.crt from `agent enroll`).
	CA string `yaml:"ca"`
	// Cert and Key are the gateway's certificate and private key; the key
	// file must be 0600 or stricter.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether a client certificate is configured.
func (t ClientTLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

func (m MQTT) validate(broker string) error {
	t := m.TLS
	if !t.Enabled() {
		return nil
	}
	if t.CA == "" || t.Cert == "" || t.Key == "" {
		return errors.New("mqtt.tls: set ca, cert and key (agent enroll writes them)")
	}
	if u, err := url.Parse(broker); err != nil || (u.Scheme != "mqtts" && u.Scheme != "ssl" && u.Scheme != "tls") {
		return fmt.Errorf("mqtt.tls: broker %q must be mqtts:// (or ssl://, tls://) to use a client certificate", broker)
	}
	for _, f := range []struct{ name, path string }{{"mqtt.tls.ca", t.CA}, {"mqtt.tls.cert", t.Cert}} {
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if _, err := conf.ReadKeyFile(t.Key); err != nil {
		return fmt.Errorf("mqtt.tls.key: %w", err)
	}
	return nil
}

// BrokerURL is the broker URL the MQTT client is given: Broker, with the
// client certificate's files as parameters when mqtt.tls is set (the form
// agent/mqttc reads). Call it after Validate.
func (c *Config) BrokerURL() string {
	if !c.MQTT.TLS.Enabled() {
		return c.Broker
	}
	u, err := mqttc.TLSURL(c.Broker, c.MQTT.TLS.CA, c.MQTT.TLS.Cert, c.MQTT.TLS.Key)
	if err != nil {
		return c.Broker // Validate reports it
	}
	return u
}
