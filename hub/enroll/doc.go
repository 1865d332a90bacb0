// Package enroll is the hub's side of gateway identity: the enrolment
// endpoint (POST /api/v1/enroll trades a one-time token and a certificate
// signing request for a certificate), the `hub enroll`, `hub revoke` and
// `hub cert` commands, and the transport security the hub builds from its
// configuration: its CA (internal/pki), the broker's mTLS listener with
// revocations applied at once, and HTTPS.
//
// # Enrolling a gateway
//
// On the hub (the token is printed once; only its SHA-256 is stored):
//
//	hub enroll --config hub.yaml --gateway gw1 [--ttl 1h]
//
// On the gateway, with what that printed (the key is made there, 0600):
//
//	agent enroll --hub https://hub:8443 --token mwe_… --gateway gw1 \
//	    --dir /etc/millwright/tls --ca-hash <sha256 of the hub CA>
//
// and in the agent's configuration:
//
//	broker: mqtts://hub:8883
//	mqtt:
//	  tls: {ca: /etc/millwright/tls/ca.crt, cert: /etc/millwright/tls/gw1.crt, key: /etc/millwright/tls/gw1.key}
//
// The endpoint answers 400 to a malformed request or CSR, 401 to an
// unknown, used or expired token, 403 to a CSR whose CommonName is not the
// token's gateway, 413 to a body over 9 KiB.
//
// # Revoking
//
//	hub revoke --config hub.yaml --gateway gw1
//
// revokes every valid certificate of gw1 and writes the CRL. The running
// hub re-reads the list every pki.revocation_check (1s): gw1's connection
// is closed and its reconnects are refused. A revoked gateway comes back
// with a new token and a new key.
//
// # Broker rules
//
// On the TLS listener a client is its certificate's CommonName. A gateway
// may publish under mw/v1/{telemetry,agent,local}/<id>/, read
// mw/v1/{hub,telemetry}/<id>/, use client id <id> or mw-agent-<id>, and set
// a will only on its own topics; "hub" may do anything. Refusals are logged
// (gateway, topic) and counted (millwright_broker_acl_denied_total,
// millwright_broker_connections_refused_total).
//
// # External broker
//
// `hub cert --server --host mqtt.plant.local --name mqtt.plant.local --out DIR`
// issues Mosquitto's server certificate; Mosquitto then takes cafile
// <pki>/ca.crt, crlfile <pki>/crl.pem, require_certificate true,
// use_identity_as_username true, use_username_as_clientid true and the
// acl_file of internal/mqtttest.GatewayACL. Reload it after a revocation.
package enroll
