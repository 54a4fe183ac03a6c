package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/s3/s3err"
)

const (
	rtKey    = "PHOTOGATETESTKEY"
	rtSecret = "s3cr3t/with+odd=chars"
)

// Object keys that exercise the canonical URI encoding.
var rtObjectKeys = []string{
	"plain.txt",
	"with space.txt",
	"ünïcödé/日本語.txt",
	"a+b.txt",
	"bang!.txt",
	"star*.txt",
	"quote'.txt",
	"paren(1).txt",
	"tilde~.txt",
	"100%.txt",
	"percent%20literal",
	"semi;colon,comma=eq&amp@at:colon$",
	"dir//double//slash/",
	"dot/./seg/../x",
}

// Raw queries (as they would appear in the URL) that exercise the canonical
// query: empty values, valueless keys, repeated keys in unsorted order, '+'
// and encoded reserved characters.
var rtQueries = []string{
	"",
	"acl",
	"uploads=",
	"a=&b&c=3&c=1&c=2",
	"list-type=2&prefix=dir%2F&delimiter=%2F&max-keys=10",
	"x=a+b&y=a%2Bb&z=a%20b",
	"k=%E6%97%A5%E6%9C%AC&%E6%97%A5=v",
	"weird=%21%2A%27%28%29~&tilde=~",
	"Z=1&a=2&A=3&_=4&-=5",
}

// newServer runs v behind a real net/http server. A successful request is
// answered 200 with the Result in X-Test-* headers; aws-chunked bodies are
// decoded and every chunk signature checked.
func newServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := checkAndVerify(v, r)
		if err != nil {
			s3err.Write(w, err, r.URL.Path, "test", "test")
			return
		}
		var body []byte
		if res.PayloadHash == StreamingSigned || res.PayloadHash == StreamingSignedTrailer {
			body, err = readSignedChunks(r.Body, res)
		} else {
			body, err = io.ReadAll(r.Body)
		}
		if err != nil {
			s3err.Write(w, s3err.Wrap(s3err.SignatureDoesNotMatch, err.Error(), err), r.URL.Path, "test", "test")
			return
		}
		h := w.Header()
		h.Set("X-Test-Version", strconv.Itoa(res.Version))
		h.Set("X-Test-Access-Key", res.AccessKey)
		h.Set("X-Test-Region", res.Region)
		h.Set("X-Test-Payload", res.PayloadHash)
		h.Set("X-Test-Presigned", strconv.FormatBool(res.Presigned))
		h.Set("X-Test-Body", sha256Hex(body))
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// readSignedChunks decodes an aws-chunked body, checking each chunk
// signature (and the trailer signature) with res.
func readSignedChunks(body io.Reader, res *Result) ([]byte, error) {
	br := bufio.NewReader(body)
	prev := res.Signature
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("chunk header: %w", err)
		}
		sizeHex, sig, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ";chunk-signature=")
		size, err := strconv.ParseInt(sizeHex, 16, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad chunk header %q", line)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		if want := res.ChunkSignature(prev, sum[:]); want != sig {
			return nil, errors.New("chunk signature mismatch")
		}
		prev = sig
		out = append(out, data...)
		if size == 0 {
			break
		}
		if _, err := br.Discard(2); err != nil {
			return nil, err
		}
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	if res.PayloadHash == StreamingSignedTrailer {
		trailer, sig, ok := strings.Cut(string(rest), "\r\nx-amz-trailer-signature:")
		if !ok || res.TrailerSignature(prev, []byte(trailer)) != strings.TrimSpace(sig) {
			return nil, errors.New("trailer signature mismatch")
		}
	}
	return out, nil
}

type reply struct {
	status  int
	code    string
	message string
	header  http.Header
}

func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	rp := reply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("error body %q: %v", body, err)
		}
		rp.code, rp.message = e.Code, e.Message
	}
	return rp
}

