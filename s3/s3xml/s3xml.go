// Package s3xml parses the few S3 XML documents photogate must understand
// to keep its index true: which keys a DeleteObjects request names and which
// it actually deleted, the tag set of PutObjectTagging, the ETag a copy or
// completed multipart upload wrote, and multipart part listings. Everything else
// passes through photogate as opaque bytes.
//
// Every document is parsed as a bounded token stream (see walk): bodies
// come from unauthenticated-sized input and a parser's memory must not grow
// with how hostile they are. Request documents are read against an
// allow-list of the elements S3 defines; a singular element given twice is
// MalformedXML, since the backend might read the other one.
package s3xml

import (
	"fmt"
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
	MaxTagKeyChars     = 128
	MaxTagValueChars   = 256
	maxKeyBytes        = 1024
)

var (
	// A Delete holds at most Quiet and MaxDeleteObjects Objects of Key and
	// VersionId.
	deleteLimits = limits{maxBytes: MaxDeleteBodyBytes, maxElements: 2 + 3*MaxDeleteObjects, maxDepth: maxDepth}
	// Room for a few more than MaxTags tags, so that too many tags is
	// reported as such rather than as malformed XML.
	taggingLimits = limits{maxBytes: MaxTaggingBytes, maxElements: 256, maxDepth: maxDepth}
)

// ObjectID is one entry of a DeleteObjects request.
type ObjectID struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

