package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/test/harness"
)

const (
	userKey      = "gwtestuser"
	userSecret   = "gwtest-secret-key"
	readerKey    = "gwtestreader" // may read and list, nothing else
	readerSecret = "gwtest-reader-secret"
)

// signedDo signs req as the test user and sends it. Without an
// x-amz-content-sha256 header the payload is declared unsigned.
func signedDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	if req.Header.Get("X-Amz-Content-Sha256") == "" {
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	}
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signedPayloadRequest is a request whose body's SHA-256 is signed.
func signedPayloadRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	return req
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMinioGoRoundTrip(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
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
			got, ok := s.stored(t, "roundtrip", key)
			if !ok || !bytes.Equal(got, data) {
				t.Fatalf("size %d: the backend holds %d bytes, want %d", size, len(got), size)
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
	})
}

// TestSignedObjectRoundTrip drives one object through its life with plain
// signed requests and compares every byte and header that comes back.
func TestSignedObjectRoundTrip(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "objects")
		data := harness.RandomBytes(300<<10 + 7)
		url := s.front.URL + "/objects/photos/2024/img_0001.jpg"
		md5sum := md5.Sum(data)
		wantETag := `"` + hex.EncodeToString(md5sum[:]) + `"`

		put := signedPayloadRequest(t, http.MethodPut, url, data)
		put.Header.Set("Content-Type", "image/jpeg")
		put.Header.Set("X-Amz-Meta-Camera", "X100V")
		resp := signedDo(t, put)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %d %s", resp.StatusCode, s3Code(t, resp))
		}
		resp.Body.Close()
		if got := resp.Header.Get("ETag"); got != wantETag {
			t.Errorf("PUT ETag %s, want %s", got, wantETag)
		}
		if resp.Header.Get("X-Amz-Request-Id") == "" || resp.Header.Get("X-Amz-Id-2") != "test" {
			t.Errorf("PUT: request ids %q %q", resp.Header.Get("X-Amz-Request-Id"), resp.Header.Get("X-Amz-Id-2"))
		}
		if got, ok := s.stored(t, "objects", "photos/2024/img_0001.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("the backend holds %d bytes, want the %d sent", len(got), len(data))
		}

		get, _ := http.NewRequest(http.MethodGet, url, nil)
		resp = signedDo(t, get)
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("GET: %d, %d bytes, want 200 and the %d bytes put", resp.StatusCode, len(body), len(data))
		}
		if resp.Header.Get("ETag") != wantETag || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("GET: ETag %s Content-Type %s", resp.Header.Get("ETag"), resp.Header.Get("Content-Type"))
		}

		ranged, _ := http.NewRequest(http.MethodGet, url, nil)
		ranged.Header.Set("Range", "bytes=1000-1999")
		resp = signedDo(t, ranged)
		if body := readBody(t, resp); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000:2000]) {
			t.Fatalf("ranged GET: %d, %d bytes, want 206 and bytes 1000-1999", resp.StatusCode, len(body))
		}

		head, _ := http.NewRequest(http.MethodHead, url, nil)
		resp = signedDo(t, head)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) || resp.Header.Get("ETag") != wantETag {
			t.Fatalf("HEAD: %d length %d ETag %s", resp.StatusCode, resp.ContentLength, resp.Header.Get("ETag"))
		}
		if got := resp.Header.Get("X-Amz-Meta-Camera"); got != "X100V" {
			t.Errorf("HEAD: x-amz-meta-camera %q, want X100V", got)
		}

		del, _ := http.NewRequest(http.MethodDelete, url, nil)
		resp = signedDo(t, del)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, s3Code(t, resp))
		}
		resp.Body.Close()
		if _, ok := s.stored(t, "objects", "photos/2024/img_0001.jpg"); ok {
			t.Fatal("the object is still stored after DELETE")
		}
		gone, _ := http.NewRequest(http.MethodGet, url, nil)
		if resp := signedDo(t, gone); resp.StatusCode != http.StatusNotFound || s3Code(t, resp) != "NoSuchKey" {
			t.Fatalf("GET after DELETE: %d, want 404 NoSuchKey", resp.StatusCode)
		}
		headGone, _ := http.NewRequest(http.MethodHead, url, nil)
		resp = signedDo(t, headGone)
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || len(body) != 0 {
			t.Fatalf("HEAD after DELETE: %d with %d body bytes, want 404 and no body", resp.StatusCode, len(body))
		}
	})
}

