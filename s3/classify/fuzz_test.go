package classify

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzResolveAndClassify: whatever a client sends as host, path and query,
// Resolve and Classify never panic, a resolved target is one the backend
// stores under exactly that name, and a classified operation is in the
// table.
func FuzzResolveAndClassify(f *testing.F) {
	for _, s := range []struct{ host, path, query, method string }{
		{"localhost:9080", "/photos/a.jpg", "", "PUT"},
		{"photos.s3.example.com", "/2024/a.jpg", "tagging", "PUT"},
		{"localhost", "/minio/admin/v3/export-iam", "", "GET"},
		{"localhost", "/photos//lead", "uploadId=x&partNumber=1", "PUT"},
		{"[::1]:9080", "/photos/../k", "versionId=1&response-content-type=text/html", "GET"},
		{"localhost", "/photos", "list-type=2&prefix=a", "GET"},
		{"localhost", "/photos", "", "POST"},
	} {
		f.Add(s.host, s.path, s.query, s.method)
	}
	f.Fuzz(func(t *testing.T, host, path, rawQuery, method string) {
		target, err := Resolve(host, path, []string{"s3.example.com"})
		if err != nil {
			return
		}
		if target.Bucket != "" && ValidBucket(target.Bucket) != nil {
			t.Fatalf("resolved an invalid bucket %q", target.Bucket)
		}
		if target.Key != "" {
			if ValidKey(target.Key) != nil || !utf8.ValidString(target.Key) || strings.HasPrefix(target.Key, "/") || strings.Contains(target.Key, "//") {
				t.Fatalf("resolved a key the backend would rename: %q", target.Key)
			}
		}
		if target.Bucket == "minio" {
			t.Fatal("resolved the backend's reserved prefix")
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		op, err := Classify(method, target.Bucket, target.Key, q, nil)
		if err != nil {
			return
		}
		if _, ok := operations[op]; !ok {
			t.Fatalf("classified %s %q %q as %q, which is not in the table", method, path, rawQuery, op)
		}
	})
}
