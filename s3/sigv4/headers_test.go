package sigv4

import (
	"net/http"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

func TestCheckSingleValuedHeaders(t *testing.T) {
	single := []string{"Content-Type", "Content-Length", "Content-MD5", "Content-Disposition", "Range", "Date",
		"If-Modified-Since", "x-amz-copy-source", "x-amz-copy-source-range",
		"x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length", "x-amz-checksum-crc32",
		"x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm", "x-amz-tagging", "x-amz-metadata-directive",
		"x-amz-server-side-encryption", "x-amz-server-side-encryption-customer-key", "x-amz-storage-class",
		"x-amz-acl", "x-amz-security-token", "x-amz-website-redirect-location", "x-amz-some-future-header"}
	for _, name := range single {
		h := http.Header{}
		h.Add(name, "a")
		if err := CheckSingleValuedHeaders(h); err != nil {
			t.Errorf("%s once: %v", name, err)
		}
		h.Add(name, "a")
		if err := CheckSingleValuedHeaders(h); !s3err.Is(err, s3err.InvalidArgument) {
			t.Errorf("%s twice: %v, want InvalidArgument", name, err)
		}
		// A key net/http did not canonicalize must not slip past.
		h = http.Header{http.CanonicalHeaderKey(name): {"a"}, lowerASCII(name): {"b"}}
		if err := CheckSingleValuedHeaders(h); !s3err.Is(err, s3err.InvalidArgument) {
			t.Errorf("%s in two spellings: %v, want InvalidArgument", name, err)
		}
	}
	lists := http.Header{}
	for _, name := range []string{"X-Amz-Meta-Album", "X-Amz-Grant-Read", "X-Amz-Trailer", "X-Amz-Object-Attributes",
		"Accept", "Accept-Encoding", "If-None-Match", "If-Match", "Cache-Control", "X-Forwarded-For", "Via"} {
		lists.Add(name, "a")
		lists.Add(name, "b")
	}
	if err := CheckSingleValuedHeaders(lists); err != nil {
		t.Errorf("list-valued headers repeated: %v", err)
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
