package gateway

import (
	"errors"
	"strconv"
	"testing"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3xml"
)

func TestPartTypesCompletion(t *testing.T) {
	p := newPartTypes()
	target := classify.Target{Bucket: "photos", Key: "a.jpg"}
	zip := s3err.New(s3err.InvalidArgument, "application/zip is not allowed")
	p.record(partVerdict{target: target, uploadID: "u1", part: 1}, `"e1"`)
	p.record(partVerdict{target: target, uploadID: "u1", part: 2, refusal: zip}, `"e2"`)

	if err := p.check(target, "u1", s3xml.CompletedPart{PartNumber: 1, ETag: `"e1"`}); err != nil {
		t.Errorf("an allowed first part was refused: %v", err)
	}
	if err := p.check(target, "u1", s3xml.CompletedPart{PartNumber: 2, ETag: "e2"}); !errors.Is(err, zip) {
		t.Errorf("completing with only the ZIP part: err = %v, want the type refusal", err)
	}
	if err := p.check(target, "u1", s3xml.CompletedPart{PartNumber: 1, ETag: "other"}); !s3err.Is(err, s3err.InvalidRequest) {
		t.Errorf("a part re-uploaded without a verdict: err = %v, want InvalidRequest", err)
	}
	if err := p.check(target, "u1", s3xml.CompletedPart{PartNumber: 3, ETag: "e3"}); !s3err.Is(err, s3err.InvalidRequest) {
		t.Errorf("an unjudged part: err = %v, want InvalidRequest", err)
	}
	other := classify.Target{Bucket: "photos", Key: "b.jpg"}
	if err := p.check(other, "u1", s3xml.CompletedPart{PartNumber: 1, ETag: "e1"}); !s3err.Is(err, s3err.InvalidRequest) {
		t.Errorf("another key's upload id: err = %v, want InvalidRequest", err)
	}
	p.forget("u1")
	if err := p.check(target, "u1", s3xml.CompletedPart{PartNumber: 1, ETag: "e1"}); !s3err.Is(err, s3err.InvalidRequest) {
		t.Errorf("after forget: err = %v, want InvalidRequest", err)
	}
}

func TestPartTypesBound(t *testing.T) {
	p := newPartTypes()
	target := classify.Target{Bucket: "photos", Key: "k"}
	for i := range maxTrackedUploads + 10 {
		p.record(partVerdict{target: target, uploadID: strconv.Itoa(i), part: 1}, "e")
	}
	if n := len(p.uploads); n != maxTrackedUploads {
		t.Fatalf("tracked %d uploads, want the bound %d", n, maxTrackedUploads)
	}
	if _, ok := p.uploads["0"]; ok {
		t.Error("the oldest upload was kept past the bound")
	}
	if err := p.check(target, strconv.Itoa(maxTrackedUploads+9), s3xml.CompletedPart{PartNumber: 1, ETag: "e"}); err != nil {
		t.Errorf("the newest upload: %v", err)
	}
}
