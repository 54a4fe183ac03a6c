package e2e_test

import (
	"encoding/xml"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// TestRequestLog checks the per-request JSON log line against the
// responses it describes: request_id equals the x-amz-request-id the client
// got, and op, bucket, key, status, byte counts and body mode are right.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	tg.requireGateway(t)
	bucket := tg.makeBucket(t, "reqlog")
	body := harness.RandomBytes(1234)
	key := "log/photo.jpg"
	path := "/" + bucket + "/" + key

	logged := func(t *testing.T, resp harness.S3Response) harness.LogEntry {
		t.Helper()
		id := resp.Header.Get("X-Amz-Request-Id")
		if id == "" {
			t.Fatalf("response %d has no x-amz-request-id", resp.Status)
		}
		e, ok := tg.Gateway.LogFor(id, 5*time.Second)
		if !ok {
			t.Fatalf("no log line with request_id %s", id)
		}
		if e.Status != resp.Status || e.Bucket != bucket {
			t.Errorf("log line: status %d bucket %q, want %d %q: %s", e.Status, e.Bucket, resp.Status, bucket, e)
		}
		if e.DurationMS < 0 {
			t.Errorf("log line: negative duration_ms: %s", e)
		}
		return e
	}
	check := func(t *testing.T, e harness.LogEntry, op, key string, bytesIn, bytesOut int64, payload string) {
		t.Helper()
		if e.Op != op || e.Key != key || e.BytesIn != bytesIn || e.BytesOut != bytesOut || e.Payload != payload {
			t.Errorf("log line: op %q key %q bytes_in %d bytes_out %d payload %q; want %q %q %d %d %q\n%s",
				e.Op, e.Key, e.BytesIn, e.BytesOut, e.Payload, op, key, bytesIn, bytesOut, payload, e)
		}
	}

	resp := do(t, tg.signedRequest(t, http.MethodPut, path, "", body))
	if resp.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.Status, resp.Body)
	}
	check(t, logged(t, resp), "PutObject", key, int64(len(body)), 0, "signed")

	resp = do(t, tg.signedRequest(t, http.MethodGet, path, "", nil))
	check(t, logged(t, resp), "GetObject", key, 0, int64(len(body)), "signed")

	resp = do(t, tg.signedRequest(t, http.MethodHead, path, "", nil))
	check(t, logged(t, resp), "HeadObject", key, 0, 0, "signed")

	// Errors: the request id is in the header, the XML body and the log.
	resp = do(t, tg.signedRequest(t, http.MethodGet, "/"+bucket+"/log/missing.jpg", "", nil))
	if resp.Status != http.StatusNotFound || resp.Code != "NoSuchKey" {
		t.Errorf("GET missing key: %d %q, want 404 NoSuchKey", resp.Status, resp.Code)
	}
	var xe struct {
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(resp.Body, &xe); err != nil || xe.RequestID != resp.Header.Get("X-Amz-Request-Id") {
		t.Errorf("error body RequestId %q, header x-amz-request-id %q: want equal (%v)", xe.RequestID, resp.Header.Get("X-Amz-Request-Id"), err)
	}
	logged(t, resp)

	resp = do(t, tg.streamingSignedRequest(t, "/"+bucket+"/log/streamed.jpg", body))
	if e := logged(t, resp); e.Op != "PutObject" || e.Payload != "streaming-signed" {
		t.Errorf("streaming-signed PUT logged op %q payload %q, want PutObject streaming-signed: %s", e.Op, e.Payload, e)
	}

	resp = do(t, tg.unsignedTrailerRequest(t, "/"+bucket+"/log/trailer.jpg", body, crc32.ChecksumIEEE(body)))
	if e := logged(t, resp); e.Op != "PutObject" || e.Payload != "streaming-unsigned-trailer" || !strings.EqualFold(e.Checksum, "crc32") {
		t.Errorf("unsigned-trailer PUT logged op %q payload %q checksum %q, want PutObject streaming-unsigned-trailer crc32: %s",
			e.Op, e.Payload, e.Checksum, e)
	}

	resp = do(t, tg.signedRequest(t, http.MethodDelete, path, "", nil))
	check(t, logged(t, resp), "DeleteObject", key, 0, 0, "signed")
	if resp.Status != http.StatusNoContent {
		t.Errorf("DELETE: %d, want 204", resp.Status)
	}
}