func TestMultipartUpload(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "multi")
		ctx := context.Background()
		core := minio.Core{Client: s.client(t)}
		data := harness.RandomBytes(5<<20 + 1000) // S3's smallest first part, then a short last one
		parts := [][]byte{data[:5<<20], data[5<<20:]}

		id, err := core.NewMultipartUpload(ctx, "multi", "album/big.jpg", minio.PutObjectOptions{ContentType: "image/jpeg"})
		if err != nil {
			t.Fatal(err)
		}
		var complete []minio.CompletePart
		for i, p := range parts {
			op, err := core.PutObjectPart(ctx, "multi", "album/big.jpg", id, i+1, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{})
			if err != nil {
				t.Fatalf("part %d: %v", i+1, err)
			}
			complete = append(complete, minio.CompletePart{PartNumber: i + 1, ETag: op.ETag})
		}
		listed, err := core.ListObjectParts(ctx, "multi", "album/big.jpg", id, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed.ObjectParts) != 2 || listed.ObjectParts[1].Size != int64(len(parts[1])) {
			t.Fatalf("listed parts %+v, want the two uploaded", listed.ObjectParts)
		}
		if _, ok := s.stored(t, "multi", "album/big.jpg"); ok {
			t.Fatal("the object exists before its upload was completed")
		}

		wrong := []minio.CompletePart{complete[0], {PartNumber: 2, ETag: complete[0].ETag}}
		_, err = core.CompleteMultipartUpload(ctx, "multi", "album/big.jpg", id, wrong, minio.PutObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != "InvalidPart" {
			t.Fatalf("completing with a wrong part ETag: %v (%s), want InvalidPart", err, code)
		}
		info, err := core.CompleteMultipartUpload(ctx, "multi", "album/big.jpg", id, complete, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The backend writes its own address there; the client must get
		// the one it used.
		if want := s.front.URL + "/multi/album/big.jpg"; info.Location != want {
			t.Fatalf("Location %q, want %q", info.Location, want)
		}
		if got, ok := s.stored(t, "multi", "album/big.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("the backend holds %d bytes, want the %d uploaded", len(got), len(data))
		}
		obj, err := s.client(t).GetObject(ctx, "multi", "album/big.jpg", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("GET through photogate: %v, %d bytes", err, len(back))
		}

		aborted, err := core.NewMultipartUpload(ctx, "multi", "album/abandoned.jpg", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.PutObjectPart(ctx, "multi", "album/abandoned.jpg", aborted, 1, bytes.NewReader(parts[1]), int64(len(parts[1])), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := core.AbortMultipartUpload(ctx, "multi", "album/abandoned.jpg", aborted); err != nil {
			t.Fatal(err)
		}
		_, err = core.PutObjectPart(ctx, "multi", "album/abandoned.jpg", aborted, 2, bytes.NewReader(parts[1]), int64(len(parts[1])), minio.PutObjectPartOptions{})
		if code := minio.ToErrorResponse(err).Code; code != "NoSuchUpload" {
			t.Fatalf("a part for an aborted upload: %v (%s), want NoSuchUpload", err, code)
		}
	})
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
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "trailers")
		for _, size := range []int{0, 1, 64<<10 + 3, 3 << 20} {
			data := harness.RandomBytes(size)
			good := trailerPut(t, fmt.Sprintf("%s/trailers/good-%d", s.front.URL, size), data, crc32Base64(data))
			if good.StatusCode != http.StatusOK {
				t.Fatalf("size %d: good trailer: %d %s", size, good.StatusCode, s3Code(t, good))
			}
			good.Body.Close()
			if got, ok := s.stored(t, "trailers", fmt.Sprintf("good-%d", size)); !ok || !bytes.Equal(got, data) {
				t.Fatalf("size %d: stored %d bytes, want the %d sent", size, len(got), size)
			}
			if s.origin.storesChecksums {
				// The checksum reached the backend, which stored it with the object.
				info, err := s.direct.StatObject(context.Background(), "trailers", fmt.Sprintf("good-%d", size), minio.StatObjectOptions{Checksum: true})
				if err != nil {
					t.Fatal(err)
				}
				if info.ChecksumCRC32 != crc32Base64(data) {
					t.Errorf("size %d: the backend's CRC32 = %q, want %q (not forwarded?)", size, info.ChecksumCRC32, crc32Base64(data))
				}
			}

			bad := trailerPut(t, fmt.Sprintf("%s/trailers/bad-%d", s.front.URL, size), data, crc32Base64(append([]byte{1}, data...)))
			if code := s3Code(t, bad); bad.StatusCode != http.StatusBadRequest || code != "BadDigest" {
				t.Fatalf("size %d: wrong trailer: %d %s, want 400 BadDigest", size, bad.StatusCode, code)
			}
			if _, ok := s.stored(t, "trailers", fmt.Sprintf("bad-%d", size)); ok {
				t.Fatalf("size %d: an upload with a wrong checksum became an object", size)
			}
		}
	})
}