func expectOK(t *testing.T, rp reply, what string) {
	t.Helper()
	if rp.status != http.StatusOK {
		t.Errorf("%s: %d %s: %s", what, rp.status, rp.code, rp.message)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkAndVerify runs what the gateway runs first on every request, so that
// every client the tests drive also shows it sends no repeated single-valued
// header.
func checkAndVerify(v *Verifier, r *http.Request) (*Result, error) {
	if err := CheckSingleValuedHeaders(r.Header); err != nil {
		return nil, err
	}
	return v.Verify(r)
}

func rtVerifier() *Verifier {
	return &Verifier{Secrets: staticSecrets(rtKey, rtSecret, "OTHERKEY", "other-secret")}
}

// objectURL builds the URL an S3 SDK would: the key percent-encoded the way
// S3 canonicalizes it, so that the path on the wire is the canonical one.
func objectURL(base, key, query string) string {
	u := base + "/bucket/" + escape(key, true)
	if query != "" {
		u += "?" + query
	}
	return u
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRoundTripMinioSignV4(t *testing.T) {
	srv := newServer(t, rtVerifier())
	for _, key := range rtObjectKeys {
		for _, q := range rtQueries {
			req := newRequest(t, http.MethodGet, objectURL(srv.URL, key, q), nil)
			req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			rp := send(t, signer.SignV4(*req, rtKey, rtSecret, "", "us-east-1"))
			expectOK(t, rp, fmt.Sprintf("GET key %q query %q", key, q))
		}
	}

	t.Run("PUT with headers", func(t *testing.T) {
		body := []byte("hello, photogate")
		req := newRequest(t, http.MethodPut, objectURL(srv.URL, "dir/ob ject+1", ""), body)
		req.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		req.Header.Set("X-Amz-Meta-Note", "  spaced   out   value ")
		req.Header.Add("X-Amz-Meta-Multi", "one")
		req.Header.Add("X-Amz-Meta-Multi", "two")
		req.Header.Set("Expect", "100-continue")
		rp := send(t, signer.SignV4(*req, rtKey, rtSecret, "session-token", "eu-central-1"))
		expectOK(t, rp, "PUT")
		if rp.header.Get("X-Test-Region") != "eu-central-1" || rp.header.Get("X-Test-Body") != sha256Hex(body) ||
			rp.header.Get("X-Test-Payload") != sha256Hex(body) {
			t.Errorf("result headers %v", rp.header)
		}
	})

	t.Run("any region", func(t *testing.T) {
		for _, region := range []string{"us-east-1", "ap-southeast-2", "photogate", "US"} {
			req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
			req.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
			rp := send(t, signer.SignV4(*req, rtKey, rtSecret, "", region))
			expectOK(t, rp, region)
			if rp.header.Get("X-Test-Region") != region {
				t.Errorf("region %q, want %q", rp.header.Get("X-Test-Region"), region)
			}
		}
	})

	t.Run("access key with slash", func(t *testing.T) {
		v := &Verifier{Secrets: staticSecrets("team/alice", "alice-secret")}
		srv := newServer(t, v)
		req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
		req.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		rp := send(t, signer.SignV4(*req, "team/alice", "alice-secret", "", "us-east-1"))
		expectOK(t, rp, "slash key")
		if rp.header.Get("X-Test-Access-Key") != "team/alice" {
			t.Errorf("access key %q", rp.header.Get("X-Test-Access-Key"))
		}
	})
}

func TestRoundTripMinioPresignV4(t *testing.T) {
	srv := newServer(t, rtVerifier())
	for _, key := range rtObjectKeys {
		for _, q := range rtQueries {
			req := newRequest(t, http.MethodGet, objectURL(srv.URL, key, q), nil)
			pre := signer.PreSignV4(*req, rtKey, rtSecret, "", "us-west-2", 3600)
			rp := send(t, newRequest(t, http.MethodGet, pre.URL.String(), nil))
			expectOK(t, rp, fmt.Sprintf("presigned GET key %q query %q", key, q))
			if rp.status == http.StatusOK && (rp.header.Get("X-Test-Presigned") != "true" ||
				rp.header.Get("X-Test-Payload") != UnsignedPayload) {
				t.Errorf("result headers %v", rp.header)
			}
		}
	}

	t.Run("session token and signed header", func(t *testing.T) {
		req := newRequest(t, http.MethodPut, objectURL(srv.URL, "up load", ""), []byte("data"))
		req.Header.Set("X-Amz-Meta-Owner", "bob")
		pre := signer.PreSignV4(*req, rtKey, rtSecret, "tok+en/==", "us-east-1", 60)
		put := newRequest(t, http.MethodPut, pre.URL.String(), []byte("data"))
		put.Header.Set("X-Amz-Meta-Owner", "bob")
		expectOK(t, send(t, put), "presigned PUT")
	})
}

// sha256Hasher adapts crypto/sha256 to the hasher minio-go's streaming
// signer wants.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func TestRoundTripMinioStreaming(t *testing.T) {
	srv := newServer(t, rtVerifier())
	for _, size := range []int{0, 1, 64 * 1024, 150_000} {
		for _, withTrailer := range []bool{false, true} {
			name := fmt.Sprintf("%d bytes trailer=%v", size, withTrailer)
			t.Run(name, func(t *testing.T) {
				body := bytes.Repeat([]byte("photogate!"), size/10+1)[:size]
				req := newRequest(t, http.MethodPut, objectURL(srv.URL, "stream ed+obj", ""), body)
				req.Header.Set("Content-Type", "application/octet-stream")
				want := StreamingSigned
				if withTrailer {
					req.Trailer = http.Header{"X-Amz-Checksum-Crc32c": {"AAAAAA=="}}
					want = StreamingSignedTrailer
				}
				signed := signer.StreamingSignV4(req, rtKey, rtSecret, "", "us-east-1", int64(size),
					time.Now().UTC(), sha256Hasher{sha256.New()})
				rp := send(t, signed)
				expectOK(t, rp, name)
				if rp.header.Get("X-Test-Payload") != want || rp.header.Get("X-Test-Body") != sha256Hex(body) {
					t.Errorf("result headers %v", rp.header)
				}
			})
		}
	}

	t.Run("unsigned trailer", func(t *testing.T) {
		body := []byte("unsigned trailer body")
		req := newRequest(t, http.MethodPut, objectURL(srv.URL, "obj", ""), body)
		trailer := http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}
		req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedTrailer)
		rp := send(t, signer.SignV4Trailer(*req, rtKey, rtSecret, "", "us-east-1", trailer))
		expectOK(t, rp, "unsigned trailer")
		if rp.header.Get("X-Test-Payload") != StreamingUnsignedTrailer {
			t.Errorf("payload %q", rp.header.Get("X-Test-Payload"))
		}
	})
}

