package embedded

import (
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/photogate/photogate/s3/chunked"
	"github.com/photogate/photogate/s3/integrity"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3req"
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

// Errors are gofakes3 error values with codes gofakes3 knows the HTTP status
// of: the same reader feeds gofakes3's PutObject handler, which maps an
// unknown code to 500, and our own handlers.
func errIncompleteBody(format string, args ...any) error {
	return gofakes3.ErrorMessagef(gofakes3.ErrIncompleteBody, format, args...)
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
//
// The framing and checks are photogate's own (s3/chunked,
// s3/integrity); chunk signatures are not verified (see above), but the
// trailer or header checksum, a literal x-amz-content-sha256, Content-MD5
// and the exact length are, and the end of the body is held back until they
// pass, so a failing body is never stored.
func decodeBody(r *http.Request, checkMD5 bool) (decodedBody, error) {
	h := r.Header
	alg, headerSum, err := integrity.AlgorithmFromHeaders(h)
	if err != nil {
		return decodedBody{}, gofakesError(err)
	}
	expect := integrity.Expect{Length: r.ContentLength, Algorithm: alg}
	if headerSum != "" {
		expect.Checksum = func() string { return headerSum }
	}
	if checkMD5 {
		expect.MD5 = h.Get("Content-Md5")
	}
	var src io.Reader = r.Body
	if s3req.IsAWSChunked(h) {
		size, err := strconv.ParseInt(h.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || size < 0 {
			return decodedBody{}, gofakes3.ErrorMessage(gofakes3.ErrMissingContentLength,
				"aws-chunked uploads need a valid x-amz-decoded-content-length")
		}
		var trailers []string
		for _, v := range h.Values("X-Amz-Trailer") {
			for n := range strings.SplitSeq(v, ",") {
				if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
					trailers = append(trailers, n)
				}
			}
		}
		// Signed framing is read but not verified: only photogate reaches
		// this listener, and it authenticated the client already.
		signed := strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		d := chunked.NewReader(r.Body, chunked.Options{Trailers: trailers, MaxChunkSize: 5 << 30, Unverified: signed})
		src, expect.Length = d, size
		for _, name := range trailers {
			if talg, ok := integrity.TrailerAlgorithm(name); ok && expect.Algorithm == "" {
				expect.Algorithm = talg
				expect.Checksum = func() string { return d.Trailer().Get(name) }
			}
		}
	} else if v := h.Get("X-Amz-Content-Sha256"); len(v) == 64 {
		// A literal payload hash is a promise about the bytes; S3 checks it
		// and so do we (photogate may pass the client's through).
		if _, err := hex.DecodeString(v); err == nil {
			expect.SHA256 = v
		}
	}
	ir, err := integrity.NewReader(src, expect)
	if err != nil {
		return decodedBody{}, gofakesError(err)
	}
	return decodedBody{Reader: gofakesReader{ir}, Size: expect.Length}, nil
}

// gofakesError turns photogate's S3 errors into gofakes3's: the same reader
// feeds gofakes3's PutObject handler, which knows the HTTP status of its own
// codes only (anything else becomes 500).
func gofakesError(err error) error {
	var e *s3err.Error
	if !errors.As(err, &e) {
		return err
	}
	code := gofakes3.ErrorCode(e.Code)
	switch {
	case e.Code == s3err.XAmzContentSHA256Mismatch || e.Code == s3err.XAmzContentChecksumMismatch:
		code = gofakes3.ErrBadDigest
	case e.Code == s3err.InvalidRequest:
		code = gofakes3.ErrIncompleteBody // malformed framing, as AWS answers it
	case code.Status() == http.StatusInternalServerError && e.Code != s3err.InternalError:
		code = gofakes3.ErrInvalidArgument
	}
	return gofakes3.ErrorMessage(code, e.Description())
}

// gofakesReader reports read errors as gofakes3 errors.
type gofakesReader struct{ r io.Reader }

func (g gofakesReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = gofakesError(err)
	}
	return n, err
}

// rewriteDecodedHeaders makes r's headers describe the decoded body, so that
// gofakes3 sees an ordinary PUT: right Content-Length, no aws-chunked
// Content-Encoding (gofakes3 stores Content-Encoding as object metadata), and
// a payload hash that does not send it into its own chunk decoder.
func rewriteDecodedHeaders(r *http.Request, body decodedBody) {
	h := r.Header
	if enc := s3req.StripAWSChunked(h.Values("Content-Encoding")); enc != "" {
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
