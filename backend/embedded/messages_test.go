package embedded

import (
	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// errorLogFails fails the test on every line the server logs at ERROR.
type errorLogFails struct{ t *testing.T }

func (w errorLogFails) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("level=ERROR")) {
		w.t.Errorf("a client-caused error was logged at ERROR: %s", p)
	}
	return len(p), nil
}

// TestErrorsHaveMessagesAndNotImplementedIsNotAnError: every error answer
// carries a <Message> (aws-cli prints "Unknown" without one), and a
// subresource the embedded backend lacks is the caller's question, not a
// server fault worth an ERROR line (photogate's own indexer asks for
// ?tagging after every upload).
func TestErrorsHaveMessagesAndNotImplementedIsNotAnError(t *testing.T) {
	b, err := start(t.Context(), Config{Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(errorLogFails{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}, defaultTuning())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	do := func(method, path, body string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, b.Endpoint()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Code, Message string }
		_ = xml.Unmarshal(raw, &e)
		return resp.StatusCode, e.Code, e.Message
	}
	do(http.MethodPut, "/"+testBucket, "")
	do(http.MethodPut, "/"+testBucket+"/k", "hi")
	for _, tc := range []struct {
		method, path, code string
		status             int
	}{
		{http.MethodDelete, "/" + testBucket, "BucketNotEmpty", http.StatusConflict},
		{http.MethodPut, "/" + testBucket, "BucketAlreadyExists", http.StatusConflict},
		{http.MethodGet, "/" + testBucket + "/k?tagging", "NotImplemented", http.StatusNotImplemented},
		{http.MethodGet, "/nosuchbucket/k", "NoSuchBucket", http.StatusNotFound},
	} {
		status, code, msg := do(tc.method, tc.path, "")
		if status != tc.status || code != tc.code || msg == "" || msg == code {
			t.Errorf("%s %s = %d %s %q, want %d %s with a message", tc.method, tc.path, status, code, msg, tc.status, tc.code)
		}
	}
}
