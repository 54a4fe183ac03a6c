package integrity

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/minio/crc64nvme"

	"github.com/photogate/photogate/s3/chunked"
	"github.com/photogate/photogate/s3/s3err"
)

var allAlgorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// refChecksum computes checksums independently of the package's table.
func refChecksum(alg string, b []byte) string {
	var sum []byte
	switch alg {
	case "CRC32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b))
	case "CRC32C":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	case "CRC64NVME":
		sum = binary.BigEndian.AppendUint64(nil, crc64nvme.Checksum(b))
	case "SHA1":
		s := sha1.Sum(b)
		sum = s[:]
	case "SHA256":
		s := sha256.Sum256(b)
		sum = s[:]
	default:
		panic(alg)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i>>9)
	}
	return b
}

func fixed(s string) func() string { return func() string { return s } }

// drain reads r with reads of size n; it returns the bytes and the first
// error other than io.EOF.
func drain(r io.Reader, n int) ([]byte, error) {
	var out []byte
	p := make([]byte, n)
	for spins := 0; ; {
		k, err := r.Read(p)
		out = append(out, p[:k]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if k == 0 {
			if spins++; spins > 1000 {
				return out, io.ErrNoProgress
			}
		}
	}
}

func mustReader(t testing.TB, src io.Reader, e Expect) *Reader {
	t.Helper()
	r, err := NewReader(src, e)
	if err != nil {
		t.Fatalf("NewReader(%+v): %v", e, err)
	}
	return r
}

func wantCode(t testing.TB, err error, code s3err.Code) {
	t.Helper()
	if !s3err.Is(err, code) {
		t.Fatalf("error %v, want %s", err, code)
	}
}

// Check values from the CRC catalogue, so the reference above is itself
// checked.
func TestKnownVectors(t *testing.T) {
	in := []byte("123456789")
	want := map[string]string{
		"CRC32":     "cbf43926",
		"CRC32C":    "e3069283",
		"CRC64NVME": "ae8b14860a799888",
	}
	for alg, w := range want {
		r := mustReader(t, bytes.NewReader(in), Expect{Length: 9, Algorithm: alg})
		if _, err := drain(r, 100); err != nil {
			t.Fatal(err)
		}
		got, _ := base64.StdEncoding.DecodeString(r.Sums().Checksum)
		if hex.EncodeToString(got) != w {
			t.Errorf("%s = %x, want %s", alg, got, w)
		}
		if r.Sums().Checksum != refChecksum(alg, in) {
			t.Errorf("%s: reference disagrees", alg)
		}
	}
}

func TestAlgorithms(t *testing.T) {
	for _, alg := range allAlgorithms {
		for _, n := range []int{0, 1, 2, 1000, 64 << 10} {
			data := payload(n)
			right := refChecksum(alg, data)
			wrong := refChecksum(alg, append(bytes.Clone(data), 0))
			for _, rs := range []int{1, 100, 32 << 10} {
				// Right.
				r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(n), Algorithm: alg, Checksum: fixed(right)})
				got, err := drain(r, rs)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s n=%d rs=%d: err %v, %d bytes", alg, n, rs, err, len(got))
				}
				if s := r.Sums(); s.Checksum != right || s.Algorithm != alg || s.Length != int64(n) {
					t.Fatalf("%s: sums %+v", alg, s)
				}
				// Wrong.
				r = mustReader(t, bytes.NewReader(data), Expect{Length: int64(n), Algorithm: alg, Checksum: fixed(wrong)})
				got, err = drain(r, rs)
				wantCode(t, err, s3err.BadDigest)
				if want := "The " + alg + " you specified did not match the calculated checksum."; s3err.From(err).Message != want {
					t.Fatalf("message %q", s3err.From(err).Message)
				}
				if n > 0 && len(got) >= n {
					t.Fatalf("%s n=%d: all bytes released despite a bad checksum", alg, n)
				}
			}
			// Malformed expected value: not base64 is InvalidRequest; base64
			// of the wrong size ("bad", in ceph/s3-tests) can match nothing,
			// BadDigest.
			for bad, code := range map[string]s3err.Code{
				"": s3err.InvalidRequest, "!!!!": s3err.InvalidRequest, "ba=d": s3err.InvalidRequest,
				"bad": s3err.BadDigest, right[:len(right)-4]: s3err.BadDigest,
				base64.StdEncoding.EncodeToString(make([]byte, 40)): s3err.BadDigest,
			} {
				r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(n), Algorithm: alg, Checksum: fixed(bad)})
				_, err := drain(r, 4096)
				wantCode(t, err, code)
			}
			// Unpadded base64 is accepted.
			r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(n), Algorithm: alg, Checksum: fixed(strings.TrimRight(right, "="))})
			if _, err := drain(r, 4096); err != nil {
				t.Fatalf("%s unpadded: %v", alg, err)
			}
		}
	}
	// Lower-case algorithm names work too (x-amz-sdk-checksum-algorithm).
	r := mustReader(t, strings.NewReader("abc"), Expect{Length: 3, Algorithm: "crc32c", Checksum: fixed(refChecksum("CRC32C", []byte("abc")))})
	if _, err := drain(r, 10); err != nil {
		t.Fatal(err)
	}
}

