package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestPresignedURLs: photogate verifies a presigned URL itself and must
// strip its query parameters before forwarding, or MinIO would check them
// against its own keys and refuse.
func TestPresignedURLs(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		ctx := context.Background()
		s.bucket(t, "shared")
		c := s.client(t)
		data := harness.RandomBytes(70<<10 + 5)

		putURL, err := c.PresignedPutObject(ctx, "shared", "p.jpg", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPut, putURL.String(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("presigned PUT: %d %s", resp.StatusCode, s3Code(t, resp))
		}
		resp.Body.Close()
		if got, ok := s.stored(t, "shared", "p.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("the backend holds %d bytes, want the %d sent", len(got), len(data))
		}

		getURL, err := c.PresignedGetObject(ctx, "shared", "p.jpg", time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(getURL.String())
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(body))
		}

		tampered := *getURL
		q := tampered.Query()
		q.Set("X-Amz-Expires", "604800") // a longer life than was signed
		tampered.RawQuery = q.Encode()
		resp, err = http.Get(tampered.String())
		if err != nil {
			t.Fatal(err)
		}
		if code := s3Code(t, resp); resp.StatusCode != http.StatusForbidden || code != "SignatureDoesNotMatch" {
			t.Fatalf("presigned GET with a changed expiry: %d %s, want 403 SignatureDoesNotMatch", resp.StatusCode, code)
		}
	})
}

// TestPresignedGetWithChecksumMode: aws-sdk-go-v2's PresignGetObject puts
// X-Amz-Checksum-Mode=ENABLED in the URL's query; such a URL works (it was
// NotImplemented, an unknown sub-resource) and asks MinIO for the checksum.
func TestPresignedGetWithChecksumMode(t *testing.T) {
	s := newStack(t, minioKind, stackOptions{})
	s.bucket(t, "presignmode")
	ctx := context.Background()
	if _, err := s.client(t).PutObject(ctx, "presignmode", "k", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := s.client(t).PresignedGetObject(ctx, "presignmode", "k", time.Minute, url.Values{"X-Amz-Checksum-Mode": {"ENABLED"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("presigned GET with X-Amz-Checksum-Mode: %d %q", resp.StatusCode, body)
	}
}
