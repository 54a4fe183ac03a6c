package s3req

import (
	"strings"
	"testing"
)

// FuzzParseCopySource: a copy source either fails or names a valid target
// whose canonical spelling parses back to the same target.
func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"photos/a.jpg", "/photos/2024/a%20b.jpg?versionId=3", "bucket:photos/a", "photos//a", "/minio/admin/x", "photos/a?acl"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		src, err := ParseCopySource(v)
		if err != nil {
			return
		}
		again, err := ParseCopySource(src.Canonical())
		if err != nil || again != src {
			t.Fatalf("%q parsed as %+v, whose canonical form %q parses as %+v, %v", v, src, src.Canonical(), again, err)
		}
		if strings.Contains(src.Key, "//") || strings.HasPrefix(src.Key, "/") {
			t.Fatalf("key %q would be renamed by the backend", src.Key)
		}
	})
}

// FuzzStripAWSChunked: the result never lists aws-chunked, stripping it
// again changes nothing, and values without it come back as sent.
func FuzzStripAWSChunked(f *testing.F) {
	for _, s := range []string{"gzip", "deflate, gzip", "aws-chunked", "gzip,AWS-CHUNKED", " aws-chunked , br ,", ""} {
		f.Add(s, "")
	}
	f.Add("aws-chunked", "gzip")
	f.Fuzz(func(t *testing.T, a, b string) {
		values := []string{a, b}
		got := StripAWSChunked(values)
		if chunkedCoding([]string{got}) {
			t.Fatalf("StripAWSChunked(%q) = %q still lists aws-chunked", values, got)
		}
		if again := StripAWSChunked([]string{got}); again != got {
			t.Fatalf("StripAWSChunked(%q) = %q, and again %q", values, got, again)
		}
		if !chunkedCoding(values) && got != a+", "+b {
			t.Fatalf("StripAWSChunked(%q) = %q, want the values as sent", values, got)
		}
	})
}
