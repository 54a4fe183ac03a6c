package e2e_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

const region = harness.Region

// target is what a test points its clients at: the shared gateway, or MinIO
// itself when PHOTOGATE_E2E_TARGET=minio.
type target struct {
	Endpoint  string // http://host:port or https://host:port
	Addr      string // host:port
	AccessKey string
	SecretKey string
	CAFile    string           // the test CA to trust for an https Endpoint; "" for http
	Backend   *harness.MinIO   // the real MinIO behind it, for ground truth
	Gateway   *harness.Gateway // nil when the target is MinIO
}

func getTarget(t *testing.T) *target {
	t.Helper()
	requireShared(t)
	if shared.gateway == nil {
		return minioTarget(shared.minio)
	}
	return gatewayTarget(shared.gateway, shared.minio)
}

// getTLSTarget is getTarget over HTTPS: the shared gateway that serves TLS
// on its own listener, or a MinIO serving HTTPS when targeting MinIO.
func getTLSTarget(t *testing.T) *target {
	t.Helper()
	requireShared(t)
	if shared.tlsGateway == nil {
		return minioTarget(shared.tlsMinIO)
	}
	return gatewayTarget(shared.tlsGateway, shared.minio)
}

func requireShared(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if sharedErr != nil {
		t.Fatalf("shared test setup failed: %v", sharedErr)
	}
}

// gatewayTarget targets gateway g in front of backend m.
func gatewayTarget(g *harness.Gateway, m *harness.MinIO) *target {
	return &target{Endpoint: g.Endpoint(), Addr: g.Addr(), AccessKey: g.AccessKey(), SecretKey: g.SecretKey(),
		CAFile: g.CAFile(), Backend: m, Gateway: g}
}

