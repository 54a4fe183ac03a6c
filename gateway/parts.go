package gateway

import (
	"strconv"
	"strings"
	"sync"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3xml"
)

// partVerdict is the type policy's judgement of one uploaded part's first
// bytes: refusal is nil when they are of an allowed type.
type partVerdict struct {
	target   classify.Target
	uploadID string
	part     int
	etag     string
	refusal  error
}

// maxTrackedUploads bounds the verdicts kept in memory. An upload whose
// verdicts were dropped cannot be completed into a typed bucket (it fails
// closed), so the bound is generous: each upload costs a few hundred bytes.
const maxTrackedUploads = 100_000

// partTypes remembers, per multipart upload into a bucket with
// allowed_types, the verdict on each part's first bytes, so that
// CompleteMultipartUpload can refuse an object that would begin with a part
// nobody judged or that was judged not allowed (a ZIP uploaded as part 2
// and completed as the only part).
//
// The verdicts live in this process: an upload started before a restart,
// or through another replica, cannot be completed into a typed bucket and
// must be uploaded again. That is the price of refusing rather than
// storing first and judging later.
type partTypes struct {
	mu      sync.Mutex
	uploads map[string]map[int]partVerdict // by upload id
	order   []string                       // upload ids, oldest first, for the bound
}

func newPartTypes() *partTypes {
	return &partTypes{uploads: map[string]map[int]partVerdict{}}
}

// record keeps v once the backend accepted the part under etag.
func (p *partTypes) record(v partVerdict, etag string) {
	v.etag = strings.Trim(etag, `"`)
	p.mu.Lock()
	defer p.mu.Unlock()
	parts, ok := p.uploads[v.uploadID]
	if !ok {
		for len(p.uploads) >= maxTrackedUploads && len(p.order) > 0 {
			delete(p.uploads, p.order[0])
			p.order = p.order[1:]
		}
		parts = map[int]partVerdict{}
		p.uploads[v.uploadID] = parts
		p.order = append(p.order, v.uploadID)
	}
	parts[v.part] = v
}

// forget drops an upload that was completed or aborted.
func (p *partTypes) forget(uploadID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.uploads[uploadID]; !ok {
		return
	}
	delete(p.uploads, uploadID)
	for i, id := range p.order {
		if id == uploadID {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// check answers whether a completion whose first listed part is first may
// proceed.
func (p *partTypes) check(t classify.Target, uploadID string, first s3xml.CompletedPart) error {
	p.mu.Lock()
	v, ok := p.uploads[uploadID][first.PartNumber]
	p.mu.Unlock()
	part := strconv.Itoa(first.PartNumber)
	switch {
	case !ok || v.target != t:
		return s3err.New(s3err.InvalidRequest, "The type of part "+part+" of this upload was not checked by this photogate "+
			"(it restarted, or the part went through another instance), and bucket "+t.Bucket+
			" accepts only allowed types: upload the parts again.")
	case v.etag != strings.Trim(first.ETag, `"`):
		return s3err.New(s3err.InvalidRequest, "Part "+part+" is not the part whose type was checked; upload it again.")
	}
	return v.refusal
}

// firstListedPart reads a CompleteMultipartUpload body (forwarding the same
// bytes afterwards) and returns the part the object will begin with.
func firstListedPart(body *uploadBody) (s3xml.CompletedPart, error) {
	raw, err := body.readAll(s3xml.MaxCompleteBytes)
	if err != nil {
		return s3xml.CompletedPart{}, err
	}
	parts, err := s3xml.ParseComplete(raw)
	if err != nil {
		return s3xml.CompletedPart{}, err
	}
	return parts[0], nil
}
