package embedded

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/minio/crc64nvme"
)

// Payload decoding for object and part uploads.
//
// gofakes3 v1.2.0 only un-frames aws-chunked bodies whose
// x-amz-content-sha256 is exactly STREAMING-AWS4-HMAC-SHA256-PAYLOAD, and
// only for PutObject (never for UploadPart). Every other aws-chunked variant
// -- in particular STREAMING-UNSIGNED-PAYLOAD-TRAILER, which photogate uses
// to forward a client's checksum trailer -- is stored verbatim, framing and
// trailer included (TestGofakes3StoresAwsChunkedFraming pins this down). So
// the front handler decodes every variant itself before a body reaches
// gofakes3 or the multipart stager, and verifies what can be verified on the
// way: the trailer (or header) checksum and a literal x-amz-content-sha256.
// Chunk signatures are not verified: gofakes3 ignores signatures altogether,
// and only photogate, which already authenticated the client, can reach this
// listener.

const (
	maxChunkHeaderLen = 4 << 10  // "hex;chunk-signature=<64 hex>" is ~90 bytes
	maxTrailerLen     = 16 << 10 // a few "name:value" lines
)

// Errors are gofakes3 error values with codes gofakes3 knows the HTTP status
// of: the same reader feeds gofakes3's PutObject handler, which maps an
// unknown code to 500, and our own handlers.
func errIncompleteBody(format string, args ...any) error {
	return gofakes3.ErrorMessagef(gofakes3.ErrIncompleteBody, format, args...)
}

func errBadDigest(format string, args ...any) error {
	return gofakes3.ErrorMessagef(gofakes3.ErrBadDigest, format, args...)
}

// isAWSChunked reports whether the request body uses aws-chunked framing.
func isAWSChunked(h http.Header) bool {
	if strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return true
	}
	for _, v := range h.Values("Content-Encoding") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "aws-chunked") {
				return true
			}
		}
	}
	return false
}

// stripAWSChunked removes the aws-chunked token from a Content-Encoding value:
// it describes the transfer framing, not the object, so it must not be stored.
func stripAWSChunked(v string) string {
	var keep []string
	for tok := range strings.SplitSeq(v, ",") {
		tok = strings.TrimSpace(tok)
		if tok != "" && !strings.EqualFold(tok, "aws-chunked") {
			keep = append(keep, tok)
		}
	}
	return strings.Join(keep, ",")
}

