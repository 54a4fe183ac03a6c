package backend

import (
	"context"
	"fmt"
	"net/url"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3xml"
)

// maxPartsPages bounds the listing: S3 allows 10000 parts, 1000 a page.
const maxPartsPages = 11

// UploadedSoFar asks the backend how many bytes a multipart upload's parts
// hold, leaving out part skip (which an UploadPart of that number replaces).
func (b *Backend) UploadedSoFar(ctx context.Context, t classify.Target, uploadID string, skip int) (int64, error) {
	var total int64
	marker := ""
	for range maxPartsPages {
		q := url.Values{"uploadId": {uploadID}, "max-parts": {"1000"}}
		if marker != "" {
			q.Set("part-number-marker", marker)
		}
		body, err := b.document(ctx, classify.ListParts, objectPath(t.Bucket, t.Key), q)
		if err != nil {
			return 0, fmt.Errorf("list parts: %w", err)
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
