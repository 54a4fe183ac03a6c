package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/test/harness"
)

const (
	userKey    = "gwtestuser"
	userSecret = "gwtest-secret-key"
)

// stack is MinIO with an in-process photogate in front of it.
type stack struct {
	minio   *harness.MinIO
	backend *backend.Backend
	front   *httptest.Server
	handler http.Handler
	logs    *lockedWriter
}

func newStack(t *testing.T, breakerOpen time.Duration) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := harness.StartMinIO(t)
	b, err := backend.NewBackend(backend.Config{
		Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey(),
		BreakerFailures: 3, BreakerOpen: breakerOpen,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	logs := &lockedWriter{}
	srv := gateway.NewServer(gateway.Config{
		Backend: b, Policy: fullAccess(t), HostID: "test",
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	front := httptest.NewServer(srv)
	t.Cleanup(front.Close)
	return &stack{minio: m, backend: b, front: front, handler: srv, logs: logs}
}

func (s *stack) client(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.front.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(userKey, userSecret, ""), MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *stack) bucket(t *testing.T, name string) {
	t.Helper()
	if err := s.minio.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
}

// inMinIO reads an object straight from MinIO, bypassing photogate.
func (s *stack) inMinIO(t *testing.T, bucket, key string) ([]byte, bool) {
	t.Helper()
	obj, err := s.minio.Client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func TestMinioGoRoundTrip(t *testing.T) {
	s := newStack(t, time.Second)
	c := s.client(t)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "roundtrip", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 64 << 10, 5<<20 + 17} {
		data := harness.RandomBytes(size)
		key := fmt.Sprintf("dir/obj %d+ü", size)
		if _, err := c.PutObject(ctx, "roundtrip", key, bytes.NewReader(data), int64(size), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("put %d: %v", size, err)
		}
		got, ok := s.inMinIO(t, "roundtrip", key)
		if !ok || !bytes.Equal(got, data) {
			t.Fatalf("size %d: MinIO holds %d bytes, want %d", size, len(got), size)
		}
		obj, err := c.GetObject(ctx, "roundtrip", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("get %d: %v (%d bytes)", size, err, len(back))
		}
	}
	var n int
	for o := range c.ListObjects(ctx, "roundtrip", minio.ListObjectsOptions{Prefix: "dir/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("listed %d objects, want 4", n)
	}
	if !strings.Contains(s.logs.String(), `"payload":"streaming-signed"`) {
		t.Errorf("minio-go over HTTP should have used signed chunks; log:\n%s", s.logs.String())
	}
}

// trailerPut sends a STREAMING-UNSIGNED-PAYLOAD-TRAILER upload whose CRC32
// trailer is the given value, as aws-cli and the SDKs do over HTTPS.
func trailerPut(t *testing.T, url string, data []byte, crc string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", "CRC32")
	signed := signer.SignV4Trailer(*req, userKey, userSecret, "", "us-east-1", http.Header{"X-Amz-Checksum-Crc32": {crc}})
	resp, err := http.DefaultClient.Do(signed)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func crc32Base64(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func s3Code(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var e struct{ Code string }
	body, _ := io.ReadAll(resp.Body)
	_ = xml.Unmarshal(body, &e)
	return e.Code
}

func TestTrailerChecksumIsVerifiedAndForwarded(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "trailers")
	for _, size := range []int{0, 1, 64<<10 + 3, 3 << 20} {
		data := harness.RandomBytes(size)
		good := trailerPut(t, fmt.Sprintf("%s/trailers/good-%d", s.front.URL, size), data, crc32Base64(data))
		if good.StatusCode != http.StatusOK {
			t.Fatalf("size %d: good trailer: %d %s", size, good.StatusCode, s3Code(t, good))
		}
		good.Body.Close()
		if got, ok := s.inMinIO(t, "trailers", fmt.Sprintf("good-%d", size)); !ok || !bytes.Equal(got, data) {
			t.Fatalf("size %d: stored %d bytes, want the %d sent", size, len(got), size)
		}
		// The checksum reached MinIO, which stored it with the object.
		info, err := s.minio.Client().StatObject(context.Background(), "trailers", fmt.Sprintf("good-%d", size), minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		if info.ChecksumCRC32 != crc32Base64(data) {
			t.Errorf("size %d: MinIO's CRC32 = %q, want %q (not forwarded?)", size, info.ChecksumCRC32, crc32Base64(data))
		}

		bad := trailerPut(t, fmt.Sprintf("%s/trailers/bad-%d", s.front.URL, size), data, crc32Base64(append([]byte{1}, data...)))
		if code := s3Code(t, bad); bad.StatusCode != http.StatusBadRequest || code != "BadDigest" {
			t.Fatalf("size %d: wrong trailer: %d %s, want 400 BadDigest", size, bad.StatusCode, code)
		}
		if _, ok := s.inMinIO(t, "trailers", fmt.Sprintf("bad-%d", size)); ok {
			t.Fatalf("size %d: an upload with a wrong checksum became an object", size)
		}
	}
}

// flipAt corrupts one byte of a stream in transit.
type flipAt struct {
	r   io.Reader
	at  int64
	pos int64
}

func (f *flipAt) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0x55
	}
	f.pos += int64(n)
	return n, err
}

func TestTamperedSignedChunkLeavesNoObject(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "chunks")
	data := harness.RandomBytes(200 << 10) // four 64 KiB chunks
	for name, flip := range map[string]int64{"none": -1, "first-chunk": 100, "last-chunk": 190 << 10} {
		req, _ := http.NewRequest(http.MethodPut, s.front.URL+"/chunks/"+name, bytes.NewReader(data))
		req.ContentLength = int64(len(data))
		signed := signer.StreamingSignV4(req, userKey, userSecret, "", "us-east-1", int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
		if flip >= 0 {
			signed.Body = io.NopCloser(&flipAt{r: signed.Body, at: flip + 90})
		}
		resp, err := http.DefaultClient.Do(signed)
		if err != nil {
			t.Fatal(err)
		}
		code := s3Code(t, resp)
		_, stored := s.inMinIO(t, "chunks", name)
		switch {
		case flip < 0 && (resp.StatusCode != 200 || !stored):
			t.Fatalf("untampered upload: %d %s, stored %v", resp.StatusCode, code, stored)
		case flip >= 0 && (code != "SignatureDoesNotMatch" || stored):
			t.Fatalf("%s: %d %s, stored %v; want SignatureDoesNotMatch and nothing stored", name, resp.StatusCode, code, stored)
		}
	}
}

func TestWrongSignedPayloadHashLeavesNoObject(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "hashes")
	data := harness.RandomBytes(100 << 10)
	other := sha256.Sum256([]byte("something else"))
	req, _ := http.NewRequest(http.MethodPut, s.front.URL+"/hashes/k", bytes.NewReader(data))
	req.Header.Set("X-Amz-Content-Sha256", fmt.Sprintf("%x", other))
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if code := s3Code(t, resp); code != "XAmzContentSHA256Mismatch" {
		t.Fatalf("got %d %s", resp.StatusCode, code)
	}
	if _, ok := s.inMinIO(t, "hashes", "k"); ok {
		t.Fatal("object stored despite a wrong payload hash")
	}
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	s := newStack(t, 500*time.Millisecond)
	s.bucket(t, "breaker")
	c := s.client(t)
	ctx := context.Background()
	if _, err := c.BucketExists(ctx, "breaker"); err != nil {
		t.Fatal(err)
	}
	if err := s.minio.Stop(); err != nil {
		t.Fatal(err)
	}
	head := func() *http.Response {
		req, _ := http.NewRequest(http.MethodHead, s.front.URL+"/breaker/", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 3 { // three failures (each with its retries) open the breaker
		if r := head(); r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("backend down: status %d, want 503", r.StatusCode)
		}
	}
	start := time.Now()
	r := head()
	if took := time.Since(start); r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || took > 100*time.Millisecond {
		t.Fatalf("open breaker: %d Retry-After=%q in %v; want an immediate 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"), took)
	}
	if err := s.minio.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for head().StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("service did not recover after MinIO returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUnknownSubresourceIsNotImplemented(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "subres")
	for _, target := range []string{"/subres/key?torrent", "/subres?foo-unknown", "/subres/key?uploadId=x"} {
		req, _ := http.NewRequest(http.MethodPut, s.front.URL+target, strings.NewReader(""))
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		if code := s3Code(t, resp); resp.StatusCode != http.StatusNotImplemented || code != "NotImplemented" {
			t.Errorf("PUT %s: %d %s", target, resp.StatusCode, code)
		}
		if resp.Header.Get("X-Amz-Request-Id") == "" {
			t.Errorf("PUT %s: no x-amz-request-id", target)
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	s := newStack(t, time.Second)
	for name, creds := range map[string][2]string{
		"SignatureDoesNotMatch": {userKey, "not-the-secret"},
		"InvalidAccessKeyId":    {"nobody", "whatever-secret"},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.front.URL+"/", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, creds[0], creds[1], "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		if code := s3Code(t, resp); resp.StatusCode != 403 || code != name {
			t.Errorf("got %d %s, want 403 %s", resp.StatusCode, code, name)
		}
	}
	if strings.Contains(s.logs.String(), userSecret) || strings.Contains(s.logs.String(), "not-the-secret") {
		t.Fatal("a secret reached the log")
	}
}

// lockedWriter serialises log writes from concurrent handlers.
type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sha256Hasher is the md5simd.Hasher minio-go's streaming signer wants.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestOneHugeUnsignedChunk sends what aws-sdk-go-v2 sends over HTTPS for a
// body of known length: the whole payload as a single aws-chunked chunk.
func TestOneHugeUnsignedChunk(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "bigchunk")
	data := harness.RandomBytes(20 << 20)
	var body bytes.Buffer
	fmt.Fprintf(&body, "%x\r\n", len(data))
	body.Write(data)
	fmt.Fprintf(&body, "\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", crc32Base64(data))
	req, _ := http.NewRequest(http.MethodPut, s.front.URL+"/bigchunk/one", bytes.NewReader(body.Bytes()))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, s3Code(t, resp))
	}
	resp.Body.Close()
	if got, ok := s.inMinIO(t, "bigchunk", "one"); !ok || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want %d", len(got), len(data))
	}
}

// fullAccess is the real policy engine with the one user of these tests.
func fullAccess(t *testing.T) *policy.Holder {
	t.Helper()
	e, err := policy.Compile(policy.Config{Users: []policy.UserConfig{{
		AccessKey: userKey, SecretKey: policy.Secret(userSecret), Grants: policy.FullAccess(),
	}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewHolder(e, policy.Options{})
}

// TestStalledUploadsAreCut covers a client that stops sending its body and a
// backend that stops reading it: both would otherwise hold the request (and
// a backend connection) forever.
func TestStalledUploadsAreCut(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	// A backend that accepts connections and never reads from them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	b, err := backend.NewBackend(backend.Config{Endpoint: "http://" + ln.Addr().String(), AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	front := httptest.NewServer(gateway.NewServer(gateway.Config{Backend: b, Policy: fullAccess(t), BodyIdleTimeout: 300 * time.Millisecond}))
	defer front.Close()

	t.Run("backend stops reading", func(t *testing.T) {
		data := harness.RandomBytes(64 << 20) // far more than socket buffers hold
		req, _ := http.NewRequest(http.MethodPut, front.URL+"/bucket/k", bytes.NewReader(data))
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		start := time.Now()
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		if code := s3Code(t, resp); resp.StatusCode != 503 || code != "ServiceUnavailable" || time.Since(start) > 20*time.Second {
			t.Fatalf("got %d %s after %v", resp.StatusCode, code, time.Since(start))
		}
	})
	t.Run("client stops sending", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() { _, _ = pw.Write([]byte("only the first bytes")) }() // then silence
		req, _ := http.NewRequest(http.MethodPut, front.URL+"/bucket/k", pr)
		req.ContentLength = 1 << 20
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		if code := s3Code(t, resp); resp.StatusCode != 400 || code != "RequestTimeout" {
			t.Fatalf("got %d %s", resp.StatusCode, code)
		}
	})
}

func TestUserMetadataNamesStayLowerCase(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "meta")
	ctx := context.Background()
	if _, err := s.client(t).PutObject(ctx, "meta", "k", strings.NewReader("x"), 1,
		minio.PutObjectOptions{UserMetadata: map[string]string{"camera": "X100V"}}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodHead, s.front.URL+"/meta/k", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signed := signer.SignV4(*req, userKey, userSecret, "", "us-east-1")
	signed.RequestURI = "/meta/k"
	rec := httptest.NewRecorder() // keeps header names exactly as written
	s.handler.ServeHTTP(rec, signed)
	if rec.Code != http.StatusOK {
		t.Fatalf("HEAD: %d", rec.Code)
	}
	//lint:ignore SA1008 the point is the exact, non-canonical name on the wire
	if got := rec.Result().Header["x-amz-meta-camera"]; len(got) != 1 || got[0] != "X100V" {
		t.Fatalf("metadata header names as sent: %v", rec.Result().Header)
	}
}

func TestBackendErrorsCarryThisRequestsID(t *testing.T) {
	s := newStack(t, time.Second)
	s.bucket(t, "errs")
	req, _ := http.NewRequest(http.MethodGet, s.front.URL+"/errs/missing", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code, RequestId, HostId string }
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || e.Code != "NoSuchKey" || e.RequestId != resp.Header.Get("X-Amz-Request-Id") || e.HostId != "test" {
		t.Fatalf("%d %+v, header id %s", resp.StatusCode, e, resp.Header.Get("X-Amz-Request-Id"))
	}
	if strconv.Itoa(len(body)) != resp.Header.Get("Content-Length") {
		t.Fatalf("Content-Length %s for a %d-byte body", resp.Header.Get("Content-Length"), len(body))
	}
	if !strings.Contains(s.logs.String(), `"backend_request_id"`) {
		t.Fatal("the backend's request id is not logged")
	}
}
