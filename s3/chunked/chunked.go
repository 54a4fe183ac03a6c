// Package chunked decodes request bodies sent with Content-Encoding:
// aws-chunked, in the three streaming modes S3 clients use:
//
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD          every chunk signed
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  chunks signed, then a signed trailer
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER          plain chunks, then a trailer
//
// The wire format is
//
//	<hex-size>[;chunk-signature=<64 hex>]\r\n <data> \r\n   (repeated)
//	0[;chunk-signature=<64 hex>]\r\n
//	[<name>:<value>\r\n ...]                                (trailers)
//	[x-amz-trailer-signature:<64 hex>\r\n]                  (signed trailer)
//	\r\n
//
// Clients disagree on the details, so the decoder accepts LF for CRLF at
// every line end, chunk extensions on unsigned chunks, trailer lines ending
// in LF (minio-go), blank lines between the trailers and their signature
// (minio-go), and a few stray CR/LF bytes after the final blank line
// (minio-go's unsigned encoder sends "\r\n\r\n"). It is strict about
// everything a signature or the payload depends on.
//
// Memory per reader is constant: chunk data is streamed to the caller, never
// buffered, and every line is bounded.
package chunked

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// Signer computes chunk signatures; implemented by the SigV4 verifier's result.
type Signer interface {
	// ChunkSignature is the hex signature of a chunk whose data hashes to
	// chunkSHA256, chained to the previous chunk's signature (the request's
	// signature for the first chunk).
	ChunkSignature(prevSig string, chunkSHA256 []byte) string
	// TrailerSignature is the hex signature of the trailer, chained to the
	// final chunk's signature. trailer holds the trailer lines as AWS signs
	// them: "<lower-case name>:<trimmed value>\n" for each, in the order
	// received.
	TrailerSignature(prevSig string, trailer []byte) string
}

// Options configure a Reader.
type Options struct {
	// Signer verifies chunk and trailer signatures; nil means unsigned
	// chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
	Signer Signer
	// Unverified, with no Signer, reads signed framing (chunk-signature
	// extensions, a trailer signature) without verifying it: for a listener
	// that only an authenticated proxy can reach, like photogate's embedded
	// backend. Never for bodies from clients.
	Unverified bool
	// SeedSignature is the request's signature, which the first chunk's
	// signature chains to.
	SeedSignature string
	// Trailers are the names declared in X-Amz-Trailer. Every one must be
	// received and no other is accepted. Empty: no trailer expected.
	Trailers []string
	// MaxChunkSize bounds the size a chunk may declare; 0 means 16 MiB, as
	// MinIO. Chunk data is streamed, so the bound does not affect memory.
	// Note that aws-sdk-go-v2 sends a body of known length as a single
	// chunk (up to 5 GiB) in STREAMING-UNSIGNED-PAYLOAD-TRAILER mode, so
	// callers accepting that client should pass 5 GiB here.
	MaxChunkSize int64
}

const (
	defaultMaxChunkSize = 16 << 20
	// maxLineLen bounds a chunk header or trailer line, terminator included.
	maxLineLen = 4 << 10
	// bufSize is the read buffer. bufio reads straight into the caller's
	// slice when that is at least this large, so chunk data is not copied
	// twice for large reads.
	bufSize = 8 << 10
	// maxBlankLines bounds the blank lines tolerated inside the trailer
	// section (minio-go puts one before the trailer signature).
	maxBlankLines = 2
	// maxTail bounds the CR/LF bytes tolerated after the final blank line.
	maxTail = 4
	sigLen  = 64

	trailerSigName    = "x-amz-trailer-signature"
	chunkSigExtPrefix = "chunk-signature="
)

type state uint8

const (
	stateHeader state = iota // expecting a chunk header line
	stateData                // inside a chunk's data
	stateDone                // the body ended and was verified
)

// Reader decodes an aws-chunked body.
type Reader struct {
	br       *bufio.Reader
	signer   Signer
	signed   bool // the framing carries signatures (verified only with a signer)
	prevSig  string
	declared []string
	maxChunk int64

	state state
	left  int64 // data bytes left in the current chunk
	err   error // sticky

	h       hash.Hash // SHA-256 of the current chunk, signed mode only
	sum     [sha256.Size]byte
	sig     [sigLen]byte // signature announced in the current chunk's header
	trailer http.Header
}