func TestContentMD5(t *testing.T) {
	data := payload(100000)
	r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), MD5: md5b64(data)})
	if _, err := drain(r, 4096); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x", md5.Sum(data)); r.Sums().MD5 != want {
		t.Fatalf("MD5 %q, want %q", r.Sums().MD5, want)
	}
	r = mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), MD5: md5b64(data[1:])})
	got, err := drain(r, 4096)
	wantCode(t, err, s3err.BadDigest)
	if len(got) >= len(data) {
		t.Fatal("released all bytes")
	}
	for _, bad := range []string{"x", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 15)),
		base64.StdEncoding.EncodeToString(make([]byte, 17)), strings.TrimRight(md5b64(data), "=")} {
		_, err := NewReader(bytes.NewReader(data), Expect{Length: -1, MD5: bad})
		wantCode(t, err, s3err.InvalidDigest)
	}
}

func TestContentSHA256(t *testing.T) {
	data := payload(70000)
	r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), SHA256: sha256hex(data)})
	if _, err := drain(r, 4096); err != nil {
		t.Fatal(err)
	}
	if r.Sums().SHA256 != sha256hex(data) {
		t.Fatal("sums")
	}
	r = mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), SHA256: strings.ToUpper(sha256hex(data))})
	if _, err := drain(r, 4096); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
	r = mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), SHA256: sha256hex(data[1:])})
	got, err := drain(r, 4096)
	wantCode(t, err, s3err.XAmzContentSHA256Mismatch)
	if len(got) >= len(data) {
		t.Fatal("released all bytes")
	}
	for _, bad := range []string{"abc", strings.Repeat("g", 64), sha256hex(data) + "00", "UNSIGNED-PAYLOAD"} {
		_, err := NewReader(bytes.NewReader(data), Expect{Length: -1, SHA256: bad})
		wantCode(t, err, s3err.InvalidArgument)
	}
}

// TestAllChecks combines every check, SHA256 twice (content hash and
// checksum share one pass), and fails each one in turn.
func TestAllChecks(t *testing.T) {
	data := payload(300000)
	good := Expect{Length: int64(len(data)), MD5: md5b64(data), SHA256: sha256hex(data),
		Algorithm: "SHA256", Checksum: fixed(refChecksum("SHA256", data))}
	r := mustReader(t, bytes.NewReader(data), good)
	if got, err := drain(r, 8192); err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	s := r.Sums()
	if s.MD5 == "" || s.SHA256 != sha256hex(data) || s.Checksum != refChecksum("SHA256", data) {
		t.Fatalf("sums %+v", s)
	}
	other := payload(300001)[1:]
	bad := []struct {
		mod  func(*Expect)
		code s3err.Code
	}{
		{func(e *Expect) { e.MD5 = md5b64(other) }, s3err.BadDigest},
		{func(e *Expect) { e.SHA256 = sha256hex(other) }, s3err.XAmzContentSHA256Mismatch},
		{func(e *Expect) { e.Checksum = fixed(refChecksum("SHA256", other)) }, s3err.BadDigest},
		{func(e *Expect) { e.Length++ }, s3err.IncompleteBody},
		{func(e *Expect) { e.Length-- }, s3err.IncompleteBody},
	}
	for i, b := range bad {
		e := good
		b.mod(&e)
		got, err := drain(mustReader(t, bytes.NewReader(data), e), 8192)
		wantCode(t, err, b.code)
		if len(got) >= len(data) || int64(len(got)) >= e.Length {
			t.Fatalf("case %d: released %d bytes", i, len(got))
		}
	}
	// The checksum is computed, and reported, without an expected value.
	r = mustReader(t, bytes.NewReader(data), Expect{Length: -1, Algorithm: "CRC64NVME"})
	if _, err := drain(r, 8192); err != nil || r.Sums().Checksum != refChecksum("CRC64NVME", data) {
		t.Fatal(err, r.Sums())
	}
	// Nothing expected: nothing computed.
	r = mustReader(t, bytes.NewReader(data), Expect{Length: -1})
	if _, err := drain(r, 8192); err != nil || r.Sums() != (Sums{Length: int64(len(data))}) {
		t.Fatal(err, r.Sums())
	}
}

