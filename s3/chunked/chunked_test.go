package chunked

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/s3/s3err"
)

const (
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	testAK      = "AKIAIOSFODNN7EXAMPLE"
	testSK      = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion  = "us-east-1"
)

var testTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// awsSigner is the SigV4 streaming chunk signer as AWS documents it.
type awsSigner struct {
	key   []byte
	date  string
	scope string
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func newAWSSigner(secret, region string, t time.Time) *awsSigner {
	day := t.Format("20060102")
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	return &awsSigner{key: k, date: t.Format("20060102T150405Z"), scope: day + "/" + region + "/s3/aws4_request"}
}

func (s *awsSigner) ChunkSignature(prev string, sum []byte) string {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.date + "\n" + s.scope + "\n" + prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum)
	return hex.EncodeToString(hmacSHA256(s.key, sts))
}

func (s *awsSigner) TrailerSignature(prev string, trailer []byte) string {
	h := sha256.Sum256(trailer)
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.date + "\n" + s.scope + "\n" + prev + "\n" + hex.EncodeToString(h[:])
	return hex.EncodeToString(hmacSHA256(s.key, sts))
}

func testSigner() *awsSigner { return newAWSSigner(testSK, testRegion, testTime) }

// readAll drains r with reads of size n, returning what it produced and the
// first error other than io.EOF.
func readAll(r io.Reader, n int) ([]byte, error) {
	var out []byte
	p := make([]byte, n)
	for i := 0; ; i++ {
		k, err := r.Read(p)
		out = append(out, p[:k]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if k == 0 && i > 1<<20 {
			return out, io.ErrNoProgress
		}
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// style picks how an encoder formats the end of the body.
type style int

const (
	// styleAWS: trailer lines end in CRLF and the signature follows them
	// directly (aws-sdk-go-v2, botocore, Java/Kotlin/CRT SDKs).
	styleAWS style = iota
	// styleMinio: trailer lines end in LF, a blank line precedes the
	// trailer signature, and unsigned bodies end in "\r\n\r\n" (minio-go).
	styleMinio
	// styleLF: every line ends in a bare LF.
	styleLF
)

type kv struct{ k, v string }

// encode frames data as aws-chunked with chunks of size chunk; s nil means
// unsigned. It returns the body.
func encode(data []byte, chunk int, s Signer, seed string, trailers []kv, st style) []byte {
	var b bytes.Buffer
	crlf := "\r\n"
	if st == styleLF {
		crlf = "\n"
	}
	prev := seed
	writeChunk := func(d []byte) {
		if s != nil {
			sum := sha256.Sum256(d)
			prev = s.ChunkSignature(prev, sum[:])
			fmt.Fprintf(&b, "%x;chunk-signature=%s%s", len(d), prev, crlf)
		} else {
			fmt.Fprintf(&b, "%x%s", len(d), crlf)
		}
	}
	for off := 0; off < len(data); off += chunk {
		d := data[off:min(off+chunk, len(data))]
		writeChunk(d)
		b.Write(d)
		b.WriteString(crlf)
	}
	writeChunk(nil)
	tl := crlf
	if st == styleMinio {
		tl = "\n"
	}
	var canon []byte
	for _, t := range trailers {
		b.WriteString(t.k + ":" + t.v + tl)
		canon = append(canon, t.k+":"+t.v+"\n"...)
	}
	switch {
	case s != nil && len(trailers) > 0:
		if st == styleMinio {
			b.WriteString(crlf)
		}
		fmt.Fprintf(&b, "x-amz-trailer-signature:%s%s%s", s.TrailerSignature(prev, canon), crlf, crlf)
	case s == nil && len(trailers) > 0 && st == styleMinio:
		b.WriteString("\r\n\r\n")
	default:
		b.WriteString(crlf)
	}
	return b.Bytes()
}

func crc32b64(b []byte) string {
	var s [4]byte
	v := crc32.ChecksumIEEE(b)
	s[0], s[1], s[2], s[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base64.StdEncoding.EncodeToString(s[:])
}

func wantCode(t *testing.T, err error, code s3err.Code) {
	t.Helper()
	if !s3err.Is(err, code) {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

// TestAWSDocumentedExample decodes the example from the S3 documentation
// on streaming SigV4 (sigv4-streaming.html): 65536 + 1024 bytes of 'a'.
func TestAWSDocumentedExample(t *testing.T) {
	const seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "10000;chunk-signature=%s\r\n%s\r\n", sigs[0], strings.Repeat("a", 65536))
	fmt.Fprintf(&body, "400;chunk-signature=%s\r\n%s\r\n", sigs[1], strings.Repeat("a", 1024))
	fmt.Fprintf(&body, "0;chunk-signature=%s\r\n\r\n", sigs[2])

	s := testSigner()
	// Our encoder with the documented key must produce the same bytes.
	if enc := encode(bytes.Repeat([]byte("a"), 66560), 65536, s, seed, nil, styleAWS); !bytes.Equal(enc, body.Bytes()) {
		t.Fatal("test signer does not reproduce the documented signatures")
	}
	for _, n := range []int{1, 1000, 32 << 10, 1 << 20} {
		r := NewReader(bytes.NewReader(body.Bytes()), Options{Signer: s, SeedSignature: seed})
		got, err := readAll(r, n)
		if err != nil {
			t.Fatalf("read %d: %v", n, err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
			t.Fatalf("read %d: payload mismatch (%d bytes)", n, len(got))
		}
	}
	// A different seed breaks the chain from the first chunk on.
	r := NewReader(bytes.NewReader(body.Bytes()), Options{Signer: s, SeedSignature: strings.Repeat("0", 64)})
	got, err := readAll(r, 1<<20)
	wantCode(t, err, s3err.SignatureDoesNotMatch)
	// Data streams before its chunk's signature is checked, but the read
	// that reaches the chunk's end fails instead.
	if len(got) >= 65536 {
		t.Fatalf("returned the whole chunk (%d bytes) despite its bad signature", len(got))
	}
}

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func seedOf(t *testing.T, req *http.Request) string {
	t.Helper()
	auth := req.Header.Get("Authorization")
	i := strings.Index(auth, "Signature=")
	if i < 0 {
		t.Fatalf("no signature in %q", auth)
	}
	return auth[i+len("Signature="):]
}

// minioSigned encodes data with minio-go's StreamingSignV4.
func minioSigned(t *testing.T, data []byte, trailer http.Header) ([]byte, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/object", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Trailer = trailer
	req = signer.StreamingSignV4(req, testAK, testSK, "", testRegion, int64(len(data)), testTime, sha256Hasher{sha256.New()})
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != int64(len(body)) && len(data) > 0 {
		t.Fatalf("minio-go announced %d bytes, sent %d", req.ContentLength, len(body))
	}
	return body, seedOf(t, req)
}

// minioUnsigned encodes data with minio-go's StreamingUnsignedV4.
func minioUnsigned(t *testing.T, data []byte, trailer http.Header) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/object", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Trailer = trailer
	req = signer.StreamingUnsignedV4(req, "", int64(len(data)), testTime)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

var (
	testSizes = []int{0, 1, 100, 65535, 65536, 65537, 200<<10 + 3}
	readSizes = []int{1, 7, 4096, 64 << 10, 1 << 20}
)

func decodeAll(t *testing.T, body []byte, opts Options, readSize int) ([]byte, *Reader) {
	t.Helper()
	r := NewReader(bytes.NewReader(body), opts)
	got, err := readAll(r, readSize)
	if err != nil {
		t.Fatalf("decode (read size %d): %v", readSize, err)
	}
	return got, r
}

func TestMinioGoSigned(t *testing.T) {
	s := testSigner()
	for _, size := range testSizes {
		data := payload(size)
		body, seed := minioSigned(t, data, nil)
		for _, rs := range readSizes {
			got, r := decodeAll(t, body, Options{Signer: s, SeedSignature: seed}, rs)
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d read %d: payload mismatch", size, rs)
			}
			if len(r.Trailer()) != 0 {
				t.Fatalf("unexpected trailers %v", r.Trailer())
			}
		}
	}
}

func TestMinioGoSignedTrailer(t *testing.T) {
	s := testSigner()
	for _, size := range testSizes {
		data := payload(size)
		sum := crc32b64(data)
		body, seed := minioSigned(t, data, http.Header{"x-amz-checksum-crc32": {sum}})
		for _, rs := range readSizes {
			got, r := decodeAll(t, body, Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32"}}, rs)
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d read %d: payload mismatch", size, rs)
			}
			if v := r.Trailer().Get("X-Amz-Checksum-Crc32"); v != sum {
				t.Fatalf("trailer = %q, want %q", v, sum)
			}
			if _, ok := r.Trailer()["X-Amz-Checksum-Crc32"]; !ok {
				t.Fatalf("trailer key not canonical: %v", r.Trailer())
			}
		}
	}
}

func TestMinioGoUnsignedTrailer(t *testing.T) {
	for _, size := range testSizes {
		data := payload(size)
		sum := crc32b64(data)
		body := minioUnsigned(t, data, http.Header{"x-amz-checksum-crc32": {sum}})
		for _, rs := range readSizes {
			got, r := decodeAll(t, body, Options{Trailers: []string{"x-amz-checksum-crc32"}}, rs)
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d read %d: payload mismatch", size, rs)
			}
			if v := r.Trailer().Get("x-amz-checksum-crc32"); v != sum {
				t.Fatalf("trailer = %q, want %q", v, sum)
			}
		}
		// Without trailers.
		body = minioUnsigned(t, data, nil)
		got, _ := decodeAll(t, body, Options{}, 32<<10)
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d without trailer: payload mismatch", size)
		}
	}
}

// TestMinioGoUnsignedTrailerHelper goes through signer.UnsignedTrailer, the
// entry point minio-go's client uses.
func TestMinioGoUnsignedTrailerHelper(t *testing.T) {
	data := payload(150000)
	sum := crc32b64(data)
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/b/o", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req = signer.UnsignedTrailer(*req, http.Header{"x-amz-checksum-crc32": {sum}})
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := req.Header.Values("X-Amz-Trailer")
	got, r := decodeAll(t, body, Options{Trailers: names}, 8192)
	if !bytes.Equal(got, data) || r.Trailer().Get("x-amz-checksum-crc32") != sum {
		t.Fatal("mismatch")
	}
}

// TestAWSSDKFixtures are byte-exact bodies as aws-sdk-go-v2's checksum
// middleware (service/internal/checksum, aws_chunked_encoding.go) and
// botocore's AwsChunkedWrapper write them: unsigned chunks, the trailer
// right after "0\r\n", CRLF everywhere. aws-sdk-go-v2 sends a body of known
// length as one chunk.
func TestAWSSDKFixtures(t *testing.T) {
	hello := crc32b64([]byte("hello world"))
	if hello != "DUoRhQ==" {
		t.Fatalf("crc32(hello world) = %s", hello)
	}
	cases := []struct {
		name, body, want string
		trailers         []string
		trailer          map[string]string
	}{
		{"empty", "0\r\n\r\n", "", nil, nil},
		{"single", "b\r\nhello world\r\n0\r\n\r\n", "hello world", nil, nil},
		{"split", "8\r\nhello wo\r\n3\r\nrld\r\n0\r\n\r\n", "hello world", nil, nil},
		{"trailer", "b\r\nhello world\r\n0\r\nfoo:abc123\r\n\r\n", "hello world", []string{"foo"}, map[string]string{"Foo": "abc123"}},
		{"crc32", "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", "hello world",
			[]string{"x-amz-checksum-crc32"}, map[string]string{"X-Amz-Checksum-Crc32": "DUoRhQ=="}},
		{"crc32-split", "8\r\nhello wo\r\n3\r\nrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", "hello world",
			[]string{"x-amz-checksum-crc32"}, map[string]string{"X-Amz-Checksum-Crc32": "DUoRhQ=="}},
		{"one-byte-chunks", "1\r\nH\r\n1\r\ne\r\n1\r\nl\r\n1\r\nl\r\n1\r\no\r\n0\r\n\r\n", "Hello", nil, nil},
		{"upper-hex", "B\r\nhello world\r\n0\r\n\r\n", "hello world", nil, nil},
		{"two-trailers", "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-meta-a:b c\r\n\r\n", "hello world",
			[]string{"x-amz-checksum-crc32", "x-amz-meta-a"}, map[string]string{"X-Amz-Checksum-Crc32": "DUoRhQ==", "X-Amz-Meta-A": "b c"}},
		{"ext-ignored", "b;chunk-signature=\r\nhello world\r\n0;chunk-signature=\r\n\r\n", "hello world", nil, nil},
	}
	for _, c := range cases {
		for _, rs := range []int{1, 3, 4096} {
			got, r := decodeAll(t, []byte(c.body), Options{Trailers: c.trailers}, rs)
			if string(got) != c.want {
				t.Fatalf("%s: got %q", c.name, got)
			}
			if len(r.Trailer()) != len(c.trailer) {
				t.Fatalf("%s: trailers %v", c.name, r.Trailer())
			}
			for k, v := range c.trailer {
				if r.Trailer()[k] == nil || r.Trailer()[k][0] != v {
					t.Fatalf("%s: trailer %s = %v", c.name, k, r.Trailer()[k])
				}
			}
		}
	}
}

// TestEncoderStyles covers chunk sizes from 1 byte to 8 MiB in every mode
// and line-end style.
func TestEncoderStyles(t *testing.T) {
	s := testSigner()
	seed := strings.Repeat("5", 64)
	data := payload(9<<20 + 17)
	type size struct{ data, chunk int }
	sizes := []size{{0, 1}, {1, 1}, {300, 1}, {5000, 7}, {100000, 8192}, {1 << 20, 65536}, {9<<20 + 17, 8 << 20}}
	if testing.Short() {
		sizes = sizes[:6]
	}
	for _, sz := range sizes {
		d := data[:sz.data]
		sum := crc32b64(d)
		tr := []kv{{"x-amz-checksum-crc32", sum}}
		for _, st := range []style{styleAWS, styleMinio, styleLF} {
			for _, signed := range []bool{false, true} {
				for _, withTrailer := range []bool{false, true} {
					opts := Options{}
					var sg Signer
					if signed {
						sg = s
						opts = Options{Signer: s, SeedSignature: seed}
					}
					var trailers []kv
					if withTrailer {
						trailers = tr
						opts.Trailers = []string{"x-amz-checksum-crc32"}
					}
					body := encode(d, sz.chunk, sg, seed, trailers, st)
					rs := 32 << 10
					if sz.data <= 5000 {
						rs = 1
					}
					got, r := decodeAll(t, body, opts, rs)
					if !bytes.Equal(got, d) {
						t.Fatalf("%+v style %d signed %v trailer %v: payload mismatch", sz, st, signed, withTrailer)
					}
					if withTrailer && r.Trailer().Get("X-Amz-Checksum-Crc32") != sum {
						t.Fatalf("%+v style %d signed %v: trailer %v", sz, st, signed, r.Trailer())
					}
				}
			}
		}
	}
}

// TestSingleLargeChunk is aws-sdk-go-v2's PutObject shape: the whole body
// in one unsigned chunk. It needs a raised MaxChunkSize.
func TestSingleLargeChunk(t *testing.T) {
	data := payload(20 << 20)
	body := encode(data, len(data), nil, "", []kv{{"x-amz-checksum-crc32", crc32b64(data)}}, styleAWS)
	opts := Options{Trailers: []string{"x-amz-checksum-crc32"}}
	_, err := readAll(NewReader(bytes.NewReader(body), opts), 32<<10)
	wantCode(t, err, s3err.InvalidChunkSizeError)

	opts.MaxChunkSize = 5 << 30
	got, _ := decodeAll(t, body, opts, 32<<10)
	if !bytes.Equal(got, data) {
		t.Fatal("payload mismatch")
	}
}

// TestConstantMemory checks that chunk data is streamed, not buffered: a
// 64 MiB body in 8 MiB chunks is decoded with a small, fixed allocation.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 128 MiB of test data")
	}
	s := testSigner()
	seed := strings.Repeat("1", 64)
	data := payload(64 << 20)
	body := encode(data, 8<<20, s, seed, []kv{{"x-amz-checksum-crc32", "AAAAAA=="}}, styleAWS)
	p := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(body), Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32"}})
	n := 0
	for {
		k, err := r.Read(p)
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n != len(data) {
		t.Fatalf("decoded %d bytes", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Fatalf("decoding allocated %d bytes", alloc)
	}
}

func mustFail(t *testing.T, body []byte, opts Options, code s3err.Code) []byte {
	t.Helper()
	for _, rs := range []int{1, 5, 64 << 10} {
		got, err := readAll(NewReader(bytes.NewReader(body), opts), rs)
		wantCode(t, err, code)
		if rs == 64<<10 {
			return got
		}
	}
	return nil
}

func TestTampering(t *testing.T) {
	s := testSigner()
	seed := strings.Repeat("2", 64)
	data := payload(3*8192 + 100)
	sum := crc32b64(data)
	trailer := []kv{{"x-amz-checksum-crc32", sum}}
	opts := Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32"}}

	for _, st := range []style{styleAWS, styleMinio} {
		body := encode(data, 8192, s, seed, trailer, st)
		chunkHdr := len(fmt.Sprintf("2000;chunk-signature=%s\r\n", strings.Repeat("0", 64)))
		chunkLen := chunkHdr + 8192 + 2

		// Tampered data in each chunk: decoding stops at the end of that
		// chunk, never returning all of it.
		for i := range 4 {
			b := bytes.Clone(body)
			b[i*chunkLen+chunkHdr+50] ^= 1
			got := mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
			if len(got) >= min((i+1)*8192, len(data)) || !bytes.Equal(got[:i*8192], data[:i*8192]) {
				t.Fatalf("chunk %d tampered: returned %d bytes", i, len(got))
			}
		}
		// Tampered chunk signature, including the final chunk's.
		for i, n := 0, 0; ; n++ {
			j := bytes.Index(body[i:], []byte("chunk-signature="))
			if j < 0 {
				if n != 5 {
					t.Fatalf("found %d chunk signatures", n)
				}
				break
			}
			i += j + len("chunk-signature=")
			b := bytes.Clone(body)
			b[i+10] = flipHex(b[i+10])
			mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
		}
		// Tampered trailer value.
		b := bytes.Replace(body, []byte(sum), []byte(crc32b64([]byte("x"))), 1)
		mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
		// Tampered trailer name (case): canonical form is lower case, so
		// this still verifies.
		b = bytes.Replace(body, []byte("x-amz-checksum-crc32:"), []byte("X-Amz-Checksum-CRC32:"), 1)
		if _, r := decodeAll(t, b, opts, 4096); r.Trailer().Get("x-amz-checksum-crc32") != sum {
			t.Fatal("trailer lost")
		}
		// Tampered trailer signature.
		i := bytes.Index(body, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
		b = bytes.Clone(body)
		b[i+63] = flipHex(b[i+63])
		mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
		b = bytes.Clone(body)
		copy(b[i:], strings.Repeat("0", 64))
		mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
		// Trailer signature stripped: the body ends where the signature
		// was due.
		b = append(bytes.Clone(body[:bytes.Index(body, []byte("x-amz-trailer-signature:"))]), "\r\n"...)
		mustFail(t, b, opts, s3err.IncompleteBody)
		// Replaced by a trailer line, which the signature would not cover.
		b = bytes.Replace(body, []byte("x-amz-trailer-signature:"), []byte("x-amz-meta-x:"), 1)
		mustFail(t, b, Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32", "x-amz-meta-x"}}, s3err.IncompleteBody)
		// Unsigned trailer appended after the signature.
		b = append(bytes.Clone(body[:len(body)-2]), "x-amz-checksum-crc32:AAAAAA==\r\n\r\n"...)
		mustFail(t, b, opts, s3err.InvalidRequest)
		// Signature of the right chain but for other data: chunks swapped.
		b = bytes.Clone(body)
		copy(b[chunkHdr:], body[chunkLen+chunkHdr:chunkLen+chunkHdr+8192])
		mustFail(t, b, opts, s3err.SignatureDoesNotMatch)
	}
	// A signed stream without chunk signatures.
	mustFail(t, encode(data, 8192, nil, "", nil, styleAWS), Options{Signer: s, SeedSignature: seed}, s3err.InvalidRequest)
	// Signature in upper-case hex is not what the signer produced.
	body := encode(data, 8192, s, seed, nil, styleAWS)
	sig := body[len("2000;chunk-signature=") : len("2000;chunk-signature=")+64]
	copy(sig, bytes.ToUpper(sig))
	mustFail(t, body, Options{Signer: s, SeedSignature: seed}, s3err.InvalidRequest)
}

// flipHex changes a lower-case hex digit to another one.
func flipHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

// TestTruncation cuts bodies at every position: each cut fails with
// IncompleteBody, except where only line ends the decoder tolerates
// missing were cut.
func TestTruncation(t *testing.T) {
	s := testSigner()
	seed := strings.Repeat("3", 64)
	data := payload(40)
	sum := crc32b64(data)
	tr := []kv{{"x-amz-checksum-crc32", sum}}
	signedTrailer := Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32"}}
	cases := []struct {
		name string
		body []byte
		opts Options
		// ok reports whether a cut at n may succeed.
		okAt int
	}{
		{"signed", encode(data, 16, s, seed, nil, styleAWS), Options{Signer: s, SeedSignature: seed}, -1},
		{"signed-trailer-aws", encode(data, 16, s, seed, tr, styleAWS), signedTrailer, -1},
		{"signed-trailer-minio", encode(data, 16, s, seed, tr, styleMinio), signedTrailer, -1},
		{"unsigned-aws", encode(data, 16, nil, "", tr, styleAWS), Options{Trailers: []string{"x-amz-checksum-crc32"}}, -1},
		{"unsigned-none", encode(data, 16, nil, "", nil, styleAWS), Options{}, -1},
		// minio-go ends unsigned trailers with "\n\r\n\r\n"; the last CRLF
		// is surplus.
		{"unsigned-minio", minioUnsigned(t, data, http.Header{"x-amz-checksum-crc32": {sum}}), Options{Trailers: []string{"x-amz-checksum-crc32"}}, 2},
	}
	for _, c := range cases {
		for n := 0; n < len(c.body); n++ {
			for _, rs := range []int{1, 1 << 10} {
				got, err := readAll(NewReader(bytes.NewReader(c.body[:n]), c.opts), rs)
				if c.okAt > 0 && n >= len(c.body)-c.okAt {
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("%s cut at %d/%d: %v", c.name, n, len(c.body), err)
					}
					continue
				}
				if !s3err.Is(err, s3err.IncompleteBody) {
					t.Fatalf("%s cut at %d/%d: error %v", c.name, n, len(c.body), err)
				}
				if !bytes.Equal(got, data[:len(got)]) {
					t.Fatalf("%s cut at %d: wrong bytes returned", c.name, n)
				}
			}
		}
		// And the whole body decodes.
		if got, _ := decodeAll(t, c.body, c.opts, 7); !bytes.Equal(got, data) {
			t.Fatalf("%s: payload mismatch", c.name)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := testSigner()
	seed := strings.Repeat("4", 64)
	sig := strings.Repeat("a", 64)
	unsigned := Options{}
	trail := Options{Trailers: []string{"x-amz-checksum-crc32"}}
	signed := Options{Signer: s, SeedSignature: seed}
	cases := []struct {
		name string
		body string
		opts Options
		code s3err.Code
	}{
		{"garbage-hex", "zz\r\nhello\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"negative", "-1\r\n", unsigned, s3err.InvalidRequest},
		{"0x-prefix", "0x5\r\nhello\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"empty-size", "\r\nhello\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"space-in-size", "1 0\r\n", unsigned, s3err.InvalidRequest},
		{"oversized", "1000001\r\n", unsigned, s3err.InvalidChunkSizeError},
		{"oversized-signed", "1000001;chunk-signature=" + sig + "\r\n", signed, s3err.InvalidChunkSizeError},
		{"huge-hex", "ffffffffffffffffffffffffffffffff\r\n", unsigned, s3err.InvalidChunkSizeError},
		{"huge-hex-signed", "ffffffffffffffffffffffff;chunk-signature=" + sig + "\r\n", signed, s3err.InvalidChunkSizeError},
		{"no-crlf-after-data", "5\r\nhelloX\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"cr-only-after-data", "5\r\nhello\rX0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"size-too-small", "4\r\nhello\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"long-line", strings.Repeat("0", 5000) + "\r\n", unsigned, s3err.InvalidRequest},
		{"long-line-no-lf", strings.Repeat("0", 100000), unsigned, s3err.InvalidRequest},
		{"long-trailer", "0\r\nx-amz-checksum-crc32:" + strings.Repeat("A", 5000) + "\r\n\r\n", trail, s3err.InvalidRequest},
		{"sig-short", "5;chunk-signature=abc\r\nhello\r\n", signed, s3err.InvalidRequest},
		{"sig-long", "5;chunk-signature=" + sig + "a\r\nhello\r\n", signed, s3err.InvalidRequest},
		{"sig-nonhex", "5;chunk-signature=" + strings.Repeat("g", 64) + "\r\nhello\r\n", signed, s3err.InvalidRequest},
		{"sig-other-ext", "5;foo=bar\r\nhello\r\n", signed, s3err.InvalidRequest},
		{"sig-wrong", "5;chunk-signature=" + sig + "\r\nhello\r\n", signed, s3err.SignatureDoesNotMatch},
		{"undeclared-trailer", "0\r\nx-amz-checksum-sha256:abc\r\n\r\n", trail, s3err.InvalidRequest},
		{"trailer-none-declared", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"missing-trailer", "0\r\n\r\n", trail, s3err.InvalidRequest},
		{"duplicate-trailer", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", trail, s3err.InvalidRequest},
		{"trailer-no-colon", "0\r\nx-amz-checksum-crc32\r\n\r\n", trail, s3err.InvalidRequest},
		{"trailer-ctl", "0\r\nx-amz-checksum-crc32:AA\x00A\r\n\r\n", trail, s3err.InvalidRequest},
		{"trailer-sig-unsigned", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n", trail, s3err.InvalidRequest},
		{"data-after-end", "0\r\n\r\nGET / HTTP/1.1\r\n", unsigned, s3err.InvalidRequest},
		{"crlf-after-end", "0\r\n\r\n\r\n\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"chunk-after-blank-trailer", "0\r\n\r\n5\r\nhello\r\n0\r\n\r\n", unsigned, s3err.InvalidRequest},
		{"truncated", "5\r\nhel", unsigned, s3err.IncompleteBody},
		{"empty-body", "", unsigned, s3err.IncompleteBody},
	}
	for _, c := range cases {
		_, err := readAll(NewReader(strings.NewReader(c.body), c.opts), 4096)
		if !s3err.Is(err, c.code) {
			t.Errorf("%s: error %v, want %s", c.name, err, c.code)
		}
	}
	// Tolerated leniencies.
	ok := []struct {
		name, body string
		opts       Options
	}{
		{"lf-only", "5\nhello\n0\n\n", unsigned},
		{"mixed", "5\r\nhello\n0\n\r\n", unsigned},
		{"space-before-ext", "5 ;ext\r\nhello\r\n0\r\n\r\n", unsigned},
		{"leading-zeros", "0005\r\nhello\r\n00\r\n\r\n", unsigned},
		{"tail-crlf", "0\r\n\r\n\r\n", unsigned},
		{"trailer-spaces", "0\r\nX-Amz-Checksum-Crc32 :  AAAAAA== \r\n\r\n", trail},
	}
	for _, c := range ok {
		if _, err := readAll(NewReader(strings.NewReader(c.body), c.opts), 3); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestMessages checks the messages clients see for the common failures.
func TestMessages(t *testing.T) {
	trail := Options{Trailers: []string{"x-amz-checksum-crc32"}}
	for body, want := range map[string]string{
		"0\r\n":                          `The request body terminated before the trailer "x-amz-checksum-crc32".`,
		"0\r\n\r\n":                      `The trailer "x-amz-checksum-crc32" declared in x-amz-trailer was not sent.`,
		"0\r\nx-amz-checksum-crc32:AAAA": `The request body terminated before the trailer "x-amz-checksum-crc32".`,
		"5\r\nhel":                       "The request body terminated unexpectedly.",
		"0\r\nx-amz-meta:1\r\n\r\n":      `Trailer "x-amz-meta" was not declared in x-amz-trailer.`,
	} {
		_, err := readAll(NewReader(strings.NewReader(body), trail), 64)
		if got := s3err.From(err).Message; got != want {
			t.Errorf("%q: message %q, want %q", body, got, want)
		}
	}
	s := testSigner()
	seed := strings.Repeat("7", 64)
	body := encode([]byte("abc"), 3, s, seed, []kv{{"x-amz-checksum-crc32", "AAAAAA=="}}, styleAWS)
	cut := body[:bytes.Index(body, []byte("x-amz-trailer-signature"))]
	_, err := readAll(NewReader(bytes.NewReader(cut), Options{Signer: s, SeedSignature: seed, Trailers: trail.Trailers}), 64)
	if got := s3err.From(err).Message; got != "The request body terminated before the trailer signature." {
		t.Errorf("message %q", got)
	}
}

type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		err = e.err
	}
	return n, err
}

// TestSourceErrors: a premature end becomes IncompleteBody; other read
// errors reach the caller unchanged, and stick.
func TestSourceErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewReader(&errReader{strings.NewReader("5\r\nhel"), boom}, Options{})
	_, err := readAll(r, 10)
	if err != boom {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if _, err := r.Read(make([]byte, 10)); err != boom {
		t.Fatalf("error not sticky: %v", err)
	}
	r = NewReader(&errReader{strings.NewReader("5\r\nhel"), io.ErrUnexpectedEOF}, Options{})
	_, err = readAll(r, 10)
	wantCode(t, err, s3err.IncompleteBody)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cause lost: %v", err)
	}
}

func TestEOFIsSticky(t *testing.T) {
	r := NewReader(strings.NewReader("5\r\nhello\r\n0\r\n\r\n"), Options{})
	if got, err := readAll(r, 100); err != nil || string(got) != "hello" {
		t.Fatal(got, err)
	}
	for range 3 {
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatal(n, err)
		}
	}
	if n, err := r.Read(nil); n != 0 || err != io.EOF {
		t.Fatal(n, err)
	}
}

// refDecode is a deliberately naive decoder used to cross-check the fuzzed
// decoder's output: it only follows the framing. When the framing breaks it
// returns what the chunks framed so far hold, and false.
func refDecode(body []byte) ([]byte, bool) {
	var out []byte
	for {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			return out, false
		}
		line := bytes.TrimSuffix(body[:i], []byte("\r"))
		body = body[i+1:]
		field, _, _ := bytes.Cut(line, []byte(";"))
		field = bytes.TrimRight(field, " \t")
		var size uint64
		for _, c := range field {
			v, err := hex.DecodeString("0" + string(c))
			if err != nil || size > 1<<40 {
				return out, false
			}
			size = size<<4 | uint64(v[0])
		}
		if size == 0 {
			return out, true
		}
		if size > uint64(len(body)) {
			return append(out, body...), false
		}
		out = append(out, body[:size]...)
		body = body[size:]
		body = bytes.TrimPrefix(body, []byte("\r"))
		body = bytes.TrimPrefix(body, []byte("\n"))
	}
}

func FuzzDecode(f *testing.F) {
	s := testSigner()
	seed := strings.Repeat("6", 64)
	data := payload(40)
	tr := []kv{{"x-amz-checksum-crc32", crc32b64(data)}}
	for _, st := range []style{styleAWS, styleMinio, styleLF} {
		f.Add(encode(data, 15, nil, "", nil, st), uint8(0))
		f.Add(encode(data, 15, nil, "", tr, st), uint8(1))
		f.Add(encode(data, 15, s, seed, nil, st), uint8(2))
		f.Add(encode(data, 15, s, seed, tr, st), uint8(3))
		f.Add(encode(data[:3], 1, s, seed, tr, st), uint8(0x13))
		f.Add(encode(nil, 1, s, seed, tr, st), uint8(0x23))
	}
	f.Add([]byte("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"), uint8(1))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		opts := Options{MaxChunkSize: 1 << 20}
		if mode&2 != 0 {
			opts.Signer, opts.SeedSignature = s, seed
		}
		if mode&1 != 0 {
			opts.Trailers = []string{"x-amz-checksum-crc32"}
		}
		if mode&4 != 0 {
			opts.Trailers = append(opts.Trailers, "foo")
		}
		readSize := 1 + int(mode>>3)*37
		r := NewReader(bytes.NewReader(body), opts)
		got, err := readAll(r, readSize)
		if len(got) > len(body) {
			t.Fatalf("returned %d bytes from a %d-byte body", len(got), len(body))
		}
		want, ok := refDecode(body)
		if err != nil {
			var e *s3err.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an s3err: %v", err)
			}
			// Whatever was returned was framed as chunk data.
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("returned %q, framed data %q", got, want)
			}
			return
		}
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, reference %q (ok %v)", got, want, ok)
		}
		for k := range r.Trailer() {
			lk := strings.ToLower(k)
			if lk != "x-amz-checksum-crc32" && lk != "foo" {
				t.Fatalf("undeclared trailer %q accepted", k)
			}
		}
		if len(r.Trailer()) != len(opts.Trailers) {
			t.Fatalf("trailers %v, declared %v", r.Trailer(), opts.Trailers)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	s := testSigner()
	seed := strings.Repeat("8", 64)
	data := payload(16 << 20)
	tr := []kv{{"x-amz-checksum-crc32", crc32b64(data)}}
	for _, c := range []struct {
		name string
		body []byte
		opts Options
	}{
		{"unsigned-64KiB", encode(data, 64<<10, nil, "", tr, styleAWS), Options{Trailers: []string{"x-amz-checksum-crc32"}}},
		{"unsigned-single", encode(data, len(data), nil, "", tr, styleAWS), Options{Trailers: []string{"x-amz-checksum-crc32"}, MaxChunkSize: 5 << 30}},
		{"signed-64KiB", encode(data, 64<<10, s, seed, tr, styleAWS), Options{Signer: s, SeedSignature: seed, Trailers: []string{"x-amz-checksum-crc32"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := make([]byte, 32<<10)
			src := bytes.NewReader(c.body)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(c.body)
				r := NewReader(src, c.opts)
				for {
					_, err := r.Read(p)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestUnverifiedReadsSignedFraming: without a Signer, signed framing is an
// error, unless Unverified says the signatures are to be skipped.
func TestUnverifiedReadsSignedFraming(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 70000)
	for _, st := range []style{styleAWS, styleMinio} {
		body := encode(data, 65536, newAWSSigner("another-secret", testRegion, testTime), strings.Repeat("0", 64),
			[]kv{{"x-amz-checksum-crc32", "AAAAAA=="}}, st)
		opts := Options{Trailers: []string{"x-amz-checksum-crc32"}}
		if _, err := io.ReadAll(NewReader(bytes.NewReader(body), opts)); err == nil {
			t.Fatalf("style %d: signed framing accepted as unsigned", st)
		}
		opts.Unverified = true
		r := NewReader(bytes.NewReader(body), opts)
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) || r.Trailer().Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
			t.Fatalf("style %d: %d bytes, %v, trailer %v", st, len(got), err, r.Trailer())
		}
	}
}
