package harness

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// Region is the region the harness starts MinIO and photogate in, and the
// one raw requests are signed for.
const Region = "us-east-1"

// BucketName returns a unique bucket name starting with prefix, so that
// parallel tests sharing a backend never share a bucket.
func BucketName(prefix string) string { return prefix + "-" + RandomString(10) }

// SignV4 signs req with SigV4 (minio-go's signer) as accessKey/secretKey
// for Region. payloadHash is what X-Amz-Content-Sha256 declares: the body's
// hex SHA-256, UNSIGNED-PAYLOAD, or a streaming mode the caller frames.
func SignV4(req *http.Request, accessKey, secretKey, payloadHash string) *http.Request {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	return signer.SignV4(*req, accessKey, secretKey, "", Region)
}

// NewRequest builds an unsigned request to url carrying body; a nil body
// sends none (an empty one sends Content-Length: 0).
func NewRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, url, err)
	}
	return req, nil
}

// SignedRequest builds a request to url carrying body (nil sends none),
// signed with SigV4 as accessKey/secretKey over the body's SHA-256: the
// plainest request an S3 client makes, for tests that need to set exactly
// what goes on the wire.
func SignedRequest(ctx context.Context, method, url string, body []byte, accessKey, secretKey string) (*http.Request, error) {
	req, err := NewRequest(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	return SignV4(req, accessKey, secretKey, SHA256Hex(body)), nil
}

// S3Error is the XML error body S3 (and photogate) returns.
type S3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// DecodeS3Error returns the S3 error in a response with status and body,
// and false when the response is not an error or its body is not S3 error
// XML (a HEAD, say, which has no body).
func DecodeS3Error(status int, body []byte) (S3Error, bool) {
	var e S3Error
	if status < 300 || xml.Unmarshal(body, &e) != nil || e.Code == "" {
		return S3Error{}, false
	}
	return e, true
}

// S3Response is a completed raw S3 request: its body read and, for an
// error, the S3 error code and message decoded.
type S3Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Code    string // the S3 error code; "" when the response is no S3 error
	Message string // the S3 error message
}

// String is what a failing test shows: status, error, Retry-After and the
// request id that finds the gateway's log line.
func (r S3Response) String() string {
	s := strconv.Itoa(r.Status)
	if r.Code != "" {
		s += " " + r.Code + ": " + r.Message
	}
	if ra := r.Header.Get("Retry-After"); ra != "" {
		s += " (Retry-After " + ra + ")"
	}
	return s + " [x-amz-request-id " + r.Header.Get("X-Amz-Request-Id") + "]"
}

// ReadS3Response reads and closes resp's body and decodes any S3 error in
// it.
func ReadS3Response(resp *http.Response) (S3Response, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return S3Response{}, fmt.Errorf("read response body: %w", err)
	}
	r := S3Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if e, ok := DecodeS3Error(resp.StatusCode, body); ok {
		r.Code, r.Message = e.Code, e.Message
	}
	return r, nil
}

// SendS3 sends req with client and returns the response read, failing the
// test when the request gets no response at all.
func SendS3(t testing.TB, client *http.Client, req *http.Request) S3Response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	r, err := ReadS3Response(resp)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return r
}