func TestNewReaderValidation(t *testing.T) {
	_, err := NewReader(strings.NewReader(""), Expect{Algorithm: "MD5"})
	wantCode(t, err, s3err.InvalidRequest)
	_, err = NewReader(strings.NewReader(""), Expect{Algorithm: "CRC64"})
	wantCode(t, err, s3err.InvalidRequest)
	_, err = NewReader(strings.NewReader(""), Expect{Checksum: fixed("AAAAAA==")})
	wantCode(t, err, s3err.InvalidRequest)
}

// trailerSource plays the aws-chunked decoder: the checksum becomes known
// only when the body has ended.
type trailerSource struct {
	r       io.Reader
	trailer string
	value   string
}

func (s *trailerSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.trailer = s.value
	}
	return n, err
}

func TestTrailerExpectation(t *testing.T) {
	data := payload(50000)
	for _, alg := range allAlgorithms {
		for _, right := range []bool{true, false} {
			v := refChecksum(alg, data)
			if !right {
				v = refChecksum(alg, data[1:])
			}
			src := &trailerSource{r: bytes.NewReader(data), value: v}
			calls := 0
			r := mustReader(t, src, Expect{Length: int64(len(data)), Algorithm: alg, Checksum: func() string {
				calls++
				return src.trailer
			}})
			got, err := drain(r, 1000)
			if calls != 1 {
				t.Fatalf("Checksum called %d times", calls)
			}
			if right != (err == nil) || right != (len(got) == len(data)) {
				t.Fatalf("%s right=%v: err %v, %d bytes", alg, right, err, len(got))
			}
		}
	}
}

// TestWithChunkedDecoder runs the two packages as the gateway does: the
// checksum comes from the trailer the decoder has just read.
func TestWithChunkedDecoder(t *testing.T) {
	data := payload(200000)
	for _, right := range []bool{true, false} {
		sum := refChecksum("CRC32C", data)
		if !right {
			sum = refChecksum("CRC32C", data[:1])
		}
		var body bytes.Buffer
		for off := 0; off < len(data); off += 65536 {
			d := data[off:min(off+65536, len(data))]
			fmt.Fprintf(&body, "%x\r\n%s\r\n", len(d), d)
		}
		fmt.Fprintf(&body, "0\r\nx-amz-checksum-crc32c:%s\r\n\r\n", sum)
		dec := chunked.NewReader(&body, chunked.Options{Trailers: []string{"x-amz-checksum-crc32c"}})
		alg, ok := TrailerAlgorithm("x-amz-checksum-crc32c")
		if !ok || alg != "CRC32C" {
			t.Fatal(alg)
		}
		r := mustReader(t, dec, Expect{Length: int64(len(data)), Algorithm: alg,
			Checksum: func() string { return dec.Trailer().Get("x-amz-checksum-crc32c") }})
		got, err := drain(r, 32<<10)
		if right {
			if err != nil || !bytes.Equal(got, data) {
				t.Fatal(err)
			}
		} else {
			wantCode(t, err, s3err.BadDigest)
			if len(got) >= len(data) {
				t.Fatal("released all bytes")
			}
		}
	}
}

// eofTracker records whether src has reported its end.
type eofTracker struct {
	r   io.Reader
	eof bool
}

