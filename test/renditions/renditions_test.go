// Package renditions_test uploads every photo of testdata/photos through
// photogate with aws-cli, in front of a real MinIO, and checks the
// rendition pipeline end to end: the renditions the admin API serves (by
// pixel, for orientation), failed jobs for malformed files and bombs with
// photogate's memory bounded, the renditions of an overwritten or deleted
// photo removed from MinIO, signed URLs, the rendition bucket closed to the
// S3 port, and the jobs and renditions commands and metrics.
package renditions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	_ "golang.org/x/image/webp"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/test/harness"
)

type env struct {
	g      *harness.Gateway
	m      *harness.MinIO
	bin    string
	awsEnv []string
}

func start(t *testing.T, extraEnv ...string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO, the photogate binary, libvips and aws-cli")
	}
	m := harness.StartMinIO(t)
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: m, Env: extraEnv})
	return &env{g: g, m: m, bin: bin, awsEnv: harness.AWSCLIEnv(t, g, "addressing_style = path")}
}

// aws runs aws-cli against photogate; it returns the combined output and
// whether it succeeded.
func (e *env) tryAWS(args ...string) (string, error) {
	cmd := exec.Command("aws", append([]string{"--endpoint-url", e.g.Endpoint()}, args...)...)
	cmd.Env = e.awsEnv
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) aws(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.tryAWS(args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cli runs a photogate command against the admin API.
func (e *env) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--admin-url", e.g.AdminEndpoint(), "--token", e.g.AdminToken())
	out, err := exec.Command(e.bin, args...).CombinedOutput()
	return string(out), err
}

// get sends an admin API request, with the token unless anonymous.
func (e *env) get(t *testing.T, path string, anonymous bool, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.g.AdminEndpoint()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !anonymous {
		req.Header.Set("Authorization", "Bearer "+e.g.AdminToken())
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func renditionPath(bucket, key, size string) string {
	return "/api/v1/renditions/" + bucket + "/" + (&url.URL{Path: key}).EscapedPath() + "?size=" + size
}

// settle waits until no rendition job is queued or running.
func (e *env) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var busy int
		for _, state := range []string{"queued", "running"} {
			resp, body := e.get(t, "/api/v1/jobs?state="+state, false)
			var jobs api.JobsResponse
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &jobs) != nil {
				t.Fatalf("jobs: %d %s", resp.StatusCode, body)
			}
			busy += len(jobs.Items)
		}
		var st api.StatsResponse
		if resp, body := e.get(t, "/api/v1/stats", false); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil {
			t.Fatalf("stats: %d %s", resp.StatusCode, body)
		}
		if busy == 0 && st.PendingIntents == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rendition jobs did not settle: %d queued or running", busy)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// mustRender says which test photos must render. The rest (malformed
// files, a truncated camera file) either render from what is left of them
// or fail with a reason; none may stay pending.
func mustRender(rel string) bool {
	for _, dir := range []string{"jpeg/", "png/", "webp/", "heic/", "avif/", "orientation/"} {
		if strings.HasPrefix(rel, dir) {
			return true
		}
	}
	return false
}

func TestEveryTestPhotoGetsRenditions(t *testing.T) {
	e := start(t)
	dir := harness.PhotosDir(t)
	e.aws(t, "s3", "mb", "s3://library")
	e.aws(t, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://library/")
	// The 60000x60000 PNG bomb of the issue: 3.6 GB of pixels in a few
	// hundred KB.
	bomb := filepath.Join(t.TempDir(), "bomb.png")
	if err := os.WriteFile(bomb, harness.PNGBomb(t, 60000), 0o644); err != nil {
		t.Fatal(err)
	}
	e.aws(t, "s3", "cp", "--only-show-errors", bomb, "s3://library/bombs/png_60000.png")
	e.settle(t)

	var photos []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if !strings.HasPrefix(rel, "LICENSES") && rel != "MANIFEST.tsv" {
			photos = append(photos, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rendered := 0
	for _, rel := range append(photos, "bombs/png_60000.png") {
		for _, size := range []string{"thumb", "preview"} {
			resp, body := e.get(t, renditionPath("library", rel, size), false)
			switch resp.StatusCode {
			case http.StatusOK:
				cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
				limit := map[string]int{"thumb": 256, "preview": 1440}[size]
				want := map[string]string{"thumb": "webp", "preview": "jpeg"}[size]
				if err != nil || format != want || max(cfg.Width, cfg.Height) > limit || resp.Header.Get("Content-Type") != "image/"+want {
					t.Errorf("%s %s: %s %dx%d (%v), type %q", rel, size, format, cfg.Width, cfg.Height, err, resp.Header.Get("Content-Type"))
				}
				if size == "thumb" {
					rendered++
				}
			case http.StatusNotFound:
				var er api.ErrorResponse
				_ = json.Unmarshal(body, &er)
				if mustRender(rel) || er.Error.Code != api.CodeRenditionFailed || er.Error.Message == "" {
					t.Errorf("%s %s: 404 %s", rel, size, body)
				}
			default:
				t.Errorf("%s %s: %d %s", rel, size, resp.StatusCode, body)
			}
		}
	}
	t.Logf("%d of %d files rendered", rendered, len(photos)+1)
	for _, bomb := range []string{"bombs/png_60000.png", "malformed/jpeg_sof_65000x65000.jpg", "malformed/png_bomb_30000x30000_1bit.png"} {
		resp, body := e.get(t, renditionPath("library", bomb, "thumb"), false)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "pixels, more than the limit") {
			t.Errorf("%s: %d %s, want a failed job naming the pixel limit", bomb, resp.StatusCode, body)
		}
	}

	// Orientation by pixel: the eight orientations of one scene all show
	// it upright.
	scene := uprightQuadrants(t, filepath.Join(dir, "orientation/landscape_1.jpg"), 1)
	for o := 1; o <= 8; o++ {
		rel := fmt.Sprintf("orientation/landscape_%d.jpg", o)
		resp, body := e.get(t, renditionPath("library", rel, "preview"), false)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", rel, resp.StatusCode)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := harness.Quadrants(img); !harness.CloseColours(got, scene, 12) {
			t.Errorf("%s: preview quadrant colours %v, want the upright scene's %v", rel, got, scene)
		}
	}

	// Search answers carry the placeholder.
	var it api.Item
	if resp, body := e.get(t, "/api/v1/objects/library/jpeg/pentax_k3ii_sunrise.jpg", false); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &it) != nil || it.Placeholder == "" {
		t.Errorf("indexed record without a placeholder: %d %s", resp.StatusCode, body)
	}

	// Failed jobs are listed with their reason, and can be retried.
	out, err := e.cli(t, "jobs", "--state", "failed")
	if err != nil || !strings.Contains(out, "bombs/png_60000.png") || !strings.Contains(out, "pixels") {
		t.Errorf("photogate jobs --state failed: %v\n%s", err, out)
	}
	failedBefore := strings.Count(out, "\n") - 1
	out, err = e.cli(t, "jobs", "retry", "--kind", "rendition")
	if err != nil || !strings.Contains(out, fmt.Sprintf("queued again: %d", failedBefore)) {
		t.Errorf("photogate jobs retry: %v\n%s (want %d)", err, out, failedBefore)
	}
	e.settle(t)
	if out, err := e.cli(t, "jobs", "--state", "failed"); err != nil || strings.Count(out, "\n")-1 != failedBefore {
		t.Errorf("after the retry the same jobs fail again: %v\n%s", err, out)
	}
	// Everything rendered or failed: a rebuild queues nothing.
	if out, err := e.cli(t, "renditions", "rebuild"); err != nil || !strings.Contains(out, "queued 0 render") {
		t.Errorf("photogate renditions rebuild: %v\n%s", err, out)
	}
	if out, err := e.cli(t, "check"); err != nil || !strings.Contains(out, "missing 0, orphaned 0") {
		t.Errorf("photogate check: %v\n%s", err, out)
	}

	metrics := e.g.Metrics(t)
	for _, name := range []string{
		`photogate_renditions_jobs_total{kind="rendition",outcome="rendered"}`,
		`photogate_renditions_failures_total{class="too_large"}`,
		`photogate_renditions_job_duration_seconds_count{kind="rendition"}`,
		`photogate_index_jobs_failed{kind="rendition"}`,
	} {
		if metrics[name] < 1 {
			t.Errorf("metric %s = %v", name, metrics[name])
		}
	}
}

// TestBombsLeaveMemoryBounded: the decompression bombs alone, through a
// photogate of their own, fail as jobs without photogate's memory ever
// growing towards what decoding them would take (3.6 GB for the PNG).
func TestBombsLeaveMemoryBounded(t *testing.T) {
	e := start(t)
	dir := harness.PhotosDir(t)
	e.aws(t, "s3", "mb", "s3://bombs")
	bomb := filepath.Join(t.TempDir(), "bomb.png")
	if err := os.WriteFile(bomb, harness.PNGBomb(t, 60000), 0o644); err != nil {
		t.Fatal(err)
	}
	e.aws(t, "s3", "cp", "--only-show-errors", bomb, "s3://bombs/png_60000.png")
	e.aws(t, "s3", "cp", "--recursive", "--only-show-errors", filepath.Join(dir, "malformed"), "s3://bombs/malformed/")
	e.settle(t)
	for _, key := range []string{"png_60000.png", "malformed/jpeg_sof_65000x65000.jpg", "malformed/png_bomb_30000x30000_1bit.png"} {
		resp, body := e.get(t, renditionPath("bombs", key, "thumb"), false)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "pixels, more than the limit") {
			t.Errorf("%s: %d %s, want a failed job naming the pixel limit", key, resp.StatusCode, body)
		}
	}
	// Decoding any bomb would have taken gigabytes; a -race photogate
	// starts at about 100 MiB.
	if hwm := peakRSS(t, e.g.Pid()); hwm > 512<<20 {
		t.Errorf("photogate's peak RSS is %d MiB after the bombs", hwm>>20)
	} else {
		t.Logf("photogate's peak RSS after the bombs: %d MiB", hwm>>20)
	}
}

func uprightQuadrants(t *testing.T, path string, orientation int) [4][3]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return harness.Quadrants(harness.Upright(img, orientation, 4))
}

