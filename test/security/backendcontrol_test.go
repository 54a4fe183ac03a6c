package security_test

import (
	"archive/tar"
	"bytes"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// MinIO unpacks a PUT whose metadata says x-amz-meta-snowball-auto-extract:
// true as a tar archive, into objects the archive names: keys the caller
// has no grant for, of types the policy refuses, never indexed, and with
// the body's Content-MD5 checked only after the entries are stored.
// photogate must refuse such metadata, and MinIO must hold nothing of it.
func TestSnowballExtractionNeverReachesTheBackend(t *testing.T) {
	e := start(t, "")
	b := harness.BucketName("snowball")
	makeBuckets(t, minio.MakeBucketOptions{}, b)

	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	page := []byte("<html><script>alert(document.domain)</script></html>")
	if err := tw.WriteHeader(&tar.Header{Name: "evil.html", Mode: 0o644, Size: int64(len(page))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(page); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	for _, h := range []http.Header{
		{"X-Amz-Meta-Snowball-Auto-Extract": {"true"}},
		{"X-Amz-Meta-Snowball-Auto-Extract": {"true"}, "X-Amz-Meta-Minio-Snowball-Prefix": {"elsewhere"}},
		{"X-Amz-Meta-Snowball-Auto-Extract": {"true"}, "Content-Md5": {"AAAAAAAAAAAAAAAAAAAAAA=="}},
		{"X-Amz-Meta-Minio-Object-Perf": {"true"}},
	} {
		req := newRequest(t, http.MethodPut, e.url("/"+b+"/photos/archive.jpg"), archive.Bytes())
		for k, v := range h {
			req.Header[k] = v
		}
		req = harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(archive.Bytes()))
		wantError(t, "PutObject with "+formatHeader(h), send(t, req), http.StatusNotImplemented, "NotImplemented")
		for _, key := range []string{"evil.html", "elsewhere/evil.html", "photos/archive.jpg"} {
			assertAbsent(t, b, key)
		}
	}

	// A multipart upload declares its metadata when it is created.
	req := newRequest(t, http.MethodPost, e.url("/"+b+"/photos/archive.jpg?uploads"), nil)
	req.Header.Set("X-Amz-Meta-Snowball-Auto-Extract", "true")
	req = harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(nil))
	wantError(t, "CreateMultipartUpload with snowball metadata", send(t, req), http.StatusNotImplemented, "NotImplemented")
	if n, _ := storedBytes(t, b); n != 0 {
		t.Errorf("MinIO holds %d objects in %s, want none", n, b)
	}
}

func formatHeader(h http.Header) string {
	var buf bytes.Buffer
	_ = h.Write(&buf)
	return buf.String()
}
