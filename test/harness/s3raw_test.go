package harness

import (
	"net/http"
	"strings"
	"testing"
)

func TestDecodeS3Error(t *testing.T) {
	const body = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied.</Message><RequestId>r1</RequestId></Error>`
	e, ok := DecodeS3Error(http.StatusForbidden, []byte(body))
	if !ok || e.Code != "AccessDenied" || e.Message != "Access Denied." {
		t.Errorf("DecodeS3Error(403, error XML) = %+v, %v; want AccessDenied", e, ok)
	}
	for _, c := range []struct {
		status int
		body   string
	}{
		{http.StatusOK, body}, // a success is no error, whatever its body
		{http.StatusInternalServerError, "upstream connect error"},
		{http.StatusNotFound, ""}, // a HEAD's error has no body
		{http.StatusBadRequest, "<ListBucketResult></ListBucketResult>"},
	} {
		if e, ok := DecodeS3Error(c.status, []byte(c.body)); ok {
			t.Errorf("DecodeS3Error(%d, %q) = %+v, want no S3 error", c.status, c.body, e)
		}
	}
}

func TestSignedRequest(t *testing.T) {
	body := []byte("photo bytes")
	req, err := SignedRequest(t.Context(), http.MethodPut, "http://127.0.0.1:1/b/k.jpg", body, "AKIDEXAMPLE", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Amz-Content-Sha256"); got != SHA256Hex(body) {
		t.Errorf("X-Amz-Content-Sha256 %q, want the body's SHA-256 %s", got, SHA256Hex(body))
	}
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/"+Region+"/s3/aws4_request") ||
		!strings.Contains(auth, "x-amz-content-sha256") {
		t.Errorf("Authorization %q is not a SigV4 signature by AKIDEXAMPLE in %s covering the payload hash", auth, Region)
	}
	if req.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, want %d", req.ContentLength, len(body))
	}
	if req, err = SignedRequest(t.Context(), http.MethodGet, "http://127.0.0.1:1/b", nil, "AKIDEXAMPLE", "secret"); err != nil {
		t.Fatal(err)
	}
	if req.Body != nil && req.Body != http.NoBody {
		t.Error("a nil body sends a body")
	}
}