// NewReader returns a Reader decoding src. src must end where the body ends
// (an http.Request body does): the Reader reads it to EOF to make sure
// nothing follows the final chunk.
func NewReader(src io.Reader, opts Options) *Reader {
	r := &Reader{
		br:       bufio.NewReaderSize(src, bufSize),
		signer:   opts.Signer,
		signed:   opts.Signer != nil || opts.Unverified,
		prevSig:  opts.SeedSignature,
		maxChunk: opts.MaxChunkSize,
		trailer:  make(http.Header, len(opts.Trailers)),
	}
	if r.maxChunk <= 0 {
		r.maxChunk = defaultMaxChunkSize
	}
	if r.signer != nil {
		r.h = sha256.New()
	}
	for _, name := range opts.Trailers {
		r.declared = append(r.declared, strings.ToLower(strings.TrimSpace(name)))
	}
	return r
}

// Trailer returns the trailers received, keyed by canonical header name. It
// is complete once Read has returned io.EOF.
func (r *Reader) Trailer() http.Header { return r.trailer }

// Read returns decoded payload bytes. It returns io.EOF only after the final
// chunk, the trailers and, when signed, the trailer signature were read and
// verified, and the body ended. Errors are *s3err.Error, except read errors
// from src other than a premature end, which are passed through unchanged
// so the caller can tell a timeout or a disconnect from a bad body.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.state == stateDone {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.state == stateHeader {
		if err := r.readHeader(); err != nil {
			return 0, r.fail(err)
		}
		if r.state == stateDone {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	if r.h != nil {
		r.h.Write(p[:n])
	}
	r.left -= int64(n)
	if r.left == 0 {
		if err := r.endChunk(); err != nil {
			// The bytes of this read belong to a chunk that failed:
			// withhold them.
			return 0, r.fail(err)
		}
		r.state = stateHeader
		return n, nil
	}
	if err != nil {
		return n, r.fail(err)
	}
	return n, nil
}

// fail records err as the reader's final error, turning a premature end of
// src into IncompleteBody.
func (r *Reader) fail(err error) error {
	var e *s3err.Error
	if !errors.As(err, &e) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = s3err.Wrap(s3err.IncompleteBody, "The request body terminated unexpectedly.", err)
	}
	r.err = err
	return err
}

func malformed(format string, args ...any) error {
	return s3err.New(s3err.InvalidRequest, "Malformed aws-chunked encoding: "+fmt.Sprintf(format, args...))
}

// readLine returns the next line without its terminator (LF, or CRLF). The
// slice is only valid until the next read from r.br.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, malformed("line longer than %d bytes", maxLineLen)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) > maxLineLen {
		return nil, malformed("line longer than %d bytes", maxLineLen)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readHeader reads a chunk header; for the final chunk it also reads the
// trailer section and the end of the body.
func (r *Reader) readHeader() error {
	line, err := r.readLine()
	if err != nil {
		return err
	}
	sizeField, ext, hasExt := bytes.Cut(line, []byte{';'})
	size, err := r.parseSize(sizeField)
	if err != nil {
		return err
	}
	if r.signed {
		if !hasExt || !bytes.HasPrefix(ext, []byte(chunkSigExtPrefix)) {
			return malformed("chunk header without chunk-signature")
		}
		if err := parseSig(r.sig[:], ext[len(chunkSigExtPrefix):]); err != nil {
			return err
		}
		if r.signer != nil {
			r.h.Reset()
		}
	}
	// Unsigned chunks may carry extensions (some encoders add an empty or
	// meaningless chunk-signature); nothing depends on them.
	if size > 0 {
		r.left = size
		r.state = stateData
		return nil
	}
	if r.signer != nil {
		if err := r.verifyChunk(); err != nil {
			return err
		}
	}
	if err := r.readTrailers(); err != nil {
		return err
	}
	if err := r.readTail(); err != nil {
		return err
	}
	r.state = stateDone
	return nil
}

func (r *Reader) parseSize(field []byte) (int64, error) {
	// Tolerate whitespace before the extension, as HTTP chunking does.
	field = bytes.TrimRight(field, " \t")
	if len(field) == 0 {
		return 0, malformed("empty chunk size")
	}
	var size int64
	for _, c := range field {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, malformed("invalid chunk size %q", truncate(field))
		}
		// Checked per digit, so the value never overflows.
		size = size<<4 | int64(d)
		if size > r.maxChunk {
			return 0, s3err.New(s3err.InvalidChunkSizeError,
				fmt.Sprintf("Chunk size exceeds the maximum of %d bytes.", r.maxChunk))
		}
	}
	return size, nil
}

// parseSig copies a 64-character lower-case hex signature into dst.
func parseSig(dst, sig []byte) error {
	if len(sig) != sigLen {
		return malformed("signature is not %d hex characters", sigLen)
	}
	for _, c := range sig {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return malformed("signature is not lower-case hex")
		}
	}
	copy(dst, sig)
	return nil
}

