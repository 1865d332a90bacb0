package enroll_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"millwright/hub/enroll"
	"millwright/internal/pki"
)

// FuzzHandler sends untrusted bodies to the enrolment endpoint: it must
// answer 200 only with a certificate for the token's gateway, and never
// fail with a server error.
func FuzzHandler(f *testing.F) {
	ca, err := pki.Open(f.TempDir(), pki.Options{})
	if err != nil {
		f.Fatal(err)
	}
	key, err := pki.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	csr, err := pki.NewCSR(key, "gw1")
	if err != nil {
		f.Fatal(err)
	}
	tok, _, err := ca.NewToken("gw1", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(enroll.Request{Token: tok, CSR: string(csr)})
	f.Add(good)
	f.Add([]byte(`{"token":"mwe_x","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	h := enroll.NewHandler(ca, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, enroll.Path, bytes.NewReader(body)))
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for %q", rec.Code, body)
		case rec.Code == http.StatusOK:
			var r enroll.Response
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCertificates([]byte(r.Certificate))
			if err != nil || certs[0].Subject.CommonName != "gw1" {
				t.Fatalf("issued %v, %v", certs, err)
			}
		}
	})
}
