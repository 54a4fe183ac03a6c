// Package integrity verifies an upload body while it streams through the
// gateway: its length, Content-MD5, x-amz-content-sha256 digest and
// x-amz-checksum-* value.
//
// The checks can only complete once the whole body has been seen, and by
// then all but the end of it has been forwarded. So the Reader holds back
// the final byte of the payload until the source has ended and every check
// passed; on failure it returns the error instead of that byte. A backend
// request sent with a Content-Length therefore never completes with a bad
// body: it is aborted one byte short.
package integrity

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"

	"github.com/minio/crc64nvme"

	"github.com/photogate/photogate/s3/s3err"
)

// Expect is what the client announced about a body.
type Expect struct {
	// Length is the exact payload length, -1 if unknown.
	Length int64
	// MD5 is the Content-MD5 header (base64), "" if none.
	MD5 string
	// SHA256 is the hex digest from x-amz-content-sha256 when it is one,
	// "" otherwise.
	SHA256 string
	// Algorithm is "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" or "",
	// from x-amz-checksum-*, x-amz-sdk-checksum-algorithm or the trailer
	// name. With no Checksum the checksum is computed but not checked.
	Algorithm string
	// Checksum returns the expected base64 checksum. It is called once, at
	// the end of the stream, so it can read a trailer the decoder has just
	// received. nil if none.
	Checksum func() string
}

// Sums are the digests computed over a body, valid once Read returned
// io.EOF, or the check that failed at the end of the body did (so a
// mismatch can be logged with both values). Digests that were not needed
// are not computed and stay "".
type Sums struct {
	Length    int64  // payload bytes read
	MD5       string // hex, when Content-MD5 was checked
	SHA256    string // hex, when a SHA-256 was computed
	Algorithm string // the checksum algorithm, as in Expect
	Checksum  string // base64 checksum of Algorithm
}

type algorithm struct {
	name   string // as in Expect.Algorithm
	header string // canonical x-amz-checksum-* header key
	size   int    // digest size in bytes
	new    func() hash.Hash
}