// endChunk consumes the line end after a chunk's data and verifies the
// chunk's signature.
func (r *Reader) endChunk() error {
	c, err := r.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = r.br.ReadByte()
	}
	if err != nil {
		return err
	}
	if c != '\n' {
		return malformed("chunk data not followed by CRLF")
	}
	if r.signer != nil {
		return r.verifyChunk()
	}
	return nil
}

// verifyChunk checks the current chunk's announced signature against its
// hashed data and advances the chain.
func (r *Reader) verifyChunk() error {
	want := r.signer.ChunkSignature(r.prevSig, r.h.Sum(r.sum[:0]))
	if subtle.ConstantTimeCompare([]byte(want), r.sig[:]) != 1 {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	r.prevSig = want
	return nil
}

// readTrailers reads the trailer section after the final chunk header, up
// to and including the blank line that ends it.
func (r *Reader) readTrailers() error {
	// canon is what the trailer signature covers; bounded by the number of
	// declared trailers times maxLineLen since each may appear only once.
	var canon []byte
	sigSeen := false
	blanks := 0
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return s3err.Wrap(s3err.IncompleteBody, r.missingMsg(sigSeen), err)
			}
			return err
		}
		if len(line) == 0 {
			// In signed mode with trailers, minio-go sends a blank line
			// between the trailers and their signature; anywhere else a
			// blank line ends the section.
			if r.signed && len(r.declared) > 0 && !sigSeen {
				if blanks++; blanks > maxBlankLines {
					return malformed("trailer section has too many blank lines")
				}
				continue
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return malformed("trailer line without ':'")
		}
		lname := strings.ToLower(string(bytes.TrimSpace(name)))
		value = bytes.Trim(value, " \t")
		if lname == trailerSigName {
			if !r.signed {
				return malformed("trailer signature in an unsigned stream")
			}
			if sigSeen {
				return malformed("repeated trailer signature")
			}
			if err := r.checkAllTrailers(); err != nil {
				return err
			}
			if err := parseSig(r.sig[:], value); err != nil {
				return err
			}
			if r.signer != nil {
				want := r.signer.TrailerSignature(r.prevSig, canon)
				if subtle.ConstantTimeCompare([]byte(want), r.sig[:]) != 1 {
					return s3err.New(s3err.SignatureDoesNotMatch, "The trailer signature does not match.")
				}
				r.prevSig = want
			}
			sigSeen = true
			continue
		}
		if sigSeen {
			return malformed("trailer after the trailer signature")
		}
		if !r.isDeclared(lname) {
			return s3err.New(s3err.InvalidRequest,
				fmt.Sprintf("Trailer %q was not declared in x-amz-trailer.", truncate([]byte(lname))))
		}
		if !validValue(value) {
			return malformed("invalid value for trailer %q", lname)
		}
		key := textproto.CanonicalMIMEHeaderKey(lname)
		if _, dup := r.trailer[key]; dup {
			return malformed("repeated trailer %q", lname)
		}
		r.trailer[key] = []string{string(value)}
		if r.signer != nil {
			canon = append(canon, lname...)
			canon = append(canon, ':')
			canon = append(canon, value...)
			canon = append(canon, '\n')
		}
	}
	// A blank line ends the section only after a required signature (see
	// above), so what remains to check is the unsigned case.
	return r.checkAllTrailers()
}

func (r *Reader) isDeclared(name string) bool {
	for _, d := range r.declared {
		if d == name {
			return true
		}
	}
	return false
}

func (r *Reader) checkAllTrailers() error {
	for _, d := range r.declared {
		if _, ok := r.trailer[textproto.CanonicalMIMEHeaderKey(d)]; !ok {
			return s3err.New(s3err.InvalidRequest,
				fmt.Sprintf("The trailer %q declared in x-amz-trailer was not sent.", d))
		}
	}
	return nil
}

// missingMsg says what the body lacked when it ended in the trailer section.
func (r *Reader) missingMsg(sigSeen bool) string {
	for _, d := range r.declared {
		if _, ok := r.trailer[textproto.CanonicalMIMEHeaderKey(d)]; !ok {
			return fmt.Sprintf("The request body terminated before the trailer %q.", d)
		}
	}
	if r.signed && len(r.declared) > 0 && !sigSeen {
		return "The request body terminated before the trailer signature."
	}
	return "The request body terminated unexpectedly."
}

// readTail reads src to its end after the final blank line, allowing only a
// few stray line-end bytes: anything else means the framing and the body
// length disagree.
func (r *Reader) readTail() error {
	for i := 0; ; i++ {
		c, err := r.br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if (c != '\r' && c != '\n') || i >= maxTail {
			return malformed("data after the final chunk")
		}
	}
}

// validValue reports whether v is a legal header field value: visible ASCII,
// spaces and tabs only.
func validValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens client-controlled text before it goes into a message.
func truncate(b []byte) string {
	const limit = 32
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}
