// Package s3req reads the request fields S3 defines that both the proxy and
// the embedded backend must understand the same way: the copy source and
// its range, the user-metadata size S3 limits, and the aws-chunked content
// coding. One reading of each, so the two cannot disagree.
package s3req

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

// CopySource is the object version an x-amz-copy-source header names.
type CopySource struct {
	classify.Target
	VersionID string // "" for the current version
}

// ParseCopySource parses x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, optionally followed by "?versionId=". The bucket and key
// must be valid as a request's would be (classify.Resolve).
func ParseCopySource(v string) (CopySource, error) {
	raw, query, _ := strings.Cut(v, "?")
	version := ""
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || len(q) != 1 || len(q["versionId"]) != 1 {
			return CopySource{}, s3err.New(s3err.InvalidArgument, "Invalid copy source: only ?versionId= may follow the key.")
		}
		version = q.Get("versionId")
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return CopySource{}, s3err.New(s3err.InvalidArgument, "Invalid copy source encoding.")
	}
	t, err := classify.Resolve("", "/"+strings.TrimPrefix(p, "/"), nil)
	if err != nil || t.Bucket == "" || t.Key == "" {
		return CopySource{}, s3err.New(s3err.InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return CopySource{Target: t, VersionID: version}, nil
}

// Canonical spells the source in one unambiguous form, so that a backend
// cannot read it differently from photogate (a "bucket:" prefix is a URL
// scheme to MinIO's parser, naming another bucket).
func (c CopySource) Canonical() string {
	v := s3utils.EncodePath("/" + c.Bucket + "/" + c.Key)
	if c.VersionID != "" {
		v += "?versionId=" + url.QueryEscape(c.VersionID)
	}
	return v
}

// ParseCopyRange parses x-amz-copy-source-range, which unlike Range must be
// "bytes=first-last".
func ParseCopyRange(v string) (first, last int64, err error) {
	bad := s3err.New(s3err.InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, bad
	}
	return first, last, nil
}

// MaxUserMetadata is S3's limit on user metadata, measured by
// MetadataBytes.
const MaxUserMetadata = 2 << 10

// MetadataBytes is the user-metadata size as S3 counts it against its 2 KB
// limit: the bytes of every x-amz-meta-* name (without the prefix) and value.
func MetadataBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		if name, ok := strings.CutPrefix(http.CanonicalHeaderKey(k), "X-Amz-Meta-"); ok {
			n += len(name)
			for _, v := range vs {
				n += len(v)
			}
		}
	}
	return n
}

// IsAWSChunked reports whether the request body uses aws-chunked framing.
func IsAWSChunked(h http.Header) bool {
	return strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") || chunkedCoding(h.Values("Content-Encoding"))
}

// chunkedCoding reports whether Content-Encoding values list aws-chunked.
func chunkedCoding(values []string) bool {
	for _, v := range values {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "aws-chunked") {
				return true
			}
		}
	}
	return false
}

// StripAWSChunked removes the aws-chunked coding from Content-Encoding
// values: it describes the client's transfer framing, which is decoded on
// arrival, not the object, so it is neither forwarded nor stored. Values
// without it are kept as sent ("deflate, gzip" stays so); the codings left
// after removing it are listed as S3 lists them, ", " apart.
func StripAWSChunked(values []string) string {
	if !chunkedCoding(values) {
		return strings.Join(values, ", ")
	}
	var keep []string
	for _, v := range values {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "aws-chunked") {
				keep = append(keep, tok)
			}
		}
	}
	return strings.Join(keep, ", ")
}