// newChecksum returns the hash for an x-amz-checksum-<alg> name, or nil if
// the algorithm is not one S3 defines.
func newChecksum(name string) hash.Hash {
	switch strings.TrimPrefix(strings.ToLower(name), "x-amz-checksum-") {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		return crc64nvme.New()
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

// decodedBody is a request body with framing removed and integrity checks
// attached; Size is the exact payload length.
type decodedBody struct {
	io.Reader
	Size int64
}

// decodeBody prepares r's payload for storage. The header rewrites it implies
// (Content-Length, Content-Encoding, ...) are applied by rewriteDecodedHeaders.
// checkMD5 adds Content-MD5 verification (gofakes3 does its own for PUT).
// A non-nil error is an S3 error suitable for the client.
func decodeBody(r *http.Request, checkMD5 bool) (decodedBody, error) {
	body, err := decodePayload(r)
	if err != nil || !checkMD5 {
		return body, err
	}
	v, ok := r.Header["Content-Md5"]
	if !ok {
		return body, nil
	}
	want, err := base64.StdEncoding.DecodeString(strings.Join(v, ""))
	if err != nil || len(want) != md5.Size {
		return decodedBody{}, gofakes3.ErrInvalidDigest
	}
	body.Reader = &verifyingReader{r: body.Reader, h: md5.New(), want: want, what: "Content-MD5"}
	return body, nil
}

func decodePayload(r *http.Request) (decodedBody, error) {
	h := r.Header
	var rd io.Reader
	var size int64
	if isAWSChunked(h) {
		var err error
		size, err = strconv.ParseInt(h.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || size < 0 {
			return decodedBody{}, gofakes3.ErrorMessage(gofakes3.ErrMissingContentLength,
				"aws-chunked uploads need a valid x-amz-decoded-content-length")
		}
		// The decoder checks the length itself, at the end of the framing.
		d := &chunkedDecoder{br: bufio.NewReaderSize(r.Body, 64<<10), want: size}
		// Only a trailer the client announced is checked: S3 requires
		// x-amz-trailer to name it, and without the name we cannot know
		// which checksum to compute while streaming.
		if name := strings.ToLower(strings.TrimSpace(h.Get("X-Amz-Trailer"))); strings.HasPrefix(name, "x-amz-checksum-") {
			if sum := newChecksum(name); sum != nil {
				d.trailerName, d.sum = name, sum
			}
		}
		rd = d
	} else {
		size = r.ContentLength
		rd = r.Body
		if size >= 0 {
			rd = &exactReader{r: rd, want: size}
		}
		// A literal payload hash is a promise about the bytes; S3 checks it
		// and so do we (photogate may pass the client's through).
		// UNSIGNED-PAYLOAD carries no promise, nor do the STREAMING-* modes
		// (their chunk signatures are not checked, see above).
		if v := h.Get("X-Amz-Content-Sha256"); len(v) == 64 {
			if want, err := hex.DecodeString(v); err == nil {
				rd = &verifyingReader{r: rd, h: sha256.New(), want: want, what: "x-amz-content-sha256"}
			}
		}
	}
	// A checksum sent as a header rather than a trailer is just as checkable,
	// whatever the framing.
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-checksum-") || len(vs) == 0 {
			continue
		}
		sum := newChecksum(lk) // nil for x-amz-checksum-type/-algorithm/-mode
		if sum == nil {
			continue
		}
		want, err := base64.StdEncoding.DecodeString(vs[0])
		if err != nil || len(want) != sum.Size() {
			return decodedBody{}, gofakes3.ErrorMessagef(gofakes3.ErrInvalidDigest, "%s is not a valid base64 checksum", lk)
		}
		rd = &verifyingReader{r: rd, h: sum, want: want, what: lk}
	}
	return decodedBody{Reader: rd, Size: size}, nil
}

// rewriteDecodedHeaders makes r's headers describe the decoded body, so that
// gofakes3 sees an ordinary PUT: right Content-Length, no aws-chunked
// Content-Encoding (gofakes3 stores Content-Encoding as object metadata), and
// a payload hash that does not send it into its own chunk decoder.
func rewriteDecodedHeaders(r *http.Request, body decodedBody) {
	h := r.Header
	if enc := stripAWSChunked(strings.Join(h.Values("Content-Encoding"), ",")); enc != "" {
		h.Set("Content-Encoding", enc)
	} else {
		h.Del("Content-Encoding")
	}
	h.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	h.Del("X-Amz-Decoded-Content-Length")
	h.Del("X-Amz-Trailer")
	if body.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(body.Size, 10))
		r.ContentLength = body.Size
	}
	r.Body = readCloser{Reader: body.Reader, Closer: r.Body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// chunkedDecoder removes aws-chunked framing, in all its variants:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n
//	[trailer-name:value\r\n ...] [x-amz-trailer-signature:sig\r\n] \r\n
//
// The trailer section is parsed leniently by lines because minio-go ends
// trailer lines with a bare "\n" (signer.StreamingUnsignedV4) while the AWS
// SDKs use "\r\n".
type chunkedDecoder struct {
	br          *bufio.Reader
	want        int64 // x-amz-decoded-content-length
	total       int64 // payload bytes returned so far
	remaining   int64 // payload bytes left in the current chunk
	inChunk     bool  // a chunk's data was started and its CRLF is pending
	done        bool
	err         error
	trailerName string    // announced checksum trailer, if verifiable
	sum         hash.Hash // running checksum for trailerName
}

func (d *chunkedDecoder) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.remaining == 0 {
		if err := d.nextChunk(); err != nil {
			d.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > d.remaining {
		p = p[:d.remaining]
	}
	n, err := d.br.Read(p)
	d.remaining -= int64(n)
	d.total += int64(n)
	if d.sum != nil {
		d.sum.Write(p[:n])
	}
	if d.total > d.want {
		d.err = errIncompleteBody("aws-chunked payload is longer than x-amz-decoded-content-length %d", d.want)
		return n, d.err
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errIncompleteBody("aws-chunked body ended inside a chunk")
		}
		d.err = err
		return n, err
	}
	return n, nil
}

// nextChunk consumes the CRLF closing the previous chunk and the next chunk
// header; on the final (zero-length) chunk it parses the trailers and
// returns io.EOF, or an error if the payload failed a check.
func (d *chunkedDecoder) nextChunk() error {
	if d.done {
		return io.EOF
	}
	if d.inChunk {
		if err := d.expectCRLF(); err != nil {
			return err
		}
		d.inChunk = false
	}
	line, err := d.readLine(maxChunkHeaderLen)
	if err != nil {
		return errIncompleteBody("aws-chunked chunk header: %v", err)
	}
	sizeField, _, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeField), 16, 64)
	if err != nil || size < 0 {
		return errIncompleteBody("aws-chunked chunk header %q is malformed", truncate(line, 64))
	}
	if size == 0 {
		d.done = true
		return d.finish()
	}
	d.remaining = size
	d.inChunk = true
	return nil
}

