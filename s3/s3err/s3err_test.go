package s3err

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTableStatuses(t *testing.T) {
	want := map[Code]int{
		AccessDenied: 403, SignatureDoesNotMatch: 403, InvalidAccessKeyID: 403,
		RequestTimeTooSkewed: 403, EntityTooLarge: 400, SlowDown: 503,
		ServiceUnavailable: 503, NotImplemented: 501, BadDigest: 400,
		MissingContentLength: 411, InvalidTag: 400, InternalError: 500, Code("Nope"): 500,
	}
	for c, status := range want {
		if got := c.Status(); got != status {
			t.Errorf("%s.Status() = %d, want %d", c, got, status)
		}
	}
	for c, e := range table {
		if e.message == "" || e.status < 400 {
			t.Errorf("%s: incomplete table entry %+v", c, e)
		}
	}
}

func TestWrite(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1:9000: connection refused")
	err := fmt.Errorf("put b/k: %w", &Error{Code: SlowDown, RetryAfter: 5, Cause: cause})
	rec := httptest.NewRecorder()
	Write(rec, err, "/b/k", "REQ1", "host1")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body struct {
		Code, Message, Resource, RequestId, HostId string
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Code != "SlowDown" || body.RequestId != "REQ1" || body.Resource != "/b/k" || body.Message == "" {
		t.Fatalf("body %+v", body)
	}
	if got := rec.Body.String(); strings.Contains(got, "10.0.0.1") || strings.Contains(got, "refused") {
		t.Fatalf("internal cause leaked to the client: %s", got)
	}
}

func TestFromWrapsUnknownAsInternal(t *testing.T) {
	if e := From(errors.New("boom")); e.Code != InternalError {
		t.Fatalf("got %s", e.Code)
	}
	if !Is(fmt.Errorf("x: %w", New(BadDigest, "")), BadDigest) {
		t.Fatal("Is does not see through wrapping")
	}
}
