package harness

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Front is an HTTPS reverse proxy in front of a plain-HTTP S3 endpoint.
//
// S3 clients pick their body encoding by scheme: over HTTPS, aws-cli,
// boto3 and the Go SDK skip payload hashing and send aws-chunked bodies with
// checksum trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER); over HTTP they
// sign the payload. photogate listens on HTTP only, so without a TLS front
// the tests would never exercise the encoding most real clients use.
//
// The front forwards requests unchanged, including the Host header the
// client signed, so the gateway verifies signatures exactly as if it were
// reached directly. It records what each client sent, so tests can compare
// the body mode the gateway logged with the one actually used.
type Front struct {
	srv    *httptest.Server
	caFile string

	mu        sync.Mutex
	exchanges []Exchange
}

// Exchange is one request that went through a Front, as the client sent it,
// with the status and x-amz-request-id of the response.
type Exchange struct {
	Method           string
	Path             string
	RawQuery         string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Status           int
	RequestID        string
}

// StartTLSFront starts an HTTPS front for target (e.g. the gateway's
// Endpoint) with a self-signed certificate for 127.0.0.1, and closes it when
// the test ends.
func StartTLSFront(t testing.TB, target string) *Front {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("TLS front target %q: %v", target, err)
	}
	f := &Front{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// SigV4 signs the Host header: keep the one the client used.
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			// Stay byte-transparent: no transparent gzip, no proxies.
			DisableCompression: true,
			Proxy:              nil,
		},
		// Stream both ways; never buffer an object in the front.
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			f.record(resp.Request, resp.StatusCode, resp.Header.Get("X-Amz-Request-Id"))
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.record(r, http.StatusBadGateway, "")
			http.Error(w, "harness TLS front: "+err.Error(), http.StatusBadGateway)
		},
		// Clients hanging up mid-transfer is normal in the negative tests.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	f.srv = httptest.NewUnstartedServer(rp)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)

	f.caFile = filepath.Join(t.TempDir(), "front-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *Front) record(r *http.Request, status int, requestID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exchanges = append(f.exchanges, Exchange{
		Method:           r.Method,
		Path:             r.URL.Path,
		RawQuery:         r.URL.RawQuery,
		Header:           r.Header.Clone(),
		ContentLength:    r.ContentLength,
		TransferEncoding: append([]string(nil), r.TransferEncoding...),
		Status:           status,
		RequestID:        requestID,
	})
}

// URL is the front's base URL, e.g. https://127.0.0.1:41234.
func (f *Front) URL() string { return f.srv.URL }

// Addr is the front's host:port.
func (f *Front) Addr() string { return strings.TrimPrefix(f.srv.URL, "https://") }

// CAFile is a PEM file holding the certificate clients must trust.
func (f *Front) CAFile() string { return f.caFile }

// CertPool holds the certificate clients must trust.
func (f *Front) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}

// Client returns an *http.Client that trusts the front's certificate.
func (f *Front) Client() *http.Client { return f.srv.Client() }

// Exchanges returns the requests recorded so far.
func (f *Front) Exchanges() []Exchange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Exchange(nil), f.exchanges...)
}

// PayloadMode names the body mode of a request from its
// x-amz-content-sha256 header, in the vocabulary of photogate's "payload"
// log field. Presigned requests carry no such header; their payload is
// unsigned.
func PayloadMode(h http.Header) string {
	switch v := h.Get("X-Amz-Content-Sha256"); v {
	case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
		return "streaming-signed"
	case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
		return "streaming-signed-trailer"
	case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
		return "streaming-unsigned-trailer"
	case "UNSIGNED-PAYLOAD", "":
		return "unsigned"
	default:
		return "signed"
	}
}

// ChecksumAlgorithm returns the lower-case name of the flexible checksum
// a request carries (in a header or announced as a trailer), or "".
func ChecksumAlgorithm(h http.Header) string {
	if tr := h.Get("X-Amz-Trailer"); tr != "" {
		return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(tr)), "x-amz-checksum-")
	}
	for name := range h {
		lower := strings.ToLower(name)
		if algo, ok := strings.CutPrefix(lower, "x-amz-checksum-"); ok && algo != "type" && algo != "algorithm" {
			return algo
		}
	}
	return ""
}