func (d *chunkedDecoder) finish() error {
	trailers := map[string]string{}
	read := 0
	for {
		line, err := d.br.ReadString('\n')
		read += len(line)
		if read > maxTrailerLen {
			return errIncompleteBody("aws-chunked trailer section is too long")
		}
		if name, value, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			trailers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read aws-chunked trailer: %w", err)
		}
	}
	if d.total != d.want {
		return errIncompleteBody("aws-chunked payload has %d bytes, x-amz-decoded-content-length says %d", d.total, d.want)
	}
	if d.sum != nil {
		v, ok := trailers[d.trailerName]
		if !ok {
			return errIncompleteBody("announced trailer %s is missing", d.trailerName)
		}
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !bytes.Equal(want, d.sum.Sum(nil)) {
			return errBadDigest("the %s you specified did not match the calculated checksum", d.trailerName)
		}
	}
	return io.EOF
}

func (d *chunkedDecoder) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(d.br, b[:]); err != nil || b != [2]byte{'\r', '\n'} {
		return errIncompleteBody("aws-chunked chunk is not terminated by CRLF")
	}
	return nil
}

// readLine reads up to "\n", refusing lines longer than limit so a garbage
// body cannot make us buffer without bound.
func (d *chunkedDecoder) readLine(limit int) (string, error) {
	var sb strings.Builder
	for {
		frag, err := d.br.ReadSlice('\n')
		sb.Write(frag)
		if sb.Len() > limit {
			return "", errors.New("line too long")
		}
		if err == nil {
			return strings.TrimRight(sb.String(), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// verifyingReader hashes what passes through and fails the read that
// reaches EOF if the digest is not the promised one. Failing at EOF (rather
// than after the copy) means the spooling code never commits a bad body.
type verifyingReader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
	what string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) && !bytes.Equal(v.h.Sum(nil), v.want) {
		return n, errBadDigest("the %s you specified did not match what we received", v.what)
	}
	return n, err
}

// exactReader turns a body shorter than its declared length into
// IncompleteBody rather than an anonymous unexpected EOF.
type exactReader struct {
	r         io.Reader
	want, got int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.got += int64(n)
	if errors.Is(err, io.EOF) && e.got != e.want {
		return n, errIncompleteBody("body has %d bytes, Content-Length says %d", e.got, e.want)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, errIncompleteBody("body ended after %d of %d bytes", e.got, e.want)
	}
	return n, err
}
