package gateway

import "testing"

func TestBackendHeaderForwarded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		value  string
		status int
		want   bool
	}{
		{"Etag", `"abc"`, 200, true},
		{"X-Amz-Version-Id", "v1", 200, true},
		{"X-Amz-Meta-Camera", "X100V", 200, true},
		{"X-Amz-Checksum-Crc64nvme", "AAAAAAAAAAA=", 200, true},
		{"X-Amz-Some-Backend-Internal", "x", 200, false}, // x-amz-* S3 does not define
		{"X-Amz-Request-Id", "backend's", 200, false},
		{"X-Amz-Id-2", "backend's", 200, false},
		{"X-Ratelimit-Limit", "6995", 200, false},
		{"Strict-Transport-Security", "max-age=31536000", 200, false},
		{"Server", "MinIO", 200, false},
		{"Date", "Wed, 02 Dec 2026 10:24:16 GMT", 200, false},
		{"Vary", "Origin", 200, false},
		{"Access-Control-Allow-Origin", "*", 200, false},
		{"Location", "/bucket", 200, true},
		{"Location", "http://127.0.0.1:9000/bucket", 200, false},
		{"Location", "//127.0.0.1:9000/bucket", 200, false},
		{"X-Minio-Error-Code", "NoSuchKey", 404, true},
		{"X-Minio-Error-Code", "NoSuchKey", 200, false},
		{"X-Minio-Error-Desc", "The specified key does not exist.", 404, true},
		{"X-Minio-Error-Desc", "drive /data/1: i/o error", 500, false},
		{"X-Minio-Internal-Foo", "x", 200, false},
	} {
		if got := backendHeaderForwarded(tc.name, []string{tc.value}, tc.status); got != tc.want {
			t.Errorf("%s: %q (status %d): forwarded %v, want %v", tc.name, tc.value, tc.status, got, tc.want)
		}
	}
}
