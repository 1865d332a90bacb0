package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"millwright/internal/pki"
)

// Path is where the enrolment endpoint is served.
const Path = "/api/v1/enroll"

// maxBody bounds a request: a CSR (pki.MaxCSRSize) and a token, in JSON.
const maxBody = pki.MaxCSRSize + 1024

// Request is the body of POST /api/v1/enroll.
type Request struct {
	// Token is the one-time token printed by `hub enroll`.
	Token string `json:"token"`
	// CSR is a PEM certificate signing request whose CommonName is the
	// gateway id the token was issued for.
	CSR string `json:"csr"`
}

// Response is the answer to a successful enrolment.
type Response struct {
	// Certificate is the gateway's client certificate, PEM.
	Certificate string `json:"certificate"`
	// CA is the hub CA's certificate, PEM: the trust anchor for the broker.
	CA string `json:"ca"`
}

// Handler serves POST /api/v1/enroll. It needs no login: the token is the
// credential.
type Handler struct {
	ca  *pki.Authority
	log *slog.Logger
}

// NewHandler serves enrolments against ca.
func NewHandler(ca *pki.Authority, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{ca: ca, log: log}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "want application/json")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request over %d bytes", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	if req.Token == "" || req.CSR == "" {
		writeError(w, http.StatusBadRequest, "token and csr are required")
		return
	}
	certPEM, err := h.ca.Enroll(req.Token, []byte(req.CSR))
	if err != nil {
		status := statusOf(err)
		if status >= 500 {
			h.log.Error("enrolment failed", "remote", r.RemoteAddr, "err", err)
			writeError(w, status, "enrolment failed")
			return
		}
		h.log.Warn("enrolment refused", "remote", r.RemoteAddr, "err", err)
		writeError(w, status, err.Error())
		return
	}
	certs, _ := pki.ParseCertificates(certPEM)
	if len(certs) > 0 {
		h.log.Info("gateway enrolled", "gateway", certs[0].Subject.CommonName, "remote", r.RemoteAddr, "expires", certs[0].NotAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(Response{Certificate: string(certPEM), CA: string(h.ca.CertPEM())})
}

// statusOf maps an Enroll error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, pki.ErrBadCSR):
		return http.StatusBadRequest
	case errors.Is(err, pki.ErrTokenUnknown), errors.Is(err, pki.ErrTokenUsed), errors.Is(err, pki.ErrTokenExpired):
		return http.StatusUnauthorized
	case errors.Is(err, pki.ErrNameMismatch):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Mount serves Path with h and everything else with next. Mount it outside
// any login middleware: agents have no session, only their token.
func Mount(next http.Handler, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