// TestHeaderChecksumsOfEveryPayloadMode: a checksum or Content-MD5 header
// that does not match the body stores nothing and is BadDigest, whether
// photogate checks it (unsigned payloads) or leaves it to the backend (a
// signed payload, whose bytes photogate has already authenticated by
// SHA-256); a matching one reaches the backend, which stores it.
func TestHeaderChecksumsOfEveryPayloadMode(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "sums")
		data := harness.RandomBytes(300<<10 + 7)
		md5sum := md5.Sum(data)
		wrongMD5 := md5.Sum(data[1:])
		for _, signed := range []bool{false, true} {
			for _, c := range []struct {
				name, header, good, bad, message string
			}{
				{"crc32", "X-Amz-Checksum-Crc32", crc32Base64(data), crc32Base64(data[1:]), "The CRC32 you specified did not match the calculated checksum."},
				{"md5", "Content-MD5", base64.StdEncoding.EncodeToString(md5sum[:]), base64.StdEncoding.EncodeToString(wrongMD5[:]), "The Content-MD5 you specified did not match what we received."},
			} {
				put := func(key, value string) *http.Response {
					url := s.front.URL + "/sums/" + key
					req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					if signed {
						req = signedPayloadRequest(t, http.MethodPut, url, data)
					}
					req.Header.Set(c.header, value)
					return signedDo(t, req)
				}
				mode := map[bool]string{false: "unsigned", true: "signed"}[signed]
				good := put(mode+"-"+c.name+"-good", c.good)
				if good.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: the right value: %d %s", mode, c.name, good.StatusCode, s3Code(t, good))
				}
				good.Body.Close()
				if got, ok := s.stored(t, "sums", mode+"-"+c.name+"-good"); !ok || !bytes.Equal(got, data) {
					t.Fatalf("%s %s: stored %d bytes, want the %d sent", mode, c.name, len(got), len(data))
				}
				if s.origin.storesChecksums && c.name == "crc32" {
					info, err := s.direct.StatObject(context.Background(), "sums", mode+"-"+c.name+"-good", minio.StatObjectOptions{Checksum: true})
					if err != nil {
						t.Fatal(err)
					}
					if info.ChecksumCRC32 != c.good {
						t.Errorf("%s: the backend's CRC32 = %q, want %q", mode, info.ChecksumCRC32, c.good)
					}
				}

				bad := put(mode+"-"+c.name+"-bad", c.bad)
				body := readBody(t, bad)
				var e struct{ Code, Message string }
				_ = xml.Unmarshal(body, &e)
				if bad.StatusCode != http.StatusBadRequest || e.Code != "BadDigest" || (c.message != "" && e.Message != c.message) {
					t.Errorf("%s %s: a wrong value: %d %s %q, want 400 BadDigest %q", mode, c.name, bad.StatusCode, e.Code, e.Message, c.message)
				}
				if _, ok := s.stored(t, "sums", mode+"-"+c.name+"-bad"); ok {
					t.Fatalf("%s %s: an upload with a wrong value became an object", mode, c.name)
				}
			}
			req := signedPayloadRequest(t, http.MethodPut, s.front.URL+"/sums/malformed-md5", data)
			if !signed {
				req.Header.Del("X-Amz-Content-Sha256")
			}
			req.Header.Set("Content-MD5", "not base64!")
			if resp := signedDo(t, req); resp.StatusCode != http.StatusBadRequest || s3Code(t, resp) != "InvalidDigest" {
				t.Errorf("signed %v: a malformed Content-MD5: %d, want 400 InvalidDigest", signed, resp.StatusCode)
			}
		}
	})
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
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
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
			got, stored := s.stored(t, "chunks", name)
			switch {
			case flip < 0 && (resp.StatusCode != 200 || !bytes.Equal(got, data)):
				t.Fatalf("untampered upload: %d %s, stored %v (%d bytes)", resp.StatusCode, code, stored, len(got))
			case flip >= 0 && (code != "SignatureDoesNotMatch" || stored):
				t.Fatalf("%s: %d %s, stored %v; want SignatureDoesNotMatch and nothing stored", name, resp.StatusCode, code, stored)
			}
		}
	})
}

