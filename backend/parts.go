package backend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3xml"
	"github.com/photogate/photogate/s3/sigv4"
)

// maxPartsPages bounds the listing: S3 allows 10000 parts, 1000 a page.
const maxPartsPages = 11

// UploadedSoFar asks the backend how many bytes a multipart upload's parts
// hold, leaving out part skip (which an UploadPart of that number replaces).
func (b *Backend) UploadedSoFar(ctx context.Context, t classify.Target, uploadID string, skip int) (int64, error) {
	ctx = observe.WithOperation(ctx, string(classify.ListParts))
	var total int64
	marker := ""
	for range maxPartsPages {
		q := url.Values{"uploadId": {uploadID}, "max-parts": {"1000"}}
		if marker != "" {
			q.Set("part-number-marker", marker)
		}
		path := "/" + t.Bucket + "/" + t.Key
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path, RawQuery: q.Encode()}, Header: http.Header{}}
		resp, err := b.Do(ctx, req, sigv4.EmptySHA256, nil, nil)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("list parts: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("list parts: backend answered %d", resp.StatusCode)
		}
		page, err := s3xml.ParseListParts(body)
		if err != nil {
			return 0, err
		}
		for _, p := range page.Parts {
			if p.PartNumber != skip {
				total += p.Size
			}
		}
		if !page.IsTruncated || page.NextPartNumberMarker == "" || page.NextPartNumberMarker == marker {
			return total, nil
		}
		marker = page.NextPartNumberMarker
	}
	return 0, fmt.Errorf("list parts: more than %d pages", maxPartsPages)
}