// awsSigner signs the way the AWS SDK's S3 client does: the path is taken as
// already escaped (DisableURIPathEscaping), the payload hash is sent.
func awsSigner() *awsv4.Signer {
	return awsv4.NewSigner(func(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true })
}

var rtCreds = aws.Credentials{AccessKeyID: rtKey, SecretAccessKey: rtSecret}

func awsSign(t *testing.T, req *http.Request, payload, region string, at time.Time, creds aws.Credentials) *http.Request {
	t.Helper()
	if payload != "" {
		req.Header.Set("X-Amz-Content-Sha256", payload)
	} else {
		payload = EmptySHA256
	}
	if err := awsSigner().SignHTTP(context.Background(), creds, req, payload, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

func awsPresign(t *testing.T, req *http.Request, expires string, region string, at time.Time, creds aws.Credentials) *http.Request {
	t.Helper()
	q := req.URL.Query()
	q.Set("X-Amz-Expires", expires)
	req.URL.RawQuery = q.Encode()
	uri, hdr, err := awsSigner().PresignHTTP(context.Background(), creds, req, UnsignedPayload, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(req.Method, uri, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.ContentLength = req.ContentLength
	for k, vs := range hdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return out
}

func TestRoundTripAWSSDK(t *testing.T) {
	srv := newServer(t, rtVerifier())
	now := time.Now()
	for _, key := range rtObjectKeys {
		for _, q := range rtQueries {
			what := fmt.Sprintf("key %q query %q", key, q)
			req := newRequest(t, http.MethodGet, objectURL(srv.URL, key, q), nil)
			expectOK(t, send(t, awsSign(t, req, EmptySHA256, "us-east-1", now, rtCreds)), "GET "+what)

			req = newRequest(t, http.MethodGet, objectURL(srv.URL, key, q), nil)
			rp := send(t, awsPresign(t, req, "900", "eu-west-1", now, rtCreds))
			expectOK(t, rp, "presigned GET "+what)
		}
	}

	t.Run("PUT with body and content-length", func(t *testing.T) {
		body := []byte("some object data")
		req := newRequest(t, http.MethodPut, objectURL(srv.URL, "a b/c", "x-id=PutObject"), body)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("X-Amz-Meta-Key", "value   with  spaces")
		req.Header.Set("X-Amz-Storage-Class", "STANDARD")
		rp := send(t, awsSign(t, req, sha256Hex(body), "us-east-2", now, rtCreds))
		expectOK(t, rp, "PUT")
		if rp.header.Get("X-Test-Payload") != sha256Hex(body) {
			t.Errorf("payload %q", rp.header.Get("X-Test-Payload"))
		}
	})

	t.Run("no x-amz-content-sha256 header", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
		rp := send(t, awsSign(t, req, "", "us-east-1", now, rtCreds))
		expectOK(t, rp, "GET")
		if rp.header.Get("X-Test-Payload") != EmptySHA256 {
			t.Errorf("payload %q, want EmptySHA256", rp.header.Get("X-Test-Payload"))
		}
	})

	t.Run("presigned PUT with signed metadata", func(t *testing.T) {
		body := []byte("presigned body")
		req := newRequest(t, http.MethodPut, objectURL(srv.URL, "up+load", ""), body)
		req.Header.Set("X-Amz-Meta-Owner", "alice")
		req.Header.Set("X-Amz-Acl", "private")
		expectOK(t, send(t, awsPresign(t, req, "600", "us-east-1", now, rtCreds)), "presigned PUT")
	})

	// A client that signs the escaped path exactly as it sends it, without
	// re-encoding sub-delimiters: only the raw-path fallback verifies it.
	t.Run("raw path fallback", func(t *testing.T) {
		for _, p := range []string{"/bucket/a+b!*'()", "/bucket/x=y&z;w,v:@$", "/bucket/%7Etilde"} {
			req := newRequest(t, http.MethodGet, srv.URL+p, nil)
			if req.URL.EscapedPath() != p {
				t.Fatalf("Go re-escaped %q to %q", p, req.URL.EscapedPath())
			}
			expectOK(t, send(t, awsSign(t, req, EmptySHA256, "us-east-1", now, rtCreds)), p)
		}
	})
}

// TestRoundTripRawWire covers headers that net/http's client never sends as
// part of req.Header (Transfer-Encoding, an explicit signed Content-Length):
// minio-go signs a request object, which is then written to the socket by hand.
func TestRoundTripRawWire(t *testing.T) {
	srv := newServer(t, rtVerifier())
	host := strings.TrimPrefix(srv.URL, "http://")
	body := "0123456789"
	tests := []struct {
		name    string
		headers map[string]string
		wire    string // body framing as written
	}{
		{"chunked", map[string]string{"Transfer-Encoding": "chunked"}, "a\r\n" + body + "\r\n0\r\n\r\n"},
		{"content-length", map[string]string{"Content-Length": "10"}, body},
		{"expect", map[string]string{"Content-Length": "10", "Expect": "100-continue"}, body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, http.MethodPut, "http://"+host+"/bucket/raw", nil)
			req.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(body)))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			signed := signer.SignV4(*req, rtKey, rtSecret, "", "us-east-1")
			if !strings.Contains(signed.Header.Get("Authorization"), strings.ToLower(firstKey(tt.headers))) {
				t.Fatalf("header not signed: %s", signed.Header.Get("Authorization"))
			}
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "PUT /bucket/raw HTTP/1.1\r\nHost: %s\r\n", host)
			for k, vs := range signed.Header {
				for _, v := range vs {
					fmt.Fprintf(&buf, "%s: %s\r\n", k, v)
				}
			}
			buf.WriteString("Connection: close\r\n\r\n" + tt.wire)
			rp := strings.TrimPrefix(rawRoundTrip(t, host, buf.Bytes()), "HTTP/1.1 100 Continue\r\n\r\n")
			if !strings.HasPrefix(rp, "HTTP/1.1 200") {
				t.Errorf("response:\n%s", rp)
			}
		})
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		if k != "Content-Length" {
			return k
		}
	}
	return "Content-Length"
}

func rawRoundTrip(t *testing.T, host string, wire []byte) string {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return string(resp)
}

func TestPresignedURLQueryEscaping(t *testing.T) {
	// X-Amz-Credential sent with a literal '/' instead of %2F decodes to
	// the same value and must still verify.
	srv := newServer(t, rtVerifier())
	req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
	pre := signer.PreSignV4(*req, rtKey, rtSecret, "", "us-east-1", 60)
	u, err := url.Parse(strings.ReplaceAll(pre.URL.String(), "%2F", "/"))
	if err != nil {
		t.Fatal(err)
	}
	expectOK(t, send(t, newRequest(t, http.MethodGet, u.String(), nil)), "literal slashes")
}
