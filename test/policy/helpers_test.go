package policy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

// --- identities and configs ---

// user is a client identity written into a test's YAML config.
type user struct {
	Name, AccessKey, SecretKey string
}

func newUser(name string) user {
	return user{Name: name, AccessKey: "PT" + strings.ToUpper(harness.RandomString(16)), SecretKey: harness.RandomString(40)}
}

// entry renders u as an item of the YAML users: list; body holds the rest
// of the entry (grants:, limits:), each line indented by four spaces.
func (u user) entry(body string) string {
	return fmt.Sprintf("  - name: %s\n    access_key: %s\n    secret_key: %s\n%s", u.Name, u.AccessKey, u.SecretKey, body)
}

// writeConfig replaces the file at path atomically, so a SIGHUP never sees
// half a file.
func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// --- the gateway under test ---

// env is one photogate started with a test's config, in front of the
// shared MinIO.
type env struct {
	g          *harness.Gateway
	configPath string

	mu      sync.Mutex
	secrets map[string]string // label -> secret that must never be logged
}

// start writes config to a fresh file and starts photogate with
// PHOTOGATE_CONFIG pointing at it. The harness adds the full-access user
// "env" (PHOTOGATE_ACCESS_KEY/SECRET_KEY). When the test ends, after the
// gateway has stopped, photogate's stderr is searched for every secret it
// was given (the users', the env user's, the backend's, and any added with
// noLeak): none may appear.
func start(t *testing.T, config string, users ...user) *env {
	t.Helper()
	requireSetup(t)
	dir := t.TempDir()
	e := &env{configPath: filepath.Join(dir, "photogate.yaml"), secrets: map[string]string{
		"backend secret": suite.Backend.SecretKey(),
	}}
	for _, u := range users {
		e.secrets["secret of user "+u.Name] = u.SecretKey
	}
	writeConfig(t, e.configPath, config)
	// Registered before StartGateway, so it runs after the harness has
	// stopped the gateway and the whole stderr is in.
	t.Cleanup(func() {
		if e.g == nil {
			return
		}
		stderr := e.g.Stderr()
		e.mu.Lock()
		defer e.mu.Unlock()
		for label, s := range e.secrets {
			if strings.Contains(stderr, s) {
				t.Errorf("photogate's stderr contains the %s", label)
			}
		}
	})
	e.g = harness.StartGateway(t, harness.GatewayOptions{
		Binary:  suite.Binary,
		Backend: suite.Backend,
		Env:     []string{"PHOTOGATE_CONFIG=" + e.configPath},
	})
	e.noLeak("secret of the env user", e.g.SecretKey())
	return e
}

// noLeak adds a secret that photogate's stderr must not contain.
func (e *env) noLeak(label, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets[label] = secret
}

// admin is the full-access user the harness configures.
func (e *env) admin() user {
	return user{Name: "env", AccessKey: e.g.AccessKey(), SecretKey: e.g.SecretKey()}
}

// objectURL is the path-style URL of bucket/key on the gateway (keys in
// these tests need no escaping).
func (e *env) objectURL(bucket, key string) string {
	return e.g.Endpoint() + "/" + bucket + "/" + key
}

// minio returns a minio-go client for u. Retries are off (MaxRetries 1) so
// each refusal is seen as photogate sent it.
func (e *env) minio(t *testing.T, u user) *minio.Client {
	t.Helper()
	c, err := minio.New(e.g.Addr(), &minio.Options{
		Creds:      miniocreds.NewStaticV4(u.AccessKey, u.SecretKey, ""),
		Region:     region,
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sdk returns an aws-sdk-go-v2 S3 client for u, loaded the way
// applications load it (config.LoadDefaultConfig) but isolated from the
// machine: static keys, shared config files that do not exist, checksum
// behaviour pinned to the defaults, and its own HTTP client (set on the S3
// options, not passed to LoadDefaultConfig, so AWS_CA_BUNDLE in the
// environment cannot interfere) that records every attempt.
// maxAttempts 0 keeps the SDK's default retryer (standard mode, 3
// attempts); otherwise retry.AddWithMaxAttempts sets the attempts.
func (e *env) sdk(t *testing.T, u user, maxAttempts int) (*s3.Client, *wireLog) {
	t.Helper()
	home := t.TempDir()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(u.AccessKey, u.SecretKey, "")),
		config.WithSharedConfigFiles([]string{filepath.Join(home, "config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(home, "credentials")}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported),
	}
	if maxAttempts > 0 {
		opts = append(opts, config.WithRetryer(func() aws.Retryer {
			return retry.AddWithMaxAttempts(retry.NewStandard(), maxAttempts)
		}))
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), opts...)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	wire := &wireLog{}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(e.g.Endpoint())
		o.HTTPClient = &recordingClient{base: awshttp.NewBuildableClient(), log: wire}
	}), wire
}

// wireRecord is one HTTP attempt an SDK client made.
type wireRecord struct {
	At         time.Time
	Method     string
	Path       string
	Status     int
	RetryAfter string
	RequestID  string
}

func (w wireRecord) String() string {
	return fmt.Sprintf("%s %s %s -> %d (Retry-After %q, request id %s)", w.At.Format("15:04:05.000"), w.Method, w.Path, w.Status, w.RetryAfter, w.RequestID)
}

type wireLog struct {
	mu      sync.Mutex
	records []wireRecord
}

func (w *wireLog) all() []wireRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wireRecord(nil), w.records...)
}

