package e2e_test

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// insecureWarning is the start of what photogate logs when it is told not
// to verify the backend's certificate.
const insecureWarning = "backend TLS certificate verification is OFF"

// TestBackendTLS runs MinIO with its own certificate (--certs-dir, from a
// test CA) and photogate in front of it, three ways, side by side:
//
//   - trusting the CA through PHOTOGATE_BACKEND_CA: objects round-trip,
//     byte for byte, with photogate itself serving HTTPS too;
//   - with neither the CA nor insecure-skip-verify: /readyz reports the
//     backend check failing on the certificate, and every S3 request gets
//     503, never a silent success;
//   - with PHOTOGATE_BACKEND_INSECURE_SKIP_VERIFY=true: it works, and
//     photogate warns on stderr that verification is off.
func TestBackendTLS(t *testing.T) {
	t.Parallel()
	getTarget(t).requireGateway(t)
	m := harness.StartMinIOTLS(t)
	if !strings.HasPrefix(m.Endpoint(), "https://") {
		t.Fatalf("MinIO endpoint %s, want https", m.Endpoint())
	}

	t.Run("backend-ca", func(t *testing.T) {
		t.Parallel()
		g := harness.StartGateway(t, harness.GatewayOptions{
			Binary: shared.binary, Backend: m, TLS: true,
			Env: []string{"PHOTOGATE_BACKEND_CA=" + m.CAFile()},
		})
		tg := gatewayTarget(g, m)
		checkReady(t, g, http.StatusOK, "")
		backendRoundTrip(t, tg, "backend-ca")
		if strings.Contains(g.Stderr(), insecureWarning) {
			t.Errorf("photogate warns %q although verification is on", insecureWarning)
		}
	})

	t.Run("no-ca", func(t *testing.T) {
		t.Parallel()
		g := harness.StartGateway(t, harness.GatewayOptions{Binary: shared.binary, Backend: m})
		tg := gatewayTarget(g, m)
		// The bucket and an object exist in MinIO, so that a gateway that
		// reached it after all would have something to answer and
		// somewhere to write.
		ctx := t.Context()
		bucket := harness.BucketName("backend-noca")
		tg.dumpLogsOnFailure(t, bucket)
		if err := m.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
			t.Fatal(err)
		}
		body := harness.RandomBytes(100_000)
		if _, err := m.Client().PutObject(ctx, bucket, "exists.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}

		// First, before any S3 request can trip the circuit breaker: the
		// readiness check must fail, and say that it is the certificate.
		checkReady(t, g, http.StatusServiceUnavailable, "certificate")

		for _, r := range []struct {
			name string
			req  *http.Request
		}{
			{"ListBuckets", tg.signedRequest(t, http.MethodGet, "/", "", nil)},
			{"HeadBucket", tg.signedRequest(t, http.MethodHead, "/"+bucket, "", nil)},
			{"GetObject", tg.signedRequest(t, http.MethodGet, "/"+bucket+"/exists.jpg", "", nil)},
			{"PutObject", tg.signedRequest(t, http.MethodPut, "/"+bucket+"/new.jpg", "", body)},
			{"PutObject unsigned-trailer", tg.unsignedTrailerRequest(t, "/"+bucket+"/trailer.jpg", body, crc32.ChecksumIEEE(body))},
		} {
			resp := tg.send(t, r.req)
			if resp.Status != http.StatusServiceUnavailable {
				t.Errorf("%s through photogate without the backend CA: %d %q, want 503\n%s", r.name, resp.Status, resp.Code, resp.Body)
			}
			tg.checkLoggedStatus(t, resp)
		}
		tg.assertBackendMissing(t, bucket, "new.jpg")
		tg.assertBackendMissing(t, bucket, "trailer.jpg")
		// minio-go as users run it (with its retries) must fail too.
		if _, err := tg.client(t).PutObject(ctx, bucket, "client.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err == nil {
			t.Error("minio-go PutObject through photogate without the backend CA succeeded")
		} else if _, status := errCode(err); status != http.StatusServiceUnavailable {
			t.Errorf("minio-go PutObject through photogate without the backend CA: %v, want 503", err)
		}
		tg.assertBackendMissing(t, bucket, "client.jpg")
		// Still not ready, whatever the breaker now says.
		checkReady(t, g, http.StatusServiceUnavailable, "")
		if strings.Contains(g.Stderr(), insecureWarning) {
			t.Errorf("photogate warns %q although verification is on", insecureWarning)
		}
	})

	t.Run("insecure-skip-verify", func(t *testing.T) {
		t.Parallel()
		g := harness.StartGateway(t, harness.GatewayOptions{
			Binary: shared.binary, Backend: m,
			Env: []string{"PHOTOGATE_BACKEND_INSECURE_SKIP_VERIFY=true"},
		})
		tg := gatewayTarget(g, m)
		if !strings.Contains(g.Stderr(), insecureWarning) {
			t.Errorf("photogate stderr lacks the warning %q:\n%s", insecureWarning, tail(g.Stderr(), 4096))
		}
		checkReady(t, g, http.StatusOK, "")
		backendRoundTrip(t, tg, "backend-insecure")
	})
}

