package mqttc

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"millwright/internal/pki"
)

// TLS settings may ride on the broker URL, as libpq's sslrootcert, sslcert
// and sslkey do: "mqtts://hub:8883?ca=ca.crt&cert=gw1.crt&key=gw1.key".
// That lets everything that passes a broker URL along (flags, the daemon's
// options) reach an mTLS broker without a field of its own.
const (
	paramCA   = "ca"
	paramCert = "cert"
	paramKey  = "key"
)

// TLSURL returns broker with the TLS files as URL parameters (see
// tlsFromURL); broker must be a TLS URL (mqtts://, ssl://, tls://).
func TLSURL(broker, ca, cert, key string) (string, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return "", fmt.Errorf("broker URL: %w", err)
	}
	if !tlsScheme(u.Scheme) {
		return "", fmt.Errorf("broker URL %q: client certificates need mqtts://, ssl:// or tls://", broker)
	}
	q := u.Query()
	q.Set(paramCA, ca)
	q.Set(paramCert, cert)
	q.Set(paramKey, key)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func tlsScheme(s string) bool {
	switch s {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return true
	}
	return false
}

// tlsFromURL splits the TLS parameters off a broker URL and loads them:
// the CA that signed the broker's certificate and the client's
// certificate and key (which must be 0600). A URL without them is
// returned as it is, with a nil configuration.
func tlsFromURL(raw string) (string, *tls.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw, nil, nil //nolint:nilerr // not ours to judge: paho reports a bad URL
	}
	q := u.Query()
	ca, cert, key := q.Get(paramCA), q.Get(paramCert), q.Get(paramKey)
	if ca == "" && cert == "" && key == "" {
		return raw, nil, nil
	}
	if !tlsScheme(u.Scheme) {
		return "", nil, fmt.Errorf("broker URL: TLS files given for a %s:// URL; use mqtts://", u.Scheme)
	}
	cfg, err := pki.ClientTLS(ca, cert, key)
	if err != nil {
		return "", nil, fmt.Errorf("broker TLS: %w", err)
	}
	u.RawQuery = ""
	return u.String(), cfg, nil
}
