package security_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/test/harness"
)

// --- identities and the gateway under test ---

// user is a client identity written into a test's YAML config.
type user struct {
	Name, AccessKey, SecretKey string
}

func newUser(name string) user {
	return user{Name: name, AccessKey: "PS" + strings.ToUpper(harness.RandomString(16)), SecretKey: harness.RandomString(40)}
}

// entry renders u as an item of the YAML users: list; body holds the rest
// of the entry (grants:, limits:), each line indented by four spaces.
func (u user) entry(body string) string {
	return fmt.Sprintf("  - name: %s\n    access_key: %s\n    secret_key: %s\n%s", u.Name, u.AccessKey, u.SecretKey, body)
}

// env is one photogate started with a test's config.
type env struct {
	g          *harness.Gateway
	configPath string // PHOTOGATE_CONFIG; "" without a config
}

// start starts photogate in front of the shared MinIO with config (users:
// and policy: as in docs/policy.md; "" for none). The harness adds the
// full-access user returned by admin.
func start(t *testing.T, config string) *env {
	t.Helper()
	return startWith(t, config, harness.GatewayOptions{Backend: suite.Backend})
}

// startWith is start with the backend given in opts (a proxy in front of
// MinIO, say).
func startWith(t *testing.T, config string, opts harness.GatewayOptions) *env {
	t.Helper()
	requireSetup(t)
	opts.Binary = suite.Binary
	e := &env{}
	if config != "" {
		e.configPath = filepath.Join(t.TempDir(), "photogate.yaml")
		if err := os.WriteFile(e.configPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		opts.Env = append(opts.Env, "PHOTOGATE_CONFIG="+e.configPath)
	}
	e.g = harness.StartGateway(t, opts)
	return e
}

// admin is the full-access user the harness configures.
func (e *env) admin() user {
	return user{Name: "env", AccessKey: e.g.AccessKey(), SecretKey: e.g.SecretKey()}
}

// client is a minio-go client for u talking to the gateway, without
// retries so every refusal is seen as photogate sent it.
func (e *env) client(t *testing.T, u user) *minio.Core {
	t.Helper()
	c, err := minio.NewCore(e.g.Addr(), &minio.Options{
		Creds:      miniocreds.NewStaticV4(u.AccessKey, u.SecretKey, ""),
		Region:     harness.Region,
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// url is the gateway URL of a raw path ("/bucket/key?query"), sent as
// written: no cleaning, no escaping.
func (e *env) url(rawPath string) string { return e.g.Endpoint() + rawPath }

// --- raw requests ---

// plainClient sends requests as they are: no retries, no redirects
// followed, nothing shared with other tests.
func plainClient() *http.Client {
	return &http.Client{
		Timeout:       time.Minute,
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newRequest builds a request whose path is sent exactly as in rawURL:
// url.Parse does not clean paths, so "//", "/./" and "/../" reach the
// gateway as an attacker would send them.
func newRequest(t *testing.T, method, rawURL string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// signed is a request with body b (nil: none) signed by u over its SHA-256.
func signed(t *testing.T, method, rawURL string, b []byte, u user) *http.Request {
	t.Helper()
	return harness.SignV4(newRequest(t, method, rawURL, b), u.AccessKey, u.SecretKey, harness.SHA256Hex(b))
}

func send(t *testing.T, req *http.Request) harness.S3Response {
	t.Helper()
	return harness.SendS3(t, plainClient(), req)
}

// wantRefused fails unless r is a refusal: a 4xx, or photogate's 501
// NotImplemented for what it cannot name (any other 5xx is a backend
// error: photogate forwarded the request).
func wantRefused(t *testing.T, what string, r harness.S3Response) {
	t.Helper()
	if (r.Status < 400 || r.Status >= 500) && !(r.Status == http.StatusNotImplemented && r.Code == "NotImplemented") {
		t.Errorf("%s: got %s, want a refusal; body %.300q", what, r, r.Body)
	}
}

// wantError fails unless r is the S3 error status/code.
func wantError(t *testing.T, what string, r harness.S3Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Errorf("%s: got %s, want %d %s", what, r, status, code)
	}
}

// --- MinIO, the ground truth ---

// makeBuckets creates the buckets straight in MinIO.
func makeBuckets(t *testing.T, opts minio.MakeBucketOptions, names ...string) {
	t.Helper()
	opts.Region = harness.Region
	for _, b := range names {
		if err := suite.Backend.Client().MakeBucket(t.Context(), b, opts); err != nil {
			t.Fatalf("MinIO MakeBucket %s: %v", b, err)
		}
	}
}

// seed stores an object straight in MinIO, bypassing photogate.
func seed(t *testing.T, bucket, key string, data []byte) minio.UploadInfo {
	t.Helper()
	info, err := suite.Backend.Client().PutObject(t.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("MinIO PutObject %s/%s: %v", bucket, key, err)
	}
	return info
}

// stored returns MinIO's object at bucket/key, or false if there is none.
func stored(t *testing.T, bucket, key string) ([]byte, minio.ObjectInfo, bool) {
	t.Helper()
	obj, err := suite.Backend.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("MinIO GET %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
		return nil, minio.ObjectInfo{}, false
	}
	if err != nil {
		t.Fatalf("MinIO GET %s/%s: %v", bucket, key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		t.Fatalf("MinIO stat %s/%s: %v", bucket, key, err)
	}
	return data, info, true
}

// assertAbsent fails unless MinIO has no object at bucket/key.
func assertAbsent(t *testing.T, bucket, key string) {
	t.Helper()
	if data, info, ok := stored(t, bucket, key); ok {
		t.Errorf("MinIO holds %s/%s (%d bytes, %s, starts %q): the attack stored it", bucket, key, len(data), info.ContentType, head(data))
	}
}

// listed returns every object MinIO holds in bucket.
func listed(t *testing.T, bucket string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for o := range suite.Backend.Client().ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("MinIO list %s: %v", bucket, o.Err)
		}
		out = append(out, o)
	}
	return out
}

// storedBytes sums the sizes of everything MinIO holds in bucket.
func storedBytes(t *testing.T, bucket string) (objects int, size int64) {
	t.Helper()
	for _, o := range listed(t, bucket) {
		objects++
		size += o.Size
	}
	return objects, size
}

func head(b []byte) []byte {
	return b[:min(len(b), 16)]
}

// --- the index, through the admin API ---

// adminDo sends a request with the admin token to the admin API, decodes
// a 200 answer's JSON into out and returns the status.
func (e *env) adminDo(t *testing.T, method, path string, out any) int {
	t.Helper()
	req := newRequest(t, method, e.g.AdminEndpoint()+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.g.AdminToken())
	resp, err := e.g.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("admin %s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

func (e *env) stats(t *testing.T) api.StatsResponse {
	t.Helper()
	var st api.StatsResponse
	if code := e.adminDo(t, http.MethodGet, "/api/v1/stats", &st); code != http.StatusOK {
		t.Fatalf("admin stats: status %d", code)
	}
	return st
}

// indexedBuckets are the bucket names the index counts objects in.
func (e *env) indexedBuckets(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, b := range e.stats(t).Buckets {
		names = append(names, b.Bucket)
	}
	return names
}

// object returns the index's record of bucket/key. Every "/" of the key is
// escaped, as the API asks for keys with empty or dot segments.
func (e *env) object(t *testing.T, bucket, key string) (api.Item, bool) {
	t.Helper()
	var it api.Item
	code := e.adminDo(t, http.MethodGet, "/api/v1/objects/"+url.PathEscape(bucket)+"/"+url.PathEscape(key), &it)
	switch code {
	case http.StatusOK:
		return it, true
	case http.StatusNotFound:
		return api.Item{}, false
	}
	t.Fatalf("admin object %s/%s: status %d", bucket, key, code)
	return api.Item{}, false
}

// waitObject waits up to timeout for bucket/key to be indexed with
// finished extraction.
func (e *env) waitObject(t *testing.T, bucket, key string, timeout time.Duration) (api.Item, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		it, ok := e.object(t, bucket, key)
		if ok && it.Extraction.Status != "" && it.Extraction.Status != "pending" {
			return it, true
		}
		if time.Now().After(deadline) {
			return it, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drift is one difference `photogate check` found (metastore/reconcile).
type drift struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Kind   string `json:"kind"`
}

// checkDrift runs `photogate check` (POST /api/v1/check) and returns the
// drift it reports in the given buckets: MinIO is shared, so other tests'
// buckets are not this test's business.
func (e *env) checkDrift(t *testing.T, buckets ...string) []drift {
	t.Helper()
	var rep struct {
		Drift []drift `json:"drift"`
	}
	if code := e.adminDo(t, http.MethodPost, "/api/v1/check", &rep); code != http.StatusOK {
		t.Fatalf("photogate check (POST /api/v1/check) failed with status %d; stderr tail:\n%s", code, tail(e.g.Stderr(), 2048))
	}
	var out []drift
	for _, d := range rep.Drift {
		if slices.Contains(buckets, d.Bucket) {
			out = append(out, d)
		}
	}
	return out
}

// wantNoDrift fails if `photogate check` reports drift in buckets.
func (e *env) wantNoDrift(t *testing.T, buckets ...string) {
	t.Helper()
	if d := e.checkDrift(t, buckets...); len(d) > 0 {
		t.Errorf("photogate check reports drift between index and MinIO: %+v", d)
	}
}

// waitLog waits until photogate has logged a line with message msg.
func (e *env) waitLog(t *testing.T, msg string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range e.g.Logs() {
			if l.Msg == msg {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("photogate did not log %q within %v; stderr tail:\n%s", msg, timeout, tail(e.g.Stderr(), 2048))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- test files ---

// photo is a real JPEG from testdata/photos with camera, date and GPS
// (MANIFEST.tsv: Apple iPhone 4S, 2014:09:01 15:03:47, 59.33255,18.06494).
func photo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.PhotosDir(t), "jpeg", "iphone4s_lensinfo_gps_orient6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// detected is the type Go's sniffer sees in data: what a browser would
// make of it, and enough to tell an image from a ZIP or HTML.
func detected(data []byte) string { return http.DetectContentType(data) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
