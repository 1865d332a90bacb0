package auth_test

import "crypto/tls"

var tlsState tls.ConnectionState
