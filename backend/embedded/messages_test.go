package embedded

import (
	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink the server's goroutines may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestErrorsHaveMessagesAndNotImplementedIsNotAnError: every error answer
// carries a <Message> (aws-cli prints "Unknown" without one), and a
// subresource the embedded backend lacks is the caller's question, not a
// server fault worth an ERROR line (photogate's own indexer asks for
// ?tagging after every upload).
func TestErrorsHaveMessagesAndNotImplementedIsNotAnError(t *testing.T) {
	var logs lockedBuffer
	b, err := start(t.Context(), Config{Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}, defaultTuning())
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
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("client-caused errors logged at ERROR:\n%s", logs.String())
	}
}
