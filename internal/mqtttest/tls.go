package mqtttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"millwright/internal/proctest"
)

// MosquittoTLS is a TLS listener as Millwright deploys Mosquitto beside
// the hub's CA: client certificates required, the certificate's
// CommonName as the username (use_identity_as_username) and as the client
// id (use_username_as_clientid: no gateway can take over another's
// session by its client id), the hub's CRL,
// and an ACL file keeping each gateway to its own topics (GatewayACL).
type MosquittoTLS struct {
	// CAFile is the hub CA; CertFile and KeyFile are the broker's server
	// certificate, issued by it for 127.0.0.1.
	CAFile, CertFile, KeyFile string
	// CRLFile is the hub's revocation list (pki.Authority.CRLPath); read
	// at start and on Restart.
	CRLFile string
	// ACL replaces GatewayACL when set.
	ACL string
}

// GatewayACL is Mosquitto's version of the embedded broker's topic ACL:
// a gateway (username = certificate CommonName) publishes only under its
// own id and reads only its commands and its own telemetry; the user
// "hub" may do anything; anonymous clients (the plain listener) nothing.
const GatewayACL = `# Anonymous clients: no rule, no access.

user hub
topic readwrite #

pattern write mw/v1/telemetry/%u/#
pattern write mw/v1/agent/%u/#
pattern write mw/v1/local/%u/#
pattern read mw/v1/hub/%u/#
pattern read mw/v1/telemetry/%u/#
`

// HubACL is GatewayACL for a hub of several replicas at one Mosquitto:
// each hub identity in hubs (one certificate per replica, `hub cert
// --name hub-1`) gets full access. Mosquitto's acl_file has no wildcard
// users, and use_username_as_clientid makes the certificate's name the
// client id, so replicas cannot share one identity: each needs its own
// user block, written here as an operator would.
func HubACL(hubs ...string) string {
	var b strings.Builder
	b.WriteString(GatewayACL)
	for _, h := range hubs {
		fmt.Fprintf(&b, "\nuser %s\ntopic readwrite #\n", h)
	}
	return b.String()
}

// config writes the ACL file and returns the configuration lines and the
// TLS port; a nil t gives none.
func (t *MosquittoTLS) config(dir string) (string, int, error) {
	if t == nil {
		return "", 0, nil
	}
	port, err := proctest.FreePort()
	if err != nil {
		return "", 0, err
	}
	acl := t.ACL
	if acl == "" {
		acl = GatewayACL
	}
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte(acl), 0o600); err != nil {
		return "", 0, fmt.Errorf("mosquitto acl: %w", err)
	}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
use_username_as_clientid true
tls_version tlsv1.2
acl_file %s
`, port, t.CAFile, t.CertFile, t.KeyFile, aclFile)
	if t.CRLFile != "" {
		conf += "crlfile " + t.CRLFile + "\n"
	}
	return conf, port, nil
}
