package harness

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestMinIORestart checks the lifecycle the circuit-breaker tests rely on:
// data and address survive Stop and Start.
func TestMinIORestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO: skipped with -short")
	}
	Require(t, "minio")
	m := StartMinIO(t)
	ctx := t.Context()
	c := m.Client()
	if err := c.MakeBucket(ctx, "restart", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := RandomBytes(1000)
	if _, err := c.PutObject(ctx, "restart", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(m.Endpoint() + "/minio/health/live"); err == nil {
		t.Fatal("MinIO still answers after Stop")
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "restart", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, _, err := SHA256Reader(obj)
	if err != nil {
		t.Fatal(err)
	}
	if sum != SHA256Hex(body) {
		t.Fatal("object changed across restart")
	}
}

func TestParseLogLine(t *testing.T) {
	line := `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"request","request_id":"r1","op":"PutObject","bucket":"b","key":"k/1.jpg","status":200,"bytes_in":"12","bytes_out":0,"duration_ms":1.5,"payload":"signed","checksum":"crc32"}`
	e, ok := parseLogLine([]byte(line))
	if !ok {
		t.Fatal("not parsed")
	}
	want := LogEntry{Time: "2026-01-01T00:00:00Z", Level: "INFO", Msg: "request", RequestID: "r1", Op: "PutObject",
		Bucket: "b", Key: "k/1.jpg", Status: 200, BytesIn: 12, DurationMS: 1.5, Payload: "signed", Checksum: "crc32"}
	if e.Fields["op"] != "PutObject" {
		t.Errorf("Fields not kept: %v", e.Fields)
	}
	e.Fields = nil
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	if _, ok := parseLogLine([]byte("WARNING: DATA RACE")); ok {
		t.Fatal("non-JSON line parsed")
	}
}

func TestPayloadMode(t *testing.T) {
	for v, want := range map[string]string{
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD":         "streaming-signed",
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": "streaming-signed-trailer",
		"STREAMING-UNSIGNED-PAYLOAD-TRAILER":         "streaming-unsigned-trailer",
		"UNSIGNED-PAYLOAD":                           "unsigned",
		SHA256Hex(nil):                               "signed",
	} {
		h := http.Header{}
		h.Set("X-Amz-Content-Sha256", v)
		if got := PayloadMode(h); got != want {
			t.Errorf("PayloadMode(%s) = %s, want %s", v, got, want)
		}
	}
	h := http.Header{}
	h.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	if got := ChecksumAlgorithm(h); got != "crc32c" {
		t.Errorf("trailer checksum = %q", got)
	}
	h = http.Header{}
	h.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	h.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
	if got := ChecksumAlgorithm(h); got != "crc32" {
		t.Errorf("header checksum = %q", got)
	}
}
