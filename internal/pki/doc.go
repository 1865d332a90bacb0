// Package pki is the hub's small certificate authority for gateways: it
// creates and loads the CA, signs certificate signing requests into client
// certificates whose CommonName is the gateway id, issues server and hub
// identity certificates, hands out one-time enrolment tokens and keeps a
// revocation list (and a signed CRL for external brokers).
//
// # Files
//
// Everything lives in one directory, by default <hub data dir>/pki:
//
//	ca.crt, ca.key      the CA (key 0600, read through conf.ReadKeyFile)
//	issued.json         every certificate issued: serial, name, expiry
//	revoked.json        revoked serials, watched by the running hub
//	crl.pem             the same list as a CRL signed by the CA (Mosquitto crlfile)
//	tokens.json         enrolment tokens, SHA-256 hashed, never in clear
//
// The hub and the `hub enroll` / `hub revoke` commands may run at once: every
// read-modify-write takes an exclusive lock on the file "lock" and replaces
// files atomically (write to a temporary file, then rename).
//
// # Identities
//
// A client certificate's CommonName is its identity: a gateway id, or the
// reserved name Hub for the hub's own clients (full access at the broker).
// No gateway may be called Hub.
package pki