// algorithms is indexed by lookups only; declared as a function so the
// package keeps no mutable state.
func algorithms() [5]algorithm {
	return [5]algorithm{
		{"CRC32", "X-Amz-Checksum-Crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
		{"CRC32C", "X-Amz-Checksum-Crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
		{"CRC64NVME", "X-Amz-Checksum-Crc64nvme", 8, func() hash.Hash { return crc64nvme.New() }},
		{"SHA1", "X-Amz-Checksum-Sha1", sha1.Size, sha1.New},
		{"SHA256", "X-Amz-Checksum-Sha256", sha256.Size, sha256.New},
	}
}

func lookup(name string) (algorithm, bool) {
	for _, a := range algorithms() {
		if strings.EqualFold(a.name, name) {
			return a, true
		}
	}
	return algorithm{}, false
}

// AlgorithmFromHeaders finds the x-amz-checksum-<alg> header of a request
// and returns its algorithm and value, or "", "" when there is none. More
// than one such header, or a value that is not base64, is InvalidRequest;
// base64 of the wrong size is BadDigest. x-amz-sdk-checksum-algorithm is not
// consulted: it merely repeats the algorithm of the header or trailer.
func AlgorithmFromHeaders(h http.Header) (alg, value string, err error) {
	for _, a := range algorithms() {
		vs := h[a.header]
		if len(vs) == 0 {
			continue
		}
		if alg != "" || len(vs) > 1 {
			return "", "", s3err.New(s3err.InvalidRequest,
				"Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		if _, err := decodeDigest(a, vs[0], "header"); err != nil {
			return "", "", err
		}
		alg, value = a.name, vs[0]
	}
	return alg, value, nil
}

// TrailerAlgorithm maps a trailer name such as "x-amz-checksum-crc32" to its
// algorithm ("CRC32").
func TrailerAlgorithm(name string) (alg string, ok bool) {
	name = strings.TrimSpace(name)
	for _, a := range algorithms() {
		if strings.EqualFold(a.header, name) {
			return a.name, true
		}
	}
	return "", false
}

func invalidValue(a algorithm, where string) error {
	return s3err.New(s3err.InvalidRequest,
		"Value for "+strings.ToLower(a.header)+" "+where+" is invalid.")
}

// decodeDigest decodes a base64 digest of size bytes. Padding is optional:
// SDKs send it, hand-written requests sometimes do not. A value that is
// not base64 is malformed (InvalidRequest); well-formed base64 of another
// size can match no body, which S3 answers BadDigest, as for any other
// mismatch.
func decodeDigest(a algorithm, s, where string) ([]byte, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	// Not Strict: spare bits set in the last character change no digest
	// byte, and "bad" is then a short digest (BadDigest), as S3 answers.
	buf := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(buf, []byte(s))
	switch {
	case err != nil || s == "":
		return nil, invalidValue(a, where)
	case n != a.size:
		return nil, mismatch(a)
	}
	return buf[:n], nil
}

func mismatch(a algorithm) error {
	return s3err.New(s3err.BadDigest, "The "+a.name+" you specified did not match the calculated checksum.")
}

// Reader passes a body through while verifying it, holding back its final
// byte until the checks passed.
type Reader struct {
	src    io.Reader
	length int64 // -1: unknown
	n      int64 // bytes read from src

	hashes  [3]hash.Hash // distinct hashes to feed
	nhashes int
	md5     hash.Hash
	sha     hash.Hash
	ck      hash.Hash
	alg     algorithm
	hasAlg  bool

	wantMD5    [md5.Size]byte // checked when md5 != nil
	wantSHA    [sha256.Size]byte
	checkSHA   bool
	checksumFn func() string

	hold     byte // the last byte read, not yet released
	held     bool
	scratch  [1]byte
	verified bool // src ended and every check passed
	err      error
	sums     Sums
}

// DecodeContentMD5 decodes a Content-MD5 header: padded base64 of 16
// bytes, or InvalidDigest.
func DecodeContentMD5(v string) ([md5.Size]byte, error) {
	var sum [md5.Size]byte
	var buf [md5.Size + 2]byte // room for 24 base64 characters without padding
	n, err := base64.StdEncoding.Decode(buf[:], []byte(v))
	if len(v) != base64.StdEncoding.EncodedLen(md5.Size) || err != nil || n != md5.Size {
		return sum, s3err.New(s3err.InvalidDigest, "")
	}
	copy(sum[:], buf[:n])
	return sum, nil
}

// NewReader validates e and returns a Reader over src: a malformed
// Content-MD5 is InvalidDigest, a malformed SHA-256 InvalidArgument (as
// AWS answers a bad x-amz-content-sha256), an unknown algorithm or a
// Checksum without one InvalidRequest.
func NewReader(src io.Reader, e Expect) (*Reader, error) {
	r := &Reader{src: src, length: e.Length, checksumFn: e.Checksum}
	if r.length < 0 {
		r.length = -1
	}
	if e.MD5 != "" {
		want, err := DecodeContentMD5(e.MD5)
		if err != nil {
			return nil, err
		}
		r.wantMD5 = want
		r.md5 = md5.New()
		r.add(r.md5)
	}
	if e.SHA256 != "" {
		if len(e.SHA256) != 2*sha256.Size {
			return nil, badSHA256()
		}
		if _, err := hex.Decode(r.wantSHA[:], []byte(e.SHA256)); err != nil {
			return nil, badSHA256()
		}
		r.checkSHA = true
		r.sha = sha256.New()
		r.add(r.sha)
	}
	if e.Algorithm != "" {
		a, ok := lookup(e.Algorithm)
		if !ok {
			return nil, s3err.New(s3err.InvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		r.alg, r.hasAlg = a, true
		if a.name == "SHA256" && r.sha != nil {
			r.ck = r.sha // one pass serves both
		} else {
			r.ck = a.new()
			r.add(r.ck)
		}
	} else if e.Checksum != nil {
		return nil, s3err.New(s3err.InvalidRequest, "A checksum value was given without its algorithm.")
	}
	return r, nil
}

func badSHA256() error {
	return s3err.New(s3err.InvalidArgument,
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "+
			"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

func (r *Reader) add(h hash.Hash) {
	r.hashes[r.nhashes] = h
	r.nhashes++
}

// Sums returns the digests computed over the body; complete once Read has
// returned io.EOF.
func (r *Reader) Sums() Sums { return r.sums }

// Read implements io.Reader. The final byte of the payload is returned only
// after src returned io.EOF and every check passed; a failed check is
// returned in its place, and sticks. Errors are *s3err.Error, except read
// errors from src other than a premature end, which are passed through.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.verified {
		if r.held {
			// Left over from a one-byte read that met the end.
			p[0], r.held = r.hold, false
			return 1, io.EOF
		}
		return 0, io.EOF
	}
	for {
		off := 0
		if r.held {
			p[0] = r.hold
			off = 1
		}
		dst := p[off:]
		scratch := len(dst) == 0
		if scratch {
			// p has room for the held byte only; read one more into
			// scratch to learn whether the held byte is the last.
			dst = r.scratch[:]
		}
		n, err := r.src.Read(dst)
		if n > 0 {
			if e := r.consume(dst[:n]); e != nil {
				return 0, r.fail(e)
			}
		}
		if err == io.EOF {
			if e := r.finish(); e != nil {
				return 0, r.fail(e)
			}
			r.verified = true
			if scratch && n > 0 {
				r.hold = r.scratch[0] // released by the next call
				return 1, nil
			}
			r.held = false
			return off + n, io.EOF
		}
		if err != nil {
			return 0, r.fail(err)
		}
		if n == 0 {
			return 0, nil
		}
		if scratch {
			r.hold = r.scratch[0]
			return 1, nil
		}
		total := off + n
		r.hold, r.held = p[total-1], true
		if total > 1 {
			return total - 1, nil
		}
		// A single byte came in and is now held: read again rather than
		// return nothing.
	}
}

func (r *Reader) consume(b []byte) error {
	r.n += int64(len(b))
	if r.length >= 0 && r.n > r.length {
		return s3err.New(s3err.IncompleteBody, "The request body is longer than its declared length.")
	}
	for _, h := range r.hashes[:r.nhashes] {
		h.Write(b)
	}
	return nil
}

func (r *Reader) fail(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		var e *s3err.Error
		if !errors.As(err, &e) {
			err = s3err.Wrap(s3err.IncompleteBody, "The request body terminated unexpectedly.", err)
		}
	}
	r.err = err
	return err
}

// finish runs the checks once src has ended, and records the sums.
func (r *Reader) finish() error {
	if r.length >= 0 && r.n < r.length {
		return s3err.New(s3err.IncompleteBody, "")
	}
	var buf [sha256.Size]byte
	r.sums = Sums{Length: r.n}
	if r.md5 != nil {
		sum := r.md5.Sum(buf[:0])
		r.sums.MD5 = hex.EncodeToString(sum)
		if !bytes.Equal(sum, r.wantMD5[:]) {
			return s3err.New(s3err.BadDigest, "")
		}
	}
	if r.sha != nil {
		sum := r.sha.Sum(buf[:0])
		r.sums.SHA256 = hex.EncodeToString(sum)
		if r.checkSHA && !bytes.Equal(sum, r.wantSHA[:]) {
			return s3err.New(s3err.XAmzContentSHA256Mismatch, "")
		}
	}
	if !r.hasAlg {
		return nil
	}
	sum := r.ck.Sum(buf[:0])
	r.sums.Algorithm = r.alg.name
	r.sums.Checksum = base64.StdEncoding.EncodeToString(sum)
	if r.alg.name == "SHA256" && r.sums.SHA256 == "" {
		r.sums.SHA256 = hex.EncodeToString(sum)
	}
	if r.checksumFn == nil {
		return nil
	}
	want, err := decodeDigest(r.alg, r.checksumFn(), "header")
	if err != nil {
		return err
	}
	if !bytes.Equal(sum, want) {
		return mismatch(r.alg)
	}
	return nil
}
