package s3req

import (
	"net/http"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

func TestParseCopySource(t *testing.T) {
	for in, want := range map[string]CopySource{
		"photos/a.jpg":               {VersionID: ""},
		"/photos/2024/a%20b.jpg":     {},
		"photos/a.jpg?versionId=v-1": {VersionID: "v-1"},
	} {
		got, err := ParseCopySource(in)
		if err != nil || got.Bucket != "photos" || got.VersionID != want.VersionID {
			t.Errorf("ParseCopySource(%q) = %+v, %v", in, got, err)
		}
	}
	if got, _ := ParseCopySource("/photos/2024/a%20b.jpg"); got.Key != "2024/a b.jpg" || got.Canonical() != "/photos/2024/a%20b.jpg" {
		t.Errorf("decoded %+v canonical %q", got, got.Canonical())
	}
	for _, bad := range []string{"photos", "photos/", "/minio/admin/v3/info", "photos/a?versionId=1&x=2", "photos/a?acl",
		"photos//a", "photos/../other/a", "photos/%zz", "bucket:photos/a"} {
		if _, err := ParseCopySource(bad); err == nil {
			t.Errorf("ParseCopySource(%q) accepted", bad)
		}
	}
}

func TestParseCopyRange(t *testing.T) {
	if a, b, err := ParseCopyRange("bytes=0-4095"); err != nil || a != 0 || b != 4095 {
		t.Fatalf("= %d %d %v", a, b, err)
	}
	for _, bad := range []string{"0-1", "bytes=5-1", "bytes=-1", "bytes=1-", "bytes=a-b", "bytes=0-1,2-3"} {
		if _, _, err := ParseCopyRange(bad); !s3err.Is(err, s3err.InvalidArgument) {
			t.Errorf("ParseCopyRange(%q) err = %v", bad, err)
		}
	}
}

func TestMetadataAndChunked(t *testing.T) {
	h := http.Header{"X-Amz-Meta-Camera": {"X100"}, "x-amz-meta-lens": {"23mm"}, "Content-Type": {"image/jpeg"}}
	if n := MetadataBytes(h); n != len("Camera")+4+len("Lens")+4 {
		t.Errorf("MetadataBytes = %d", n)
	}
	// As ceph/s3-tests' test_object_content_encoding_aws_chunked expects.
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"aws-chunked, gzip", "AWS-CHUNKED"}, "gzip"},
		{[]string{"gzip"}, "gzip"},
		{[]string{"deflate, gzip"}, "deflate, gzip"},
		{[]string{"deflate,gzip"}, "deflate,gzip"},
		{[]string{"deflate, aws-chunked,gzip"}, "deflate, gzip"},
		{[]string{"gzip, aws-chunked"}, "gzip"},
		{[]string{"aws-chunked"}, ""},
		{[]string{"aws-chunked, aws-chunked"}, ""},
		{nil, ""},
	} {
		if got := StripAWSChunked(tc.in); got != tc.want {
			t.Errorf("StripAWSChunked(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !IsAWSChunked(http.Header{"Content-Encoding": {"gzip,aws-chunked"}}) || IsAWSChunked(http.Header{"Content-Encoding": {"gzip"}}) {
		t.Error("IsAWSChunked")
	}
}