// checkReady fails unless photogate's /readyz answers status, and, when
// wantErr is set, reports the backend check failing with an error that
// mentions it.
func checkReady(t *testing.T, g *harness.Gateway, status int, wantErr string) {
	t.Helper()
	resp, err := g.HTTPClient().Get(g.AdminEndpoint() + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ready struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(raw, &ready); err != nil {
		t.Fatalf("/readyz answered %s with %q: %v", resp.Status, raw, err)
	}
	if resp.StatusCode != status {
		t.Errorf("/readyz: %s %s, want %d", resp.Status, raw, status)
	}
	backend, ok := ready.Checks["backend"]
	switch {
	case !ok:
		t.Errorf("/readyz has no backend check: %s", raw)
	case status == http.StatusOK && backend.Status != "ok":
		t.Errorf("/readyz backend check: %s", raw)
	case status != http.StatusOK && backend.Status != "fail":
		t.Errorf("/readyz backend check %q, want fail: %s", backend.Status, raw)
	case wantErr != "" && !strings.Contains(backend.Error, wantErr):
		t.Errorf("/readyz backend check error %q does not mention %q", backend.Error, wantErr)
	}
	t.Logf("/readyz: %s %s", resp.Status, bytes.TrimSpace(raw))
}

// backendRoundTrip puts, gets, lists and deletes objects through the
// target with minio-go, a multipart upload and an aws-chunked upload with a
// trailer (which photogate re-sends to the backend) among them, and checks
// each by SHA-256 in MinIO and read back.
func backendRoundTrip(t *testing.T, tg *target, prefix string) {
	t.Helper()
	ctx := t.Context()
	c := tg.client(t)
	bucket := tg.makeBucket(t, prefix)

	objects := map[string][]byte{
		"photo.jpg":       harness.RandomBytes(700_001),
		"empty.txt":       {},
		"video/multi.mov": harness.RandomBytes(12<<20 + 1), // streamed, 5+5+2 MiB parts
	}
	for key, body := range objects {
		size := int64(len(body))
		var r io.Reader = bytes.NewReader(body)
		if size > 5<<20 {
			r, size = io.MultiReader(r), -1 // unknown size: multipart
		}
		if _, err := c.PutObject(ctx, bucket, key, r, size, minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
		tg.assertBackendObject(t, bucket, key, harness.SHA256Hex(body), int64(len(body)))
	}
	trailerBody := harness.RandomBytes(300_000)
	objects["chunked/trailer.jpg"] = trailerBody
	resp := tg.send(t, tg.unsignedTrailerRequest(t, "/"+bucket+"/chunked/trailer.jpg", trailerBody, crc32.ChecksumIEEE(trailerBody)))
	if resp.Status != http.StatusOK {
		t.Fatalf("STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT: %d %s\n%s", resp.Status, resp.Code, resp.Body)
	}
	tg.assertBackendObject(t, bucket, "chunked/trailer.jpg", harness.SHA256Hex(trailerBody), int64(len(trailerBody)))

	var want []string
	for key, body := range objects {
		want = append(want, key)
		obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("GetObject %s: %v", key, err)
		}
		sum, n, err := harness.SHA256Reader(obj)
		obj.Close()
		if err != nil || sum != harness.SHA256Hex(body) || n != int64(len(body)) {
			t.Errorf("GetObject %s: %d bytes sha256 %s (%v), want %d bytes %s", key, n, sum, err, len(body), harness.SHA256Hex(body))
		}
	}
	slices.Sort(want)
	var listed []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("ListObjects: %v", o.Err)
		}
		listed = append(listed, o.Key)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("ListObjects: %v, want %v", listed, want)
	}

	for key := range objects {
		if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Errorf("RemoveObject %s: %v", key, err)
		}
	}
	tg.assertBackendEmpty(t, bucket, "")
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		t.Errorf("RemoveBucket: %v", err)
	}
	tg.checkBucketLogs(t, bucket)
}