// peakRSS is a process's peak resident set (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// renditionKeys lists what MinIO holds for one version of an object.
func (e *env) renditionKeys(t *testing.T, bucket, key, etag string) []string {
	t.Helper()
	var keys []string
	for obj := range e.m.Client().ListObjects(context.Background(), renditions.DefaultBucket, minio.ListObjectsOptions{Prefix: renditions.Prefix(bucket, key, etag), Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func (e *env) etag(t *testing.T, bucket, key string) string {
	t.Helper()
	info, err := e.m.Client().StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info.ETag
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServingCachingSigningAndRemoval(t *testing.T) {
	e := start(t)
	dir := harness.PhotosDir(t)
	e.aws(t, "s3", "mb", "s3://album")
	e.aws(t, "s3", "cp", "--only-show-errors", filepath.Join(dir, "jpeg/pentax_k3ii_sunrise.jpg"), "s3://album/trip/day 1.jpg")
	e.settle(t)
	key := "trip/day 1.jpg"
	first := e.etag(t, "album", key)
	if keys := e.renditionKeys(t, "album", key, first); len(keys) != 3 {
		t.Fatalf("renditions in MinIO: %v, want thumb, preview and meta", keys)
	}

	// ETag and revalidation.
	resp, _ := e.get(t, renditionPath("album", key, "thumb"), false)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("thumb: %d, ETag %q, Cache-Control %q", resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := e.get(t, renditionPath("album", key, "thumb"), false, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", resp.StatusCode)
	}
	if resp, _ := e.get(t, renditionPath("album", key, "thumb"), true); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("thumb without credentials: %d, want 401", resp.StatusCode)
	}
	for _, bad := range []string{"?size=huge", "?size=thumb&x=1"} {
		path := strings.Split(renditionPath("album", key, "thumb"), "?")[0] + bad
		if resp, _ := e.get(t, path, false); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}

	// A signed URL opens this one rendition, without credentials.
	resp, signed := e.get(t, renditionPath("album", key, "preview")+"&sign=true&ttl=5m", false)
	var su api.SignedURL
	if resp.StatusCode != http.StatusOK || json.Unmarshal(signed, &su) != nil || su.URL == "" || time.Until(su.Expires) > 11*time.Minute {
		t.Fatalf("sign: %d %s", resp.StatusCode, signed)
	}
	resp, img := e.get(t, su.URL, true)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("signed URL: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(img)); err != nil {
		t.Errorf("signed URL body: %v", err)
	}
	u, _ := url.Parse(su.URL)
	for name, change := range map[string]func(q url.Values, u *url.URL){
		"another size":    func(q url.Values, _ *url.URL) { q.Set("size", "thumb") },
		"a later expiry":  func(q url.Values, _ *url.URL) { q.Set("expires", "99999999999") },
		"a forged sig":    func(q url.Values, _ *url.URL) { q.Set("sig", strings.Repeat("0", 64)) },
		"another object":  func(_ url.Values, u *url.URL) { u.Path = "/api/v1/renditions/album/other.jpg" },
		"another route":   func(_ url.Values, u *url.URL) { u.Path = "/api/v1/stats" },
		"an expired time": func(q url.Values, _ *url.URL) { q.Set("expires", "1000") },
	} {
		v := *u
		q := v.Query()
		change(q, &v)
		v.RawQuery = q.Encode()
		want := http.StatusForbidden
		if name == "another route" {
			want = http.StatusUnauthorized // a signature is no credential there
		}
		if resp, body := e.get(t, v.String(), true); resp.StatusCode != want {
			t.Errorf("signed URL with %s: %d %s, want %d", name, resp.StatusCode, body, want)
		}
	}

	// The rendition bucket is photogate's own: not listed, not readable,
	// not a copy source, through the S3 port.
	if out := e.aws(t, "s3", "ls"); strings.Contains(out, renditions.DefaultBucket) || !strings.Contains(out, "album") {
		t.Errorf("aws s3 ls shows:\n%s", out)
	}
	if ok, err := e.m.Client().BucketExists(context.Background(), renditions.DefaultBucket); err != nil || !ok {
		t.Fatalf("the rendition bucket is not in MinIO: %v", err)
	}
	for _, args := range [][]string{
		{"s3", "ls", "s3://" + renditions.DefaultBucket + "/"},
		{"s3api", "get-object", "--bucket", renditions.DefaultBucket, "--key", renditions.Prefix("album", key, first) + renditions.ThumbObject, filepath.Join(t.TempDir(), "x")},
		{"s3api", "copy-object", "--bucket", "album", "--key", "stolen.webp", "--copy-source", renditions.DefaultBucket + "/" + renditions.Prefix("album", key, first) + renditions.ThumbObject},
		{"s3api", "put-object", "--bucket", renditions.DefaultBucket, "--key", "planted.webp"},
		{"s3api", "delete-bucket", "--bucket", renditions.DefaultBucket},
	} {
		out, err := e.tryAWS(args...)
		if err == nil || !strings.Contains(out, "AccessDenied") {
			t.Errorf("aws %s: %v\n%s, want AccessDenied", strings.Join(args, " "), err, out)
		}
	}
	if keys := e.renditionKeys(t, "album", key, first); len(keys) != 3 {
		t.Errorf("renditions after the attacks: %v", keys)
	}
	if _, err := e.m.Client().StatObject(context.Background(), "album", "stolen.webp", minio.StatObjectOptions{}); err == nil {
		t.Error("a rendition was copied into a caller's bucket")
	}

	// Overwritten: the old version's renditions leave MinIO, the new ones
	// are served, and the old ETag no longer revalidates.
	e.aws(t, "s3", "cp", "--only-show-errors", filepath.Join(dir, "orientation/landscape_6.jpg"), "s3://album/trip/day 1.jpg")
	e.settle(t)
	second := e.etag(t, "album", key)
	waitFor(t, "the overwritten version's renditions to go", func() bool { return len(e.renditionKeys(t, "album", key, first)) == 0 })
	if keys := e.renditionKeys(t, "album", key, second); len(keys) != 3 {
		t.Errorf("new version's renditions: %v", keys)
	}
	if resp, _ := e.get(t, renditionPath("album", key, "thumb"), false, "If-None-Match", etag); resp.StatusCode != http.StatusOK {
		t.Errorf("revalidating the old version: %d, want 200 with the new one", resp.StatusCode)
	}
	if resp, _ := e.get(t, su.URL, true); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a signed URL of the old version: %d, want 404", resp.StatusCode)
	}

	// Deleted: its renditions leave MinIO, and the API says so.
	e.aws(t, "s3", "rm", "--only-show-errors", "s3://album/trip/day 1.jpg")
	e.settle(t)
	waitFor(t, "the deleted photo's renditions to go", func() bool { return len(e.renditionKeys(t, "album", key, second)) == 0 })
	if resp, _ := e.get(t, renditionPath("album", key, "thumb"), false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("thumb of a deleted photo: %d, want 404", resp.StatusCode)
	}
}

// TestRenditionsForPhotosFromBefore: photos indexed while renditions were
// off get them on demand (202 with the job just queued) and from
// `photogate renditions rebuild`.
func TestRenditionsForPhotosFromBefore(t *testing.T) {
	e := start(t, "PHOTOGATE_RENDITIONS=false")
	dir := harness.PhotosDir(t)
	e.aws(t, "s3", "mb", "s3://before")
	e.aws(t, "s3", "cp", "--recursive", "--only-show-errors", filepath.Join(dir, "orientation"), "s3://before/")
	e.settle(t)
	if resp, body := e.get(t, renditionPath("before", "tiny_f8-exif.jpg", "thumb"), false); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no such API route") {
		t.Fatalf("thumb with renditions off: %d %s", resp.StatusCode, body)
	}
	if ok, err := e.m.Client().BucketExists(context.Background(), renditions.DefaultBucket); err != nil || ok {
		t.Fatalf("renditions off, yet the rendition bucket exists (%v)", err)
	}

	// The same data dir, renditions on.
	if err := e.g.Stop(); err != nil {
		t.Fatal(err)
	}
	e.g = harness.StartGateway(t, harness.GatewayOptions{Binary: e.bin, Backend: e.m, DataDir: e.g.DataDir(),
		AccessKey: e.g.AccessKey(), SecretKey: e.g.SecretKey(), AdminToken: e.g.AdminToken()})

	resp, body := e.get(t, renditionPath("before", "tiny_f8-exif.jpg", "thumb"), false)
	var p api.RenditionPending
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &p) != nil || p.State != "queued" || p.Job.ID == 0 ||
		p.Job.Kind != renditions.JobKind || p.Job.Key != "tiny_f8-exif.jpg" {
		t.Fatalf("thumb of a photo from before: %d %s, want 202 with its queued job", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
		t.Errorf("202 headers %v", resp.Header)
	}
	var j api.Job
	if resp, body := e.get(t, "/api/v1/jobs/"+strconv.FormatUint(p.Job.ID, 10), false); resp.StatusCode == http.StatusOK {
		if json.Unmarshal(body, &j) != nil || j.Key != "tiny_f8-exif.jpg" || j.Bucket != "before" {
			t.Errorf("job %d: %s", p.Job.ID, body)
		}
	} else if resp.StatusCode != http.StatusNotFound { // done already: done jobs are removed
		t.Errorf("job %d: %d %s", p.Job.ID, resp.StatusCode, body)
	}
	// The other 16 have neither renditions nor a job.
	out, err := e.cli(t, "renditions", "rebuild", "--bucket", "before")
	if err != nil || !strings.Contains(out, "looked at 17 indexed objects; queued 16 render(s)") {
		t.Fatalf("photogate renditions rebuild: %v\n%s", err, out)
	}
	e.settle(t)
	for o := 1; o <= 8; o++ {
		for _, name := range []string{"landscape_%d.jpg", "tiny_f%d-exif.jpg"} {
			key := fmt.Sprintf(name, o)
			if resp, _ := e.get(t, renditionPath("before", key, "thumb"), false); resp.StatusCode != http.StatusOK {
				t.Errorf("%s after the rebuild: %d", key, resp.StatusCode)
			}
		}
	}
	if out, err := e.cli(t, "renditions", "rebuild"); err != nil || !strings.Contains(out, "queued 0 render") {
		t.Errorf("a second rebuild: %v\n%s", err, out)
	}
	// Jobs listing validates its parameters.
	for _, q := range []string{"state=bogus", "limit=0", "bucket=before", "after=x"} {
		if resp, _ := e.get(t, "/api/v1/jobs?"+q, false); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("jobs?%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