// ParseDelete parses a DeleteObjects request body.
func ParseDelete(body []byte) ([]ObjectID, error) {
	var objs []ObjectID
	var quiet, key, version bool
	err := walk(body, deleteLimits, visitor{
		start: func(path []string) error {
			switch {
			case pathIs(path, "Delete"):
			case pathIs(path, "Delete", "Quiet"):
				return once(&quiet, "Quiet")
			case pathIs(path, "Delete", "Object"):
				if len(objs) == MaxDeleteObjects {
					return s3err.New(s3err.MalformedXML, fmt.Sprintf("The Delete request names more than %d objects.", MaxDeleteObjects))
				}
				objs = append(objs, ObjectID{})
				key, version = false, false
			case pathIs(path, "Delete", "Object", "Key"):
				return once(&key, "Key")
			case pathIs(path, "Delete", "Object", "VersionId"):
				return once(&version, "VersionId")
			default:
				return unexpected(path)
			}
			return nil
		},
		end: func(path []string, text string) error {
			switch {
			case pathIs(path, "Delete", "Quiet"):
				if _, err := parseXMLBool(text); err != nil {
					return s3err.Wrap(s3err.MalformedXML, "Quiet must be true or false.", err)
				}
			case pathIs(path, "Delete", "Object", "Key"):
				objs[len(objs)-1].Key = text
			case pathIs(path, "Delete", "Object", "VersionId"):
				objs[len(objs)-1].VersionID = text
			case pathIs(path, "Delete", "Object"):
				if k := objs[len(objs)-1].Key; k == "" || len(k) > maxKeyBytes || !utf8.ValidString(k) {
					return s3err.New(s3err.MalformedXML, "Every Object in a Delete request needs a valid Key.")
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, s3err.New(s3err.MalformedXML, "The Delete request names no objects.")
	}
	return objs, nil
}

// ParseTagging parses a PutObjectTagging body into a map, with S3's limits
// (10 tags, keys ≤ 128 and values ≤ 256 characters, no duplicate keys).
func ParseTagging(body []byte) (map[string]string, error) {
	tags := make(map[string]string, MaxTags)
	var tagSet, hasKey, hasValue bool
	var key, value string
	err := walk(body, taggingLimits, visitor{
		start: func(path []string) error {
			switch {
			case pathIs(path, "Tagging"):
			case pathIs(path, "Tagging", "TagSet"):
				return once(&tagSet, "TagSet")
			case pathIs(path, "Tagging", "TagSet", "Tag"):
				if len(tags) == MaxTags {
					return s3err.New(s3err.InvalidTag, "Object tags cannot be greater than 10.")
				}
				hasKey, hasValue, key, value = false, false, "", ""
			case pathIs(path, "Tagging", "TagSet", "Tag", "Key"):
				return once(&hasKey, "Key")
			case pathIs(path, "Tagging", "TagSet", "Tag", "Value"):
				return once(&hasValue, "Value")
			default:
				return unexpected(path)
			}
			return nil
		},
		end: func(path []string, text string) error {
			switch {
			case pathIs(path, "Tagging", "TagSet", "Tag", "Key"):
				key = text
			case pathIs(path, "Tagging", "TagSet", "Tag", "Value"):
				value = text
			case pathIs(path, "Tagging", "TagSet", "Tag"):
				return addTag(tags, key, value)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if !tagSet {
		return nil, s3err.New(s3err.MalformedXML, "Tagging needs a TagSet.")
	}
	return tags, nil
}

func addTag(tags map[string]string, key, value string) error {
	switch {
	case key == "" || utf8.RuneCountInString(key) > MaxTagKeyChars || !utf8.ValidString(key):
		return s3err.New(s3err.InvalidTag, "The TagKey you have provided is invalid")
	case utf8.RuneCountInString(value) > MaxTagValueChars || !utf8.ValidString(value):
		return s3err.New(s3err.InvalidTag, "The TagValue you have provided is invalid")
	}
	if _, dup := tags[key]; dup {
		return s3err.New(s3err.InvalidTag, "Cannot provide multiple Tags with the same key")
	}
	tags[key] = value
	return nil
}

func unexpected(path []string) error {
	return s3err.New(s3err.MalformedXML, "Unexpected element "+strings.Join(path, ">")+".")
}

// DeleteFailures returns the objects a DeleteObjects response reports as
// not deleted. In quiet mode the response lists only failures, so the
// deleted set is always "requested minus failures".
func DeleteFailures(body []byte) ([]ObjectID, error) {
	var failed []ObjectID
	var key, version bool
	err := walk(body, responseLimits, visitor{
		start: func(path []string) error {
			switch {
			case path[0] != "DeleteResult":
				return unexpected(path)
			case pathIs(path, "DeleteResult", "Error"):
				failed = append(failed, ObjectID{})
				key, version = false, false
			case pathIs(path, "DeleteResult", "Error", "Key"):
				return once(&key, "Key")
			case pathIs(path, "DeleteResult", "Error", "VersionId"):
				return once(&version, "VersionId")
			}
			return nil
		},
		end: func(path []string, text string) error {
			switch {
			case pathIs(path, "DeleteResult", "Error", "Key"):
				failed[len(failed)-1].Key = text
			case pathIs(path, "DeleteResult", "Error", "VersionId"):
				failed[len(failed)-1].VersionID = text
			}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("parse DeleteResult: %w", err)
	}
	return failed, nil
}

// WrittenETag returns the ETag a CopyObjectResult, CopyPartResult or
// CompleteMultipartUploadResult reports, without the quotes S3 puts around
// it: the index uses it to tell its own write from a concurrent one.
func WrittenETag(body []byte) (string, error) {
	var etag string
	var seen bool
	err := walk(body, responseLimits, visitor{
		start: func(path []string) error {
			switch path[0] {
			case "CopyObjectResult", "CopyPartResult", "CompleteMultipartUploadResult":
			default:
				return unexpected(path)
			}
			if len(path) == 2 && path[1] == "ETag" {
				return once(&seen, "ETag")
			}
			return nil
		},
		end: func(path []string, text string) error {
			if len(path) == 2 && path[1] == "ETag" {
				etag = strings.Trim(text, `"`)
			}
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("parse write result: %w", err)
	}
	if etag == "" {
		return "", fmt.Errorf("parse write result: no ETag")
	}
	return etag, nil
}

// Part is one part of a ListParts answer, as far as sizes go.
type Part struct {
	PartNumber int
	Size       int64
}

// PartsPage is one page of a ListParts answer, as far as sizes go.
type PartsPage struct {
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker string
}

// ParseListParts parses a ListPartsResult from the backend.
func ParseListParts(body []byte) (PartsPage, error) {
	var p PartsPage
	var number, size, truncated, marker bool
	err := walk(body, responseLimits, visitor{
		start: func(path []string) error {
			switch {
			case path[0] != "ListPartsResult":
				return unexpected(path)
			case pathIs(path, "ListPartsResult", "Part"):
				p.Parts = append(p.Parts, Part{})
				number, size = false, false
			case pathIs(path, "ListPartsResult", "Part", "PartNumber"):
				return once(&number, "PartNumber")
			case pathIs(path, "ListPartsResult", "Part", "Size"):
				return once(&size, "Size")
			case pathIs(path, "ListPartsResult", "IsTruncated"):
				return once(&truncated, "IsTruncated")
			case pathIs(path, "ListPartsResult", "NextPartNumberMarker"):
				return once(&marker, "NextPartNumberMarker")
			}
			return nil
		},
		end: func(path []string, text string) (err error) {
			switch {
			case pathIs(path, "ListPartsResult", "Part", "PartNumber"):
				var n int64
				n, err = parseXMLInt(text)
				p.Parts[len(p.Parts)-1].PartNumber = int(n)
			case pathIs(path, "ListPartsResult", "Part", "Size"):
				p.Parts[len(p.Parts)-1].Size, err = parseXMLInt(text)
			case pathIs(path, "ListPartsResult", "IsTruncated"):
				p.IsTruncated, err = parseXMLBool(text)
			case pathIs(path, "ListPartsResult", "NextPartNumberMarker"):
				p.NextPartNumberMarker = text
			}
			if err != nil {
				return fmt.Errorf("%s: %w", strings.Join(path, ">"), err)
			}
			return nil
		},
	})
	if err != nil {
		return PartsPage{}, fmt.Errorf("parse ListPartsResult: %w", err)
	}
	return p, nil
}
