package policy

import (
	"fmt"
	"mime"
	"strings"

	"github.com/photogate/photogate/mediatype"
	"github.com/photogate/photogate/s3/s3err"
)

// CheckType applies the bucket's allowed_types to the first bytes of an
// upload's body (512 or more; part 1 of a multipart upload). The type is
// detected from magic bytes, not taken from the client, so a ZIP named
// photo.jpg and declared image/jpeg is still a ZIP. A refusal is
// InvalidArgument (400) naming the detected type. An empty body is always
// allowed: zero-byte "folder" markers are common and carry nothing.
func (c *Caller) CheckType(bucket string, head []byte) error {
	r := c.engine.rule(bucket)
	if len(r.allowedTypes) == 0 || len(head) == 0 {
		return nil
	}
	t := mediatype.Sniff(head)
	if typeAllowed(r.allowedTypes, t) {
		return nil
	}
	c.h.refused(ReasonType, c.Name())
	return s3err.New(s3err.InvalidArgument, fmt.Sprintf("content type %s is not allowed in bucket %s (allowed: %s)",
		t, bucket, strings.Join(r.allowedTypes, ", ")))
}

// CheckDeclaredType applies allowed_types to the Content-Type the client
// declared, so an upload that says it is text/html is refused before its
// body is read, and a polyglot (JPEG magic, HTML inside) cannot be stored
// with a type a browser would render. Generic declarations (none,
// application/octet-stream, binary/octet-stream) are what SDKs send when
// they do not know, and are left to CheckType.
func (c *Caller) CheckDeclaredType(bucket, contentType string) error {
	r := c.engine.rule(bucket)
	if len(r.allowedTypes) == 0 {
		return nil
	}
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		t, _, _ = strings.Cut(contentType, ";")
	}
	t = strings.ToLower(strings.TrimSpace(t))
	switch t {
	case "", "application/octet-stream", "binary/octet-stream":
		return nil
	}
	if typeAllowed(r.allowedTypes, t) {
		return nil
	}
	c.h.refused(ReasonType, c.Name())
	return s3err.New(s3err.InvalidArgument, fmt.Sprintf("declared content type %s is not allowed in bucket %s (allowed: %s)",
		t, bucket, strings.Join(r.allowedTypes, ", ")))
}

// typeAllowed matches t against allowed entries: exact, type/* or */*.
// SVG is a document that can run scripts in a browser, so only an entry
// naming image/svg+xml itself (or */*) allows it, not image/*.
func typeAllowed(allowed []string, t string) bool {
	typ, _, _ := strings.Cut(t, "/")
	for _, a := range allowed {
		switch {
		case a == t, a == "*/*":
			return true
		case strings.HasSuffix(a, "/*") && strings.TrimSuffix(a, "/*") == typ && t != mediatype.SVG:
			return true
		}
	}
	return false
}

// TypesRestricted reports whether bucket has allowed_types, so the gateway
// peeks at a body's first bytes (for CheckType) only where it matters.
func (c *Caller) TypesRestricted(bucket string) bool {
	return len(c.engine.rule(bucket).allowedTypes) > 0
}
