// Package s3xml parses the few S3 XML documents photogate must understand
// to keep its index true: which keys a DeleteObjects request names and which
// it actually deleted, the tag set of PutObjectTagging, the ETag a copy or
// completed multipart upload wrote, and multipart part listings. Everything else
// passes through photogate as opaque bytes.
package s3xml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/photogate/photogate/s3/s3err"
)

// Limits S3 itself imposes; anything larger is refused before parsing.
const (
	MaxDeleteObjects   = 1000
	MaxDeleteBodyBytes = 2 << 20 // 1000 keys of 1024 bytes plus markup
	MaxTags            = 10
	MaxTaggingBytes    = 64 << 10
)

// ObjectID is one entry of a DeleteObjects request.
type ObjectID struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

type deleteRequest struct {
	XMLName xml.Name   `xml:"Delete"`
	Quiet   bool       `xml:"Quiet"`
	Objects []ObjectID `xml:"Object"`
}

// ParseDelete parses a DeleteObjects request body.
func ParseDelete(body []byte) ([]ObjectID, error) {
	var req deleteRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	switch {
	case len(req.Objects) == 0:
		return nil, s3err.New(s3err.MalformedXML, "The Delete request names no objects.")
	case len(req.Objects) > MaxDeleteObjects:
		return nil, s3err.New(s3err.MalformedXML, fmt.Sprintf("The Delete request names %d objects; at most %d are allowed.", len(req.Objects), MaxDeleteObjects))
	}
	for _, o := range req.Objects {
		if o.Key == "" || len(o.Key) > 1024 || !utf8.ValidString(o.Key) {
			return nil, s3err.New(s3err.MalformedXML, "Every Object in a Delete request needs a valid Key.")
		}
	}
	return req.Objects, nil
}

type deleteResult struct {
	Deleted []ObjectID `xml:"Deleted"`
	Errors  []ObjectID `xml:"Error"`
}

// DeleteFailures returns the objects a DeleteObjects response reports as
// not deleted. In quiet mode the response lists only failures, so the
// deleted set is always "requested minus failures".
func DeleteFailures(body []byte) ([]ObjectID, error) {
	var res deleteResult
	if err := xml.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("parse DeleteResult: %w", err)
	}
	return res.Errors, nil
}

type writeResult struct {
	ETag string `xml:"ETag"`
}

// WrittenETag returns the ETag a CopyObjectResult, CopyPartResult or
// CompleteMultipartUploadResult reports, without the quotes S3 puts around
// it: the index uses it to tell its own write from a concurrent one.
func WrittenETag(body []byte) (string, error) {
	var res writeResult
	if err := xml.Unmarshal(body, &res); err != nil {
		return "", fmt.Errorf("parse write result: %w", err)
	}
	etag := strings.Trim(res.ETag, `"`)
	if etag == "" {
		return "", errors.New("parse write result: no ETag")
	}
	return etag, nil
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Tags    []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"TagSet>Tag"`
}

// ParseTagging parses a PutObjectTagging body into a map, with S3's limits
// (10 tags, keys ≤ 128 and values ≤ 256 characters, no duplicate keys).
func ParseTagging(body []byte) (map[string]string, error) {
	var t tagging
	if err := decodeStrict(body, &t); err != nil {
		return nil, err
	}
	if len(t.Tags) > MaxTags {
		return nil, s3err.New(s3err.InvalidArgument, "Object tags cannot be greater than 10")
	}
	tags := make(map[string]string, len(t.Tags))
	for _, tag := range t.Tags {
		switch {
		case tag.Key == "" || utf8.RuneCountInString(tag.Key) > 128:
			return nil, s3err.New(s3err.InvalidArgument, "The TagKey you have provided is invalid")
		case utf8.RuneCountInString(tag.Value) > 256:
			return nil, s3err.New(s3err.InvalidArgument, "The TagValue you have provided is invalid")
		}
		if _, dup := tags[tag.Key]; dup {
			return nil, s3err.New(s3err.InvalidArgument, "Cannot provide multiple Tags with the same key")
		}
		tags[tag.Key] = tag.Value
	}
	return tags, nil
}

// decodeStrict decodes exactly one XML document into v: trailing garbage
// after the root element is malformed, as S3 treats it.
func decodeStrict(body []byte, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return s3err.Wrap(s3err.MalformedXML, "", err)
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s3err.Wrap(s3err.MalformedXML, "", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return s3err.New(s3err.MalformedXML, "")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return s3err.New(s3err.MalformedXML, "")
		}
	}
}

// PartsPage is one page of a ListParts answer, as far as sizes go.
type PartsPage struct {
	Parts []struct {
		PartNumber int   `xml:"PartNumber"`
		Size       int64 `xml:"Size"`
	} `xml:"Part"`
	IsTruncated          bool   `xml:"IsTruncated"`
	NextPartNumberMarker string `xml:"NextPartNumberMarker"`
}

// ParseListParts parses a ListPartsResult from the backend.
func ParseListParts(body []byte) (PartsPage, error) {
	var p PartsPage
	if err := xml.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("parse ListPartsResult: %w", err)
	}
	return p, nil
}