func (w *wireLog) count(status int) int {
	n := 0
	for _, r := range w.all() {
		if r.Status == status {
			n++
		}
	}
	return n
}

type recordingClient struct {
	base interface {
		Do(*http.Request) (*http.Response, error)
	}
	log *wireLog
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	rec := wireRecord{At: time.Now(), Method: req.Method, Path: req.URL.Path}
	resp, err := c.base.Do(req)
	if resp != nil {
		rec.Status, rec.RetryAfter, rec.RequestID = resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Amz-Request-Id")
	}
	c.log.mu.Lock()
	c.log.records = append(c.log.records, rec)
	c.log.mu.Unlock()
	return resp, err
}

// --- raw requests ---

// newRequest builds a request; a nil body sends none.
func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sign signs req with SigV4 as u. payloadHash is the body's hex SHA-256 or
// UNSIGNED-PAYLOAD.
func sign(req *http.Request, u user, payloadHash string) *http.Request {
	return harness.SignV4(req, u.AccessKey, u.SecretKey, payloadHash)
}

// signedBytes is a request with body b, signed as u with its SHA-256.
func signedBytes(t *testing.T, method, url string, b []byte, u user) *http.Request {
	t.Helper()
	req, err := harness.SignedRequest(t.Context(), method, url, b, u.AccessKey, u.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// plainClient sends requests as they are: no retries, no redirects to
// follow, nothing shared with other tests.
func plainClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
}

// --- client errors ---

// minioErr returns the S3 error in a minio-go error.
func minioErr(err error) (code string, status int, msg string) {
	var e minio.ErrorResponse
	if errors.As(err, &e) {
		return e.Code, e.StatusCode, e.Message
	}
	return "", 0, ""
}

// sdkErr returns the S3 error in an aws-sdk-go-v2 error.
func sdkErr(err error) (code string, status int, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status, msg
}

// wantMinioErr fails unless err is the S3 error status/code.
func wantMinioErr(t *testing.T, what string, err error, status int, code string) (msg string) {
	t.Helper()
	c, s, m := minioErr(err)
	if err == nil || c != code || s != status {
		t.Errorf("%s: got %v (code %q, status %d), want %d %s", what, err, c, s, status, code)
	}
	return m
}

// wantSDKErr fails unless err is the S3 error status/code.
func wantSDKErr(t *testing.T, what string, err error, status int, code string) (msg string) {
	t.Helper()
	c, s, m := sdkErr(err)
	if err == nil || c != code || s != status {
		t.Errorf("%s: got %v (code %q, status %d), want %d %s", what, err, c, s, status, code)
	}
	return m
}

// --- MinIO, the ground truth ---

// makeBuckets creates the buckets straight in MinIO. If the test fails,
// photogate's request log lines for them are logged: the evidence a
// failure report needs.
func (e *env) makeBuckets(t *testing.T, names ...string) {
	t.Helper()
	for _, b := range names {
		if err := suite.Backend.Client().MakeBucket(t.Context(), b, minio.MakeBucketOptions{Region: region}); err != nil {
			t.Fatalf("MinIO MakeBucket %s: %v", b, err)
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var b strings.Builder
		for _, l := range e.g.RequestLogs(func(l harness.LogEntry) bool { return slices.Contains(names, l.Bucket) }) {
			b.WriteString(l.String())
			b.WriteByte('\n')
		}
		t.Logf("photogate's request log for %v:\n%s", names, b.String())
	})
}

// seed stores an object straight in MinIO, bypassing photogate.
func seed(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := suite.Backend.Client().PutObject(t.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("MinIO PutObject %s/%s: %v", bucket, key, err)
	}
}

// assertStored fails unless MinIO holds exactly want at bucket/key.
func assertStored(t *testing.T, bucket, key string, want []byte) {
	t.Helper()
	obj, err := suite.Backend.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Errorf("MinIO GET %s/%s: %v", bucket, key, err)
		return
	}
	defer obj.Close()
	sum, n, err := harness.SHA256Reader(obj)
	if err != nil {
		t.Errorf("MinIO GET %s/%s: %v", bucket, key, err)
		return
	}
	if sum != harness.SHA256Hex(want) || n != int64(len(want)) {
		t.Errorf("MinIO holds %s/%s with %d bytes sha256 %s, want %d bytes sha256 %s", bucket, key, n, sum, len(want), harness.SHA256Hex(want))
	}
}

