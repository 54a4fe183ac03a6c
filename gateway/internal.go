package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/photogate/photogate/s3/s3err"
)

// internalBucketError answers any S3 request that names one of photogate's
// own buckets: they hold what photogate derives from callers' photos, and
// the API serves them with its own checks.
func internalBucketError() error {
	return s3err.New(s3err.AccessDenied, "Access Denied. This bucket is photogate's own.")
}

// maxBucketList bounds a ListBuckets answer read to filter it: MinIO lists
// every bucket in one answer, about 120 bytes each.
const maxBucketList = 16 << 20

// hideInternalBuckets wraps respond so that a successful ListBuckets answer
// leaves out the internal buckets.
func (s *Server) hideInternalBuckets(respond respondFunc) respondFunc {
	return func(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte) error {
		if raw != nil || resp.StatusCode != http.StatusOK || r.Method == http.MethodHead {
			return respond(w, r, resp, raw)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBucketList+1))
		if err != nil {
			return fmt.Errorf("reading the bucket list: %w", err)
		}
		if len(b) > maxBucketList {
			return s3err.New(s3err.InternalError, "The bucket list is too long to filter.")
		}
		return respond(w, r, resp, withoutBuckets(b, s.internal))
	}
}

// withoutBuckets removes each <Bucket>...</Bucket> element whose <Name> is
// in hide from a ListAllMyBucketsResult.
func withoutBuckets(doc []byte, hide map[string]bool) []byte {
	open, end := []byte("<Bucket>"), []byte("</Bucket>")
	out := make([]byte, 0, len(doc))
	for {
		i := bytes.Index(doc, open)
		if i < 0 {
			return append(out, doc...)
		}
		j := bytes.Index(doc[i:], end)
		if j < 0 {
			return append(out, doc...)
		}
		element := doc[i : i+j+len(end)]
		out = append(out, doc[:i]...)
		if !hide[elementText(element, "Name")] {
			out = append(out, element...)
		}
		doc = doc[i+j+len(end):]
	}
}