// minioTarget targets MinIO m itself.
func minioTarget(m *harness.MinIO) *target {
	return &target{Endpoint: m.Endpoint(), Addr: m.Addr(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey(),
		CAFile: m.CAFile(), Backend: m}
}

// tls reports whether the target is reached over HTTPS.
func (tg *target) tls() bool { return strings.HasPrefix(tg.Endpoint, "https://") }

// transport returns an HTTP transport for the target: one that trusts the
// test CA (and nothing else) for an https target, a plain one otherwise.
func (tg *target) transport(t *testing.T) *http.Transport {
	t.Helper()
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	if tg.CAFile != "" {
		pool, err := harness.CertPool(tg.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return tr
}

// requireGateway skips gateway-only checks when the target is MinIO.
func (tg *target) requireGateway(t *testing.T) {
	t.Helper()
	if tg.Gateway == nil {
		t.Skip("gateway-only check; PHOTOGATE_E2E_TARGET=minio")
	}
}

// client returns a minio-go client for the target with the full-access
// user. Retries are left at minio-go's default, as users run it.
func (tg *target) client(t *testing.T) *minio.Client {
	t.Helper()
	return tg.clientWith(t, tg.AccessKey, tg.SecretKey, 0)
}

// clientWith returns a minio-go client for the target with the given
// credentials; maxRetries 1 disables retries (0 keeps the default).
func (tg *target) clientWith(t *testing.T, access, secret string, maxRetries int) *minio.Client {
	t.Helper()
	return tg.newClient(t, &minio.Options{
		Creds:      credentials.NewStaticV4(access, secret, ""),
		Region:     region,
		MaxRetries: maxRetries,
	})
}

// newClient returns a minio-go client for the target with opts, completed
// with what reaching the target takes (HTTPS and the test CA).
func (tg *target) newClient(t *testing.T, opts *minio.Options) *minio.Client {
	t.Helper()
	if tg.tls() {
		// A custom transport is how minio-go users trust a private CA.
		opts.Secure = true
		opts.Transport = tg.transport(t)
	}
	c, err := minio.New(tg.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// makeBucket creates a fresh bucket through the target and returns its
// name, and dumps the gateway's log lines for it if the test fails.
func (tg *target) makeBucket(t *testing.T, prefix string) string {
	t.Helper()
	name := harness.BucketName(prefix)
	if err := tg.client(t).MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: region}); err != nil {
		t.Fatalf("make bucket %s through target: %v", name, err)
	}
	tg.dumpLogsOnFailure(t, name)
	return name
}

// dumpLogsOnFailure logs the gateway's request lines for bucket when the
// test fails: the evidence a failure report needs.
func (tg *target) dumpLogsOnFailure(t *testing.T, bucket string) {
	t.Helper()
	if tg.Gateway == nil {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var b strings.Builder
		for _, e := range tg.Gateway.Logs() {
			if e.Bucket == bucket || strings.Contains(e.String(), bucket) {
				b.WriteString(e.String())
				b.WriteByte('\n')
			}
		}
		t.Logf("photogate log lines for bucket %s:\n%s", bucket, b.String())
	})
}

// backendSHA256 reads bucket/key straight from MinIO and returns its
// SHA-256 and size: what the gateway really stored, framing and all.
func (tg *target) backendSHA256(t *testing.T, bucket, key string) (string, int64) {
	t.Helper()
	obj, err := tg.Backend.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("backend GET %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	sum, n, err := harness.SHA256Reader(obj)
	if err != nil {
		t.Fatalf("backend GET %s/%s: %v", bucket, key, err)
	}
	return sum, n
}

// assertBackendObject fails unless MinIO holds exactly the bytes with the
// given SHA-256 at bucket/key.
func (tg *target) assertBackendObject(t *testing.T, bucket, key, wantSHA string, wantSize int64) {
	t.Helper()
	sum, n := tg.backendSHA256(t, bucket, key)
	if sum != wantSHA || n != wantSize {
		t.Errorf("MinIO holds %s/%s with %d bytes sha256 %s, want %d bytes sha256 %s", bucket, key, n, sum, wantSize, wantSHA)
	}
}

// assertBackendMissing fails unless MinIO has no object at bucket/key.
func (tg *target) assertBackendMissing(t *testing.T, bucket, key string) {
	t.Helper()
	_, err := tg.Backend.Client().StatObject(t.Context(), bucket, key, minio.StatObjectOptions{})
	if err == nil {
		t.Errorf("MinIO holds %s/%s, want no object", bucket, key)
		return
	}
	if code := minio.ToErrorResponse(err).Code; code != "NoSuchKey" {
		t.Errorf("backend stat %s/%s: %v, want NoSuchKey", bucket, key, err)
	}
}

// backendKeys lists the keys under prefix straight from MinIO.
func (tg *target) backendKeys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for obj := range tg.Backend.Client().ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("backend list %s/%s: %v", bucket, prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	slices.Sort(keys)
	return keys
}

// assertBackendEmpty fails unless MinIO has no objects under prefix and no
// unfinished multipart uploads in the bucket (an aborted upload that leaks
// parts costs storage forever).
func (tg *target) assertBackendEmpty(t *testing.T, bucket, prefix string) {
	t.Helper()
	if keys := tg.backendKeys(t, bucket, prefix); len(keys) > 0 {
		t.Errorf("MinIO still holds %d objects under %s/%s: %v", len(keys), bucket, prefix, keys[:min(len(keys), 10)])
	}
	for u := range tg.Backend.Client().ListIncompleteUploads(t.Context(), bucket, prefix, true) {
		if u.Err != nil {
			t.Fatalf("backend list multipart uploads %s/%s: %v", bucket, prefix, u.Err)
		}
		t.Errorf("MinIO has an unfinished multipart upload of %s/%s (id %s)", bucket, u.Key, u.UploadID)
	}
}

// --- external commands ---

// cmdTimeout bounds one client invocation; the largest transfer (120 MiB
// through a -race gateway) takes well under a minute.
const cmdTimeout = 5 * time.Minute

// runCmd runs an external client and returns its stdout, failing the test
// with the full output if it exits non-zero.
func runCmd(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := tryCmd(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// tryCmd runs an external client and returns stdout, stderr and its error.
func tryCmd(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// --- raw S3 requests ---

// newRequest builds a raw unsigned path-style request to the target.
func (tg *target) newRequest(t *testing.T, method, path, rawQuery string, body []byte) *http.Request {
	t.Helper()
	return tg.rawRequest(t, method, tg.url(path, rawQuery), body)
}

// rawRequest builds an unsigned request to url, which need not be the
// target's.
func (tg *target) rawRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := harness.NewRequest(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// url is the path-style URL of path (with rawQuery, if any) on the target.
func (tg *target) url(path, rawQuery string) string {
	if rawQuery == "" {
		return tg.Endpoint + path
	}
	return tg.Endpoint + path + "?" + rawQuery
}

// signedRequest builds a raw request signed with SigV4 with the target's
// credentials and a signed payload hash.
func (tg *target) signedRequest(t *testing.T, method, path, rawQuery string, body []byte) *http.Request {
	t.Helper()
	req, err := harness.SignedRequest(t.Context(), method, tg.url(path, rawQuery), body, tg.AccessKey, tg.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sign signs req with SigV4 with the target's credentials; payloadHash is
// what X-Amz-Content-Sha256 declares.
func (tg *target) sign(req *http.Request, payloadHash string) *http.Request {
	return harness.SignV4(req, tg.AccessKey, tg.SecretKey, payloadHash)
}

// do sends req with a plain client (no retries) and reads the response.
func do(t *testing.T, req *http.Request) harness.S3Response {
	t.Helper()
	return harness.SendS3(t, &http.Client{Timeout: 2 * time.Minute}, req)
}

// send is do with a client that trusts the target's CA, for raw requests to
// an https target.
func (tg *target) send(t *testing.T, req *http.Request) harness.S3Response {
	t.Helper()
	return harness.SendS3(t, &http.Client{Timeout: 2 * time.Minute, Transport: tg.transport(t)}, req)
}

// expectS3Error fails unless resp is the S3 error status/code. Through the
// gateway it also checks the contract that every error carries an
// x-amz-request-id which appears, with the same status, in the log.
func (tg *target) expectS3Error(t *testing.T, resp harness.S3Response, status int, code string) {
	t.Helper()
	if resp.Status != status || resp.Code != code {
		t.Errorf("got %d %q, want %d %s; body:\n%s", resp.Status, resp.Code, status, code, resp.Body)
	}
	tg.checkLoggedStatus(t, resp)
}

// checkLoggedStatus checks that a gateway response's x-amz-request-id has
// a log line with the same status.
func (tg *target) checkLoggedStatus(t *testing.T, resp harness.S3Response) {
	t.Helper()
	if tg.Gateway == nil {
		return
	}
	id := resp.Header.Get("X-Amz-Request-Id")
	if id == "" {
		t.Errorf("response %d has no x-amz-request-id", resp.Status)
		return
	}
	e, ok := tg.Gateway.LogFor(id, 5*time.Second)
	if !ok {
		t.Errorf("no log line for request_id %s", id)
		return
	}
	if e.Status != resp.Status {
		t.Errorf("log line for request_id %s has status %d, response had %d: %s", id, e.Status, resp.Status, e)
	}
}

// errCode returns the S3 error code and status in a minio-go error.
func errCode(err error) (string, int) {
	var e minio.ErrorResponse
	if errors.As(err, &e) {
		return e.Code, e.StatusCode
	}
	return "", 0
}

// --- gateway log checks ---

// knownPayloads are the body modes the gateway may log for an upload.
var knownPayloads = []string{"signed", "unsigned", "streaming-signed", "streaming-signed-trailer", "streaming-unsigned-trailer", "streaming-unsigned"}

// uploadOps are the operations that carry an object body.
var uploadOps = []string{"PutObject", "UploadPart"}

// checkBucketLogs checks the per-request log lines the gateway wrote for a
// bucket: every line has the documented fields, and every successful
// upload names the body mode it saw. It returns the lines.
func (tg *target) checkBucketLogs(t *testing.T, bucket string) []harness.LogEntry {
	t.Helper()
	if tg.Gateway == nil {
		return nil
	}
	entries := tg.Gateway.RequestLogs(func(e harness.LogEntry) bool { return e.Bucket == bucket })
	if len(entries) == 0 {
		t.Errorf("the gateway logged no requests for bucket %s", bucket)
	}
	for _, e := range entries {
		for _, f := range []string{"request_id", "op", "bucket", "key", "status", "bytes_in", "bytes_out", "duration_ms"} {
			if _, ok := e.Fields[f]; !ok {
				t.Errorf("log line lacks %q: %s", f, e)
			}
		}
		if e.Status/100 != 2 {
			// A request refused before it was classified or its body
			// looked at may leave op and payload empty.
			continue
		}
		if e.Op == "" {
			t.Errorf("log line of a successful request has empty op: %s", e)
		}
		if _, ok := e.Fields["payload"]; !ok {
			t.Errorf("log line of a successful request lacks \"payload\": %s", e)
		}
		if slices.Contains(uploadOps, e.Op) && !slices.Contains(knownPayloads, e.Payload) {
			t.Errorf("upload log line has payload %q, want one of %v: %s", e.Payload, knownPayloads, e)
		}
	}
	return entries
}

// uploadMode is how an upload's body reached photogate, as its request log
// line says: the payload mode and the checksum algorithm it verified.
type uploadMode struct {
	Payload  string // e.g. "streaming-unsigned-trailer", "signed"
	Checksum string // e.g. "CRC32", "CRC64NVME"; "" for none
	Op       string // PutObject or UploadPart; "" in a wanted mode: either
}

func (m uploadMode) String() string {
	s := m.Payload + "/" + cmp.Or(m.Checksum, "no-checksum")
	if m.Op != "" {
		s = m.Op + ":" + s
	}
	return s
}

// matches reports whether a logged upload m has the wanted mode w.
func (w uploadMode) matches(m uploadMode) bool {
	return w.Payload == m.Payload && w.Checksum == m.Checksum && (w.Op == "" || w.Op == m.Op)
}

// Over HTTPS, the AWS SDKs' default is an aws-chunked body with an unsigned
// payload and a checksum trailer; CRC32 is their default algorithm, and
// CRC64NVME the one newer SDKs and S3 itself use for full-object checksums.
var (
	unsignedTrailerCRC32     = uploadMode{Payload: "streaming-unsigned-trailer", Checksum: "CRC32"}
	unsignedTrailerCRC64NVME = uploadMode{Payload: "streaming-unsigned-trailer", Checksum: "CRC64NVME"}
)

// logBarrier sends one request and waits for its log line. photogate
// writes a request's line just after the response, so once the barrier's
// line is there, those of the requests a client finished before are too.
func (tg *target) logBarrier(t *testing.T, bucket string) {
	t.Helper()
	if tg.Gateway == nil {
		return
	}
	resp := tg.send(t, tg.signedRequest(t, http.MethodHead, "/"+bucket, "", nil))
	if id := resp.Header.Get("X-Amz-Request-Id"); id != "" {
		tg.Gateway.LogFor(id, 5*time.Second)
	}
}

// checkUploadModes reads, from photogate's own request log, how every
// successful upload (PutObject, UploadPart) to bucket reached it, and fails
// unless there were at least minUploads and each had one of the modes in
// want. It logs what it saw, so a passing run documents what the client
// does by default. Through MinIO there is no log to read and it checks
// nothing.
func (tg *target) checkUploadModes(t *testing.T, client, bucket string, minUploads int, want ...uploadMode) {
	t.Helper()
	if tg.Gateway == nil {
		return
	}
	tg.logBarrier(t, bucket)
	seen := map[uploadMode]int{}
	for _, e := range tg.Gateway.RequestLogs(func(e harness.LogEntry) bool { return e.Bucket == bucket }) {
		if !slices.Contains(uploadOps, e.Op) || e.Status != http.StatusOK {
			continue
		}
		m := uploadMode{Payload: e.Payload, Checksum: strings.ToUpper(e.Checksum), Op: e.Op}
		seen[m]++
		if !slices.ContainsFunc(want, func(w uploadMode) bool { return w.matches(m) }) {
			t.Errorf("%s over %s: photogate logged an upload as %s, want one of %v: %s", client, tg.scheme(), m, want, e)
		}
	}
	n := 0
	for _, c := range seen {
		n += c
	}
	if n < minUploads {
		t.Errorf("%s over %s: photogate logged %d successful uploads to %s, want at least %d", client, tg.scheme(), n, bucket, minUploads)
	}
	t.Logf("%s over %s: uploads as photogate received them (op:payload/checksum: count): %v", client, tg.scheme(), seen)
}

func (tg *target) scheme() string {
	if tg.tls() {
		return "HTTPS"
	}
	return "HTTP"
}

// waitFor polls cond every interval until it is true or timeout passes.
func waitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