func TestWrongSignedPayloadHashLeavesNoObject(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "hashes")
		req := signedPayloadRequest(t, http.MethodPut, s.front.URL+"/hashes/k", []byte("something else"))
		req.Body = io.NopCloser(bytes.NewReader(harness.RandomBytes(100 << 10)))
		req.ContentLength = 100 << 10
		if resp := signedDo(t, req); s3Code(t, resp) != "XAmzContentSHA256Mismatch" {
			t.Fatalf("got %d, want XAmzContentSHA256Mismatch", resp.StatusCode)
		}
		if _, ok := s.stored(t, "hashes", "k"); ok {
			t.Fatal("object stored despite a wrong payload hash")
		}
	})
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	eachBackend(t, stackOptions{breakerOpen: 500 * time.Millisecond}, func(t *testing.T, s *stack) {
		s.bucket(t, "breaker")
		if _, err := s.client(t).BucketExists(context.Background(), "breaker"); err != nil {
			t.Fatal(err)
		}
		if err := s.origin.down(); err != nil {
			t.Fatal(err)
		}
		head := func() *http.Response {
			req, _ := http.NewRequest(http.MethodHead, s.front.URL+"/breaker/", nil)
			resp := signedDo(t, req)
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
		if got := s.backend.BreakerState().String(); got != "open" {
			t.Fatalf("breaker %s, want open", got)
		}
		if err := s.origin.up(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for head().StatusCode != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatal("service did not recover after the backend returned")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// Requests photogate refuses itself never reach the backend, so the
// embedded one is enough for them.

func TestUnknownSubresourceIsNotImplemented(t *testing.T) {
	s := newStack(t, embeddedKind, stackOptions{})
	s.bucket(t, "subres")
	for _, target := range []string{"/subres/key?torrent", "/subres?foo-unknown", "/subres/key?uploadId=x"} {
		req, _ := http.NewRequest(http.MethodPut, s.front.URL+target, strings.NewReader(""))
		resp := signedDo(t, req)
		if code := s3Code(t, resp); resp.StatusCode != http.StatusNotImplemented || code != "NotImplemented" {
			t.Errorf("PUT %s: %d %s", target, resp.StatusCode, code)
		}
		if resp.Header.Get("X-Amz-Request-Id") == "" {
			t.Errorf("PUT %s: no x-amz-request-id", target)
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	s := newStack(t, embeddedKind, stackOptions{})
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

func TestPolicyRefusalLeavesBackendUntouched(t *testing.T) {
	s := newStack(t, embeddedKind, stackOptions{policy: readerAndFullAccess(t)})
	s.bucket(t, "guarded")
	ctx := context.Background()
	if _, err := s.client(t).PutObject(ctx, "guarded", "existing", strings.NewReader("kept"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := s.clientAs(t, readerKey, readerSecret)
	obj, err := reader.GetObject(ctx, "guarded", "existing", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(got) != "kept" {
		t.Fatalf("reader's GET: %v %q", err, got)
	}
	_, err = reader.PutObject(ctx, "guarded", "new", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Fatalf("reader's PUT: %v (%s), want AccessDenied", err, code)
	}
	err = reader.RemoveObject(ctx, "guarded", "existing", minio.RemoveObjectOptions{})
	if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Fatalf("reader's DELETE: %v (%s), want AccessDenied", err, code)
	}
	if _, ok := s.stored(t, "guarded", "new"); ok {
		t.Fatal("a refused PUT was stored")
	}
	if got, ok := s.stored(t, "guarded", "existing"); !ok || string(got) != "kept" {
		t.Fatal("a refused DELETE removed the object")
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
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
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
		resp := signedDo(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s", resp.StatusCode, s3Code(t, resp))
		}
		resp.Body.Close()
		if got, ok := s.stored(t, "bigchunk", "one"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("stored %d bytes, want %d", len(got), len(data))
		}
	})
}

// fullAccess is the real policy engine with the one user of these tests.
func fullAccess(t *testing.T) *policy.Holder {
	t.Helper()
	return compilePolicy(t, policy.Config{Users: []policy.UserConfig{{
		AccessKey: userKey, SecretKey: policy.Secret(userSecret), Grants: policy.FullAccess(),
	}}})
}

// readerAndFullAccess adds a user who may only read and list.
func readerAndFullAccess(t *testing.T) *policy.Holder {
	t.Helper()
	return compilePolicy(t, policy.Config{Users: []policy.UserConfig{
		{AccessKey: userKey, SecretKey: policy.Secret(userSecret), Grants: policy.FullAccess()},
		{AccessKey: readerKey, SecretKey: policy.Secret(readerSecret), Grants: []policy.Grant{{
			Buckets: policy.Patterns{"*"}, Actions: []classify.Action{classify.ActionRead, classify.ActionList},
		}}},
	}})
}

func compilePolicy(t *testing.T, cfg policy.Config) *policy.Holder {
	t.Helper()
	e, err := policy.Compile(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewHolder(e, policy.Options{})
}

// TestStalledUploadsAreCut covers a client that stops sending its body and a
// backend that stops reading it: both would otherwise hold the request (and
// a backend connection) forever.
func TestStalledUploadsAreCut(t *testing.T) {
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
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
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
	})
}

func TestBackendErrorsCarryThisRequestsID(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "errs")
		req, _ := http.NewRequest(http.MethodGet, s.front.URL+"/errs/missing", nil)
		resp := signedDo(t, req)
		body := readBody(t, resp)
		var e struct{ Code, RequestId, HostId string }
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		id := resp.Header.Get("X-Amz-Request-Id")
		if resp.StatusCode != 404 || e.Code != "NoSuchKey" || id == "" || (e.RequestId == "" && s.origin.errorIDs) || (e.RequestId != "" && e.RequestId != id) || (e.HostId != "test" && s.origin.errorIDs) {
			t.Fatalf("%d %+v, header id %s; body:\n%s", resp.StatusCode, e, id, body)
		}
		if strconv.Itoa(len(body)) != resp.Header.Get("Content-Length") {
			t.Fatalf("Content-Length %s for a %d-byte body", resp.Header.Get("Content-Length"), len(body))
		}
		if !strings.Contains(s.logs.String(), `"backend_request_id"`) {
			t.Fatal("the backend's request id is not logged")
		}
	})
}

// TestCannedACLs: PutBucketAcl and PutObjectAcl with x-amz-acl reach MinIO
// when the ACL is "private" (the header used to be dropped, which left an
// empty ACL body: MalformedXML), and any other ACL or grant is
// NotImplemented, as MinIO implements none.
func TestCannedACLs(t *testing.T) {
	s := newStack(t, minioKind, stackOptions{})
	s.bucket(t, "acls")
	if _, err := s.client(t).PutObject(context.Background(), "acls", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/acls?acl", "/acls/k?acl"} {
		for _, tc := range []struct {
			header, value string
			status        int
		}{
			{"X-Amz-Acl", "private", http.StatusOK},
			{"X-Amz-Acl", "public-read", http.StatusNotImplemented},
			{"X-Amz-Acl", "public-ready", http.StatusBadRequest}, // no canned ACL at all
			{"X-Amz-Grant-Read", "uri=http://acs.amazonaws.com/groups/global/AllUsers", http.StatusNotImplemented},
		} {
			req, _ := http.NewRequest(http.MethodPut, s.front.URL+target, nil)
			req.Header.Set(tc.header, tc.value)
			resp := signedDo(t, req)
			code := s3Code(t, resp)
			want := map[int]string{http.StatusOK: "", http.StatusNotImplemented: "NotImplemented", http.StatusBadRequest: "InvalidArgument"}[tc.status]
			if resp.StatusCode != tc.status || code != want {
				t.Errorf("PUT %s with %s: %s: %d %s, want %d", target, tc.header, tc.value, resp.StatusCode, code, tc.status)
			}
		}
	}
}

// TestContentEncodingKeptAsSent: Content-Encoding reaches MinIO as the
// client wrote it, less the aws-chunked framing coding ("deflate, gzip"
// was stored as "deflate,gzip").
func TestContentEncodingKeptAsSent(t *testing.T) {
	s := newStack(t, minioKind, stackOptions{})
	s.bucket(t, "encodings")
	for sent, want := range map[string]string{"deflate, gzip": "deflate, gzip", "gzip, aws-chunked": "gzip"} {
		req := signedPayloadRequest(t, http.MethodPut, s.front.URL+"/encodings/k", []byte("x"))
		req.Header.Set("Content-Encoding", sent)
		if resp := signedDo(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT with Content-Encoding %q: %d %s", sent, resp.StatusCode, s3Code(t, resp))
		}
		info, err := s.direct.StatObject(context.Background(), "encodings", "k", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Metadata.Get("Content-Encoding"); got != want {
			t.Errorf("sent Content-Encoding %q, MinIO stored %q, want %q", sent, got, want)
		}
	}
}

// TestReadWithUploadEncryptionHeaders: a GET or HEAD naming SSE-S3/SSE-KMS
// encryption is refused (400), as S3 and MinIO refuse it, rather than
// answered as if the headers were not there.
func TestReadWithUploadEncryptionHeaders(t *testing.T) {
	s := newStack(t, minioKind, stackOptions{})
	s.bucket(t, "sse")
	if _, err := s.client(t).PutObject(context.Background(), "sse", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, s.front.URL+"/sse/k", nil)
		req.Header.Set("X-Amz-Server-Side-Encryption", "aws:kms")
		req.Header.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "testkey-1")
		resp := signedDo(t, req)
		code := "" // a HEAD answer has no body to name it
		if method == http.MethodGet {
			code = s3Code(t, resp)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || method == http.MethodGet && code != "InvalidArgument" {
			t.Errorf("%s with SSE-KMS headers: %d %s, want 400 InvalidArgument", method, resp.StatusCode, code)
		}
	}
}