// assertAbsent fails unless MinIO has no object at bucket/key and no
// unfinished multipart upload of it.
func assertAbsent(t *testing.T, bucket, key string) {
	t.Helper()
	info, err := suite.Backend.Client().StatObject(t.Context(), bucket, key, minio.StatObjectOptions{})
	switch {
	case err == nil:
		t.Errorf("MinIO holds %s/%s (%d bytes, %s), want nothing: a refused upload reached the backend", bucket, key, info.Size, info.ContentType)
	case minio.ToErrorResponse(err).Code != "NoSuchKey":
		t.Errorf("MinIO stat %s/%s: %v, want NoSuchKey", bucket, key, err)
	}
	for u := range suite.Backend.Client().ListIncompleteUploads(t.Context(), bucket, key, false) {
		if u.Err != nil {
			t.Errorf("MinIO list uploads %s/%s: %v", bucket, key, u.Err)
			continue
		}
		if u.Key == key {
			t.Errorf("MinIO has an unfinished multipart upload of %s/%s (id %s)", bucket, key, u.UploadID)
		}
	}
}

// --- the index, through the admin API ---

// indexed returns what photogate's index counts in bucket, from GET
// /api/v1/stats.
func (e *env) indexed(t *testing.T, bucket string) (objects, size int64) {
	t.Helper()
	for _, b := range e.stats(t).Buckets {
		if b.Name == bucket {
			return b.Objects, b.Bytes
		}
	}
	return 0, 0
}

// usage is what the index counts for the user named name: what that user's
// quota is checked against.
func (e *env) usage(t *testing.T, name string) (objects, size int64) {
	t.Helper()
	for _, u := range e.stats(t).Users {
		if u.Name == name {
			return u.Objects, u.Bytes
		}
	}
	return 0, 0
}

// indexStats holds the fields of GET /api/v1/stats these tests need (see
// metastore/api.StatsResponse).
type indexStats struct {
	Buckets []struct {
		Name    string `json:"bucket"`
		Objects int64  `json:"objects"`
		Bytes   int64  `json:"bytes"`
	} `json:"buckets"`
	Users []struct {
		Name    string `json:"user"`
		Objects int64  `json:"objects"`
		Bytes   int64  `json:"bytes"`
	} `json:"users"`
}

func (e *env) stats(t *testing.T) indexStats {
	t.Helper()
	req := newRequest(t, http.MethodGet, e.g.AdminEndpoint()+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+e.g.AdminToken())
	resp, err := e.g.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("admin stats: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("admin stats: %d %s", resp.StatusCode, b)
	}
	var st indexStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("admin stats: %v", err)
	}
	return st
}

func (e *env) waitIndexed(t *testing.T, bucket string, objects int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, size := e.indexed(t, bucket)
		if n == objects {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index counts %d objects (%d bytes) in %s after 10s, want %d", n, size, bucket, objects)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until photogate has written at least n log lines whose
// message is msg, and returns them.
func (e *env) waitLog(t *testing.T, msg string, n int, timeout time.Duration) []harness.LogEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var found []harness.LogEntry
		for _, l := range e.g.Logs() {
			if l.Msg == msg {
				found = append(found, l)
			}
		}
		if len(found) >= n {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("photogate logged %q %d times within %v, want %d; stderr tail:\n%s", msg, len(found), timeout, n, tail(e.g.Stderr(), 4096))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logCount is how many log lines photogate wrote with message msg.
func (e *env) logCount(msg string) int {
	n := 0
	for _, l := range e.g.Logs() {
		if l.Msg == msg {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