func (e *eofTracker) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// TestHoldBack proves the hold-back: the final byte is never released
// before src ended and the checks ran, and never at all when one fails.
func TestHoldBack(t *testing.T) {
	sources := map[string]func([]byte) io.Reader{
		"plain":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one-byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data-eof": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	lengths := []int{0, 1, 2, 3, 64 << 10, 16 << 20}
	if testing.Short() {
		lengths = lengths[:5]
	}
	for _, n := range lengths {
		data := payload(n)
		right := refChecksum("CRC32", data)
		wrong := refChecksum("CRC32", append(bytes.Clone(data), 1))
		for name, mk := range sources {
			for _, rs := range []int{1, 2, 3, 4096, 1 << 20} {
				if n == 16<<20 && (rs < 4096 || name == "one-byte") {
					continue // too slow to be useful
				}
				for _, ok := range []bool{true, false} {
					want := wrong
					if ok {
						want = right
					}
					src := &eofTracker{r: mk(data)}
					r := mustReader(t, src, Expect{Length: int64(n), Algorithm: "CRC32", Checksum: fixed(want)})
					p := make([]byte, rs)
					released := 0
					var err error
					for err == nil {
						var k int
						k, err = r.Read(p)
						if k > 0 && !bytes.Equal(p[:k], data[released:released+k]) {
							t.Fatalf("n=%d %s rs=%d: wrong bytes at %d", n, name, rs, released)
						}
						released += k
						if released == n && n > 0 && !src.eof {
							t.Fatalf("n=%d %s rs=%d: last byte released before src ended", n, name, rs)
						}
					}
					if ok {
						if err != io.EOF || released != n {
							t.Fatalf("n=%d %s rs=%d right: err %v, released %d", n, name, rs, err, released)
						}
					} else {
						wantCode(t, err, s3err.BadDigest)
						if n > 0 && released >= n {
							t.Fatalf("n=%d %s rs=%d wrong: released all %d bytes", n, name, rs, released)
						}
						if n > 0 && released != n-1 && rs >= n && name == "plain" {
							t.Fatalf("n=%d %s rs=%d: held back %d bytes, want 1", n, name, rs, n-released)
						}
						// The error sticks.
						if k, err2 := r.Read(p); k != 0 || err2 != err {
							t.Fatalf("error not sticky: %d %v", k, err2)
						}
					}
				}
			}
		}
	}
}

// TestHoldsBackOneByte: for a large body read with large buffers, exactly
// one byte is outstanding until the end.
func TestHoldsBackOneByte(t *testing.T) {
	data := payload(1 << 20)
	r := mustReader(t, bytes.NewReader(data), Expect{Length: int64(len(data)), Algorithm: "CRC32", Checksum: fixed("AAAAAA==")})
	p := make([]byte, 64<<10)
	total := 0
	for {
		k, err := r.Read(p)
		total += k
		if err != nil {
			wantCode(t, err, s3err.BadDigest)
			break
		}
	}
	if total != len(data)-1 {
		t.Fatalf("released %d of %d", total, len(data))
	}
}

func TestLength(t *testing.T) {
	data := payload(1000)
	for _, rs := range []int{1, 10, 4096} {
		// Fewer bytes than announced.
		got, err := drain(mustReader(t, bytes.NewReader(data), Expect{Length: 1001}), rs)
		wantCode(t, err, s3err.IncompleteBody)
		if len(got) >= 1000 {
			t.Fatal("released all")
		}
		// More.
		got, err = drain(mustReader(t, bytes.NewReader(data), Expect{Length: 999}), rs)
		wantCode(t, err, s3err.IncompleteBody)
		if len(got) >= 999 {
			t.Fatalf("released %d bytes of a body announced as 999", len(got))
		}
		// Zero announced, one sent.
		got, err = drain(mustReader(t, strings.NewReader("x"), Expect{Length: 0}), rs)
		wantCode(t, err, s3err.IncompleteBody)
		if len(got) != 0 {
			t.Fatal("released")
		}
		// Unknown length: anything goes.
		if got, err := drain(mustReader(t, bytes.NewReader(data), Expect{Length: -1}), rs); err != nil || len(got) != 1000 {
			t.Fatal(err)
		}
		// Empty.
		if got, err := drain(mustReader(t, strings.NewReader(""), Expect{Length: 0, MD5: md5b64(nil)}), rs); err != nil || len(got) != 0 {
			t.Fatal(err)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	data := payload(100)
	boom := errors.New("read timeout")
	r := mustReader(t, iotest.TimeoutReader(bytes.NewReader(data)), Expect{Length: 100})
	// TimeoutReader fails its second read.
	got, err := drain(r, 64)
	if !errors.Is(err, iotest.ErrTimeout) || s3err.Is(err, s3err.IncompleteBody) {
		t.Fatalf("error %v", err)
	}
	if len(got) >= 100 {
		t.Fatal("released all")
	}
	r = mustReader(t, iotest.ErrReader(boom), Expect{Length: 100})
	if _, err := drain(r, 64); err != boom {
		t.Fatal(err)
	}
	r = mustReader(t, io.MultiReader(bytes.NewReader(data[:50]), iotest.ErrReader(io.ErrUnexpectedEOF)), Expect{Length: 100})
	_, err = drain(r, 64)
	wantCode(t, err, s3err.IncompleteBody)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("cause lost")
	}
	// An s3err from the decoder passes through untouched.
	dec := chunked.NewReader(strings.NewReader("5\r\nhel"), chunked.Options{})
	r = mustReader(t, dec, Expect{Length: 5})
	_, err = drain(r, 64)
	wantCode(t, err, s3err.IncompleteBody)
}

func TestEOFSticky(t *testing.T) {
	r := mustReader(t, strings.NewReader("ab"), Expect{Length: 2})
	p := make([]byte, 1)
	var out []byte
	for {
		k, err := r.Read(p)
		out = append(out, p[:k]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(out) != "ab" {
		t.Fatalf("%q", out)
	}
	for range 3 {
		if k, err := r.Read(p); k != 0 || err != io.EOF {
			t.Fatal(k, err)
		}
	}
	if k, err := r.Read(nil); k != 0 || err != nil {
		t.Fatal(k, err)
	}
}

func TestNoAllocsPerRead(t *testing.T) {
	data := payload(1 << 20)
	src := bytes.NewReader(data)
	r := mustReader(t, src, Expect{Length: -1, MD5: md5b64(data), SHA256: sha256hex(data), Algorithm: "CRC32C"})
	p := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Read(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Read", allocs)
	}
}

func TestAlgorithmFromHeaders(t *testing.T) {
	crc := refChecksum("CRC32", []byte("x"))
	cases := []struct {
		h          http.Header
		alg, value string
		code       s3err.Code
	}{
		{http.Header{}, "", "", ""},
		{http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}, "X-Amz-Checksum-Type": {"FULL_OBJECT"},
			"X-Amz-Checksum-Algorithm": {"CRC32"}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, "", "", ""},
		{http.Header{"X-Amz-Checksum-Crc32": {crc}}, "CRC32", crc, ""},
		{http.Header{"X-Amz-Checksum-Crc32c": {crc}}, "CRC32C", crc, ""},
		{http.Header{"X-Amz-Checksum-Crc64nvme": {refChecksum("CRC64NVME", nil)}}, "CRC64NVME", refChecksum("CRC64NVME", nil), ""},
		{http.Header{"X-Amz-Checksum-Sha1": {refChecksum("SHA1", nil)}}, "SHA1", refChecksum("SHA1", nil), ""},
		{http.Header{"X-Amz-Checksum-Sha256": {refChecksum("SHA256", nil)}}, "SHA256", refChecksum("SHA256", nil), ""},
		{http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Sha1": {refChecksum("SHA1", nil)}}, "", "", s3err.InvalidRequest},
		{http.Header{"X-Amz-Checksum-Crc32": {crc, crc}}, "", "", s3err.InvalidRequest},
		{http.Header{"X-Amz-Checksum-Crc32": {"no!pe"}}, "", "", s3err.InvalidRequest},
		{http.Header{"X-Amz-Checksum-Crc32": {""}}, "", "", s3err.InvalidRequest},
		// Base64 of another size matches no body.
		{http.Header{"X-Amz-Checksum-Crc32": {"nope"}}, "", "", s3err.BadDigest},
		{http.Header{"X-Amz-Checksum-Sha256": {crc}}, "", "", s3err.BadDigest},
	}
	for i, c := range cases {
		alg, value, err := AlgorithmFromHeaders(c.h)
		if c.code != "" {
			wantCode(t, err, c.code)
			continue
		}
		if err != nil || alg != c.alg || value != c.value {
			t.Errorf("case %d: %q %q %v", i, alg, value, err)
		}
	}
	// Headers set the usual way are found.
	h := http.Header{}
	h.Set("x-amz-checksum-crc64nvme", refChecksum("CRC64NVME", nil))
	if alg, _, err := AlgorithmFromHeaders(h); alg != "CRC64NVME" || err != nil {
		t.Fatal(alg, err)
	}
}

func TestTrailerAlgorithm(t *testing.T) {
	for name, want := range map[string]string{
		"x-amz-checksum-crc32": "CRC32", "x-amz-checksum-crc32c": "CRC32C", "x-amz-checksum-crc64nvme": "CRC64NVME",
		"x-amz-checksum-sha1": "SHA1", "x-amz-checksum-sha256": "SHA256", "X-Amz-Checksum-Crc32": "CRC32",
	} {
		if alg, ok := TrailerAlgorithm(name); !ok || alg != want {
			t.Errorf("%s: %q %v", name, alg, ok)
		}
	}
	for _, name := range []string{"", "x-amz-checksum-md5", "x-amz-checksum-type", "crc32", "x-amz-meta-foo"} {
		if alg, ok := TrailerAlgorithm(name); ok {
			t.Errorf("%s: %q", name, alg)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	data := payload(16 << 20)
	cases := []struct {
		name string
		e    Expect
	}{
		{"none", Expect{Length: int64(len(data))}},
		{"CRC32", Expect{Length: int64(len(data)), Algorithm: "CRC32", Checksum: fixed(refChecksum("CRC32", data))}},
		{"CRC32C", Expect{Length: int64(len(data)), Algorithm: "CRC32C", Checksum: fixed(refChecksum("CRC32C", data))}},
		{"CRC64NVME", Expect{Length: int64(len(data)), Algorithm: "CRC64NVME", Checksum: fixed(refChecksum("CRC64NVME", data))}},
		{"SHA256", Expect{Length: int64(len(data)), SHA256: sha256hex(data)}},
		{"MD5", Expect{Length: int64(len(data)), MD5: md5b64(data)}},
	}
	// The source read alone, for scale: what the Reader adds is the rest.
	b.Run("source-only", func(b *testing.B) {
		p := make([]byte, 32<<10)
		src := bytes.NewReader(data)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			src.Reset(data)
			for {
				if _, err := src.Read(p); err == io.EOF {
					break
				}
			}
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := make([]byte, 32<<10)
			src := bytes.NewReader(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				r, err := NewReader(src, c.e)
				if err != nil {
					b.Fatal(err)
				}
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

func FuzzReader(f *testing.F) {
	f.Add([]byte("hello world"), uint8(0), uint8(0), uint16(0))
	f.Add([]byte(""), uint8(1), uint8(3), uint16(1))
	f.Add(payload(5000), uint8(4), uint8(0x81), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, alg uint8, flags uint8, rs uint16) {
		e := Expect{Length: int64(len(data))}
		wantErr := false
		a := allAlgorithms[int(alg)%len(allAlgorithms)]
		if flags&1 != 0 {
			e.Algorithm = a
			sum := refChecksum(a, data)
			if flags&2 != 0 {
				sum = refChecksum(a, append(bytes.Clone(data), 'x'))
				wantErr = true
			}
			e.Checksum = fixed(sum)
		}
		if flags&4 != 0 {
			e.MD5 = md5b64(data)
			if flags&8 != 0 {
				e.MD5 = md5b64(append(bytes.Clone(data), 'x'))
				wantErr = true
			}
		}
		if flags&16 != 0 {
			e.SHA256 = sha256hex(data)
		}
		switch flags >> 5 {
		case 1:
			e.Length++
			wantErr = true
		case 2:
			if e.Length > 0 {
				e.Length--
				wantErr = true
			}
		case 3:
			e.Length = -1
		}
		var src io.Reader = bytes.NewReader(data)
		if rs&0x8000 != 0 {
			src = iotest.OneByteReader(src)
		}
		r := mustReader(t, src, e)
		got, err := drain(r, 1+int(rs&0x7fff))
		if wantErr {
			if err == nil {
				t.Fatalf("no error for %+v", e)
			}
			if len(data) > 0 && len(got) >= len(data) || e.Length > 0 && int64(len(got)) >= e.Length {
				t.Fatalf("released %d bytes despite failure", len(got))
			}
			return
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("err %v, got %d bytes of %d", err, len(got), len(data))
		}
	})
}
