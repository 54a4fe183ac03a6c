package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// headerRecorder keeps the response headers of every request it carries.
type headerRecorder struct {
	mu        sync.Mutex
	responses []recordedResponse
}

type recordedResponse struct {
	what   string
	status int
	header http.Header
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		h.mu.Lock()
		h.responses = append(h.responses, recordedResponse{r.Method + " " + r.URL.RequestURI(), resp.StatusCode, resp.Header.Clone()})
		h.mu.Unlock()
	}
	return resp, err
}

// TestBackendResponseHeadersAreAllowListed: the client hears the headers S3
// defines and photogate's own, never the backend's (its rate-limit
// counters, HSTS, Server), whatever the operation and its outcome.
func TestBackendResponseHeadersAreAllowListed(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		ctx := context.Background()
		rec := &headerRecorder{}
		c, err := minio.New(strings.TrimPrefix(s.front.URL, "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(userKey, userSecret, ""), Region: "us-east-1", MaxRetries: 1, Transport: rec,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.MakeBucket(ctx, "headers", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		data := []byte("\xff\xd8\xff\xe0 not much of a photo")
		if _, err := c.PutObject(ctx, "headers", "a.jpg", bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "image/jpeg", UserMetadata: map[string]string{"camera": "X100V"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StatObject(ctx, "headers", "a.jpg", minio.StatObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		obj, err := c.GetObject(ctx, "headers", "a.jpg", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Stat(); err != nil {
			t.Fatal(err)
		}
		obj.Close()
		_, err = c.StatObject(ctx, "headers", "missing.jpg", minio.StatObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != "NoSuchKey" {
			t.Fatalf("HEAD of a missing key: %v (%s), want NoSuchKey", err, code)
		}
		if _, err := c.GetObject(ctx, "headers", "missing.jpg", minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		for o := range c.ListObjects(ctx, "headers", minio.ListObjectsOptions{}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		if err := c.RemoveObject(ctx, "headers", "a.jpg", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}

		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.responses) < 7 {
			t.Fatalf("recorded %d responses", len(rec.responses))
		}
		for _, r := range rec.responses {
			for name, values := range r.header {
				if !clientMayHear(name, values, r.status) {
					t.Errorf("%s (%d): header %s: %q reached the client", r.what, r.status, name, values)
				}
			}
			if got := r.header.Get("Server"); got != "photogate" {
				t.Errorf("%s: Server %q", r.what, got)
			}
			if got := r.header.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q, want nosniff", r.what, got)
			}
			if got := r.header.Values("Date"); len(got) != 1 {
				t.Errorf("%s: Date %q, want photogate's one", r.what, got)
			}
		}
	})
}

func clientMayHear(name string, values []string, status int) bool {
	switch name {
	case "Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Range", "Content-Type", "Date", "Etag", "Expires", "Last-Modified", "Server",
		"X-Content-Type-Options":
		return true
	case "Location":
		return len(values) == 1 && strings.HasPrefix(values[0], "/")
	case "X-Minio-Error-Code", "X-Minio-Error-Desc":
		return status >= 300
	}
	return strings.HasPrefix(name, "X-Amz-")
}

// TestBackendSendsHeadersOfItsOwn keeps the test above honest: MinIO's
// answers carry headers that must not reach photogate's clients.
func TestBackendSendsHeadersOfItsOwn(t *testing.T) {
	o := minioKind.start(t)
	resp, err := http.Get(o.endpoint + "/headers/a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, name := range []string{"X-Ratelimit-Limit", "Strict-Transport-Security", "X-Xss-Protection"} {
		if resp.Header.Get(name) == "" {
			t.Errorf("MinIO no longer sends %s; TestBackendResponseHeadersAreAllowListed may test nothing", name)
		}
	}
}
