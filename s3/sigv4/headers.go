package sigv4

import (
	"net/http"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// singleValuedHeaders are the standard headers S3 reads as one value. The
// x-amz-* headers are single-valued unless listed in listValuedAmzHeaders.
// Authorization is left to Verify, which refuses a repeated one with the
// code AWS uses for it (AuthorizationHeaderMalformed).
var singleValuedHeaders = map[string]bool{
	"Content-Disposition": true, "Content-Length": true, "Content-Md5": true,
	"Content-Range": true, "Content-Type": true, "Date": true, "Expect": true, "Expires": true, "Host": true,
	"If-Modified-Since": true, "If-Unmodified-Since": true, "Range": true,
}

// listValuedAmzHeaders are the x-amz-* headers whose value is a
// comma-separated list, so that repeating one only extends the list
// (RFC 9110 §5.3). User metadata (x-amz-meta-*) is joined by S3 likewise.
var listValuedAmzHeaders = map[string]bool{
	"x-amz-grant-full-control": true, "x-amz-grant-read": true, "x-amz-grant-read-acp": true,
	"x-amz-grant-write": true, "x-amz-grant-write-acp": true,
	"x-amz-object-attributes": true, "x-amz-optional-object-attributes": true, "x-amz-trailer": true,
}

// CheckSingleValuedHeaders refuses a request that carries a single-valued
// header more than once: Content-Type, Content-Length, Content-MD5, Range,
// Date and the like, and every x-amz-* header except user metadata and the
// list-valued ones (grants, x-amz-trailer, x-amz-object-attributes). Which of
// two values counts is a matter of parser taste — photogate's checks might
// read one and the backend the other — so the request is refused before
// anything reads its headers.
//
// The answer is 400 InvalidArgument: HTTP allows repeated fields to be
// folded into one comma-joined value, and AWS answers InvalidArgument to a
// header whose value it cannot accept (x-amz-content-sha256,
// x-amz-metadata-directive, x-amz-tagging-directive…); InvalidRequest is
// what it uses for valid parameters that conflict with each other.
func CheckSingleValuedHeaders(h http.Header) error {
	var folded map[string]bool // canonical names of keys net/http did not canonicalize
	for k, vs := range h {
		if !isSingleValued(k) {
			continue
		}
		if len(vs) > 1 {
			return repeatedHeader(k)
		}
		if c := http.CanonicalHeaderKey(k); c != k {
			if _, dup := h[c]; dup || folded[c] {
				return repeatedHeader(c)
			}
			if folded == nil {
				folded = map[string]bool{}
			}
			folded[c] = true
		}
	}
	return nil
}

func isSingleValued(k string) bool {
	if hasAmzPrefix(k) {
		lower := strings.ToLower(k)
		return !strings.HasPrefix(lower, "x-amz-meta-") && !listValuedAmzHeaders[lower]
	}
	return singleValuedHeaders[http.CanonicalHeaderKey(k)]
}

func repeatedHeader(name string) error {
	return s3err.New(s3err.InvalidArgument, "The header "+name+" appears more than once; it takes a single value.")
}
