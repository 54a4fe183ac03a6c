// Package index_test uploads every photo of testdata/photos through
// photogate with real clients and checks that the index holds what the
// MANIFEST.tsv says each file contains, that malformed files are stored and
// marked instead of crashing anything, and that copies, multipart uploads,
// tagging and deletes keep the index equal to the backend.
package index_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/test/harness"
)

type manifestRow struct {
	file, camera, taken, gps, orientation, dims string
}

func readManifest(t *testing.T, dir string) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	sc.Scan() // header: filename source license format size_bytes camera datetime_original gps orientation width_x_height notes
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 10 {
			continue
		}
		rows = append(rows, manifestRow{file: c[0], camera: c[5], taken: c[6], gps: c[7], orientation: c[8], dims: c[9]})
	}
	if len(rows) < 30 {
		t.Fatalf("manifest has %d rows", len(rows))
	}
	return rows
}

type env struct {
	g      *harness.Gateway
	m      *harness.MinIO
	bin    string
	awsEnv []string
}

func start(t *testing.T, extraEnv ...string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO, the photogate binary and aws-cli")
	}
	harness.Require(t, "python3")
	m := harness.StartMinIO(t)
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: m, Env: extraEnv})
	// A 1 MiB multipart threshold sends the larger photos as multipart
	// uploads, so CompleteMultipartUpload is indexed too.
	return &env{g: g, m: m, bin: bin, awsEnv: harness.AWSCLIEnv(t, g, "multipart_threshold = 512KB", "multipart_chunksize = 5MB")}
}

func (e *env) aws(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", e.g.Endpoint()}, args...)...)
	cmd.Env = e.awsEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *env) python(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(e.awsEnv, "ENDPOINT="+e.g.Endpoint())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

func (e *env) apiGet(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.g.AdminEndpoint()+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.g.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (e *env) object(t *testing.T, bucket, key string) (api.Item, bool) {
	t.Helper()
	var it api.Item
	code := e.apiGet(t, "/api/v1/objects/"+bucket+"/"+url.PathEscape(key), &it)
	return it, code == http.StatusOK
}

// settle waits until no intent is pending and no extraction job is queued.
func (e *env) settle(t *testing.T) api.StatsResponse {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st api.StatsResponse
		e.apiGet(t, "/api/v1/stats", &st)
		queued := int64(0)
		for _, j := range st.Jobs {
			queued += j.Queued
		}
		if st.PendingIntents == 0 && queued == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("index did not settle: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestEveryManifestPhotoIsIndexed(t *testing.T) {
	e := start(t)
	dir := harness.PhotosDir(t)
	rows := readManifest(t, dir)
	e.aws(t, "s3", "mb", "s3://photos")
	e.aws(t, "s3", "sync", dir, "s3://photos/", "--exclude", "LICENSES/*", "--exclude", "MANIFEST.tsv", "--only-show-errors")
	st := e.settle(t)
	if st.Objects != int64(len(rows)) {
		t.Errorf("index has %d objects, want the %d manifest files", st.Objects, len(rows))
	}
	for _, r := range rows {
		t.Run(r.file, func(t *testing.T) {
			it, ok := e.object(t, "photos", r.file)
			if !ok {
				t.Fatal("not indexed")
			}
			checkAgainstManifest(t, r, it)
		})
	}
	if resp, err := http.Get(e.g.AdminEndpoint() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("photogate is not healthy after the malformed files: %v", err)
	}
}

func checkAgainstManifest(t *testing.T, r manifestRow, it api.Item) {
	t.Helper()
	known := func(s string) bool { return s != "" && s != "-" }
	malformed := strings.HasPrefix(r.file, "malformed/")
	if it.Extraction.Status == "" {
		t.Fatalf("no extraction status: %+v", it)
	}
	if malformed && it.Extraction.Status == "ok" && !known(r.camera) && r.dims == "-" {
		t.Errorf("malformed file marked ok: %+v", it.Extraction)
	}
	// The extractor drops control characters (a fuzzed file's Make is "\b").
	camera := strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, r.camera))
	if known(camera) {
		if got := strings.TrimSpace(it.Make + " " + it.Model); got != camera {
			t.Errorf("camera %q, manifest %q", got, camera)
		}
	}
	if known(r.taken) {
		if it.TakenAt.IsZero() {
			t.Errorf("no taken_at, manifest %s", r.taken)
		} else {
			local := it.TakenAt
			if it.TakenOffset != "" {
				if off, err := time.Parse("-07:00", it.TakenOffset); err == nil {
					local = local.In(off.Location())
				}
			}
			if got := local.Format("2006:01:02 15:04:05"); got != r.taken {
				t.Errorf("taken %s (offset %q), manifest %s", got, it.TakenOffset, r.taken)
			}
		}
	}
	switch {
	case strings.HasPrefix(r.gps, "yes ("):
		var lat, lon float64
		if _, err := fmt.Sscanf(strings.TrimPrefix(r.gps, "yes "), "(%g,%g)", &lat, &lon); err != nil {
			t.Fatalf("manifest gps %q: %v", r.gps, err)
		}
		if it.GPS == nil || math.Abs(it.GPS.Lat-lat) > 1e-4 || math.Abs(it.GPS.Lon-lon) > 1e-4 {
			t.Errorf("gps %+v, manifest %s", it.GPS, r.gps)
		}
	case r.gps == "no" && !malformed:
		// For malformed files the manifest says what a reference tool could
		// parse; photogate indexes whatever it can read, GPS included.
		if it.GPS != nil {
			t.Errorf("gps %+v, manifest says none", it.GPS)
		}
	}
	if n, err := strconv.Atoi(r.orientation); err == nil && it.Orientation != n {
		t.Errorf("orientation %d, manifest %d", it.Orientation, n)
	}
	if w, h, ok := strings.Cut(r.dims, "x"); ok {
		if got := fmt.Sprintf("%dx%d", it.Width, it.Height); got != w+"x"+h {
			t.Errorf("dimensions %s, manifest %s", got, r.dims)
		}
	}
}

func TestCopyTaggingDeleteKeepIndexInStep(t *testing.T) {
	e := start(t)
	dir := harness.PhotosDir(t)
	e.aws(t, "s3", "mb", "s3://lib")
	// 2.4 MB: above the 1 MiB threshold, so a one-part multipart upload.
	e.aws(t, "s3", "cp", filepath.Join(dir, "jpeg/canon_sx60hs_orient6.jpg"), "s3://lib/mp.jpg", "--only-show-errors")
	e.python(t, `
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.copy_object(Bucket="lib", Key="copy.jpg", CopySource={"Bucket": "lib", "Key": "mp.jpg"},
               MetadataDirective="REPLACE", Metadata={"album": "Rome"}, ContentType="image/jpeg")
s3.put_object_tagging(Bucket="lib", Key="copy.jpg", Tagging={"TagSet": [{"Key": "trip", "Value": "rome-2026"}]})
s3.put_object(Bucket="lib", Key="gone1.jpg", Body=b"x")
s3.put_object(Bucket="lib", Key="gone2.jpg", Body=b"y")
r = s3.delete_objects(Bucket="lib", Delete={"Objects": [{"Key": "gone1.jpg"}, {"Key": "gone2.jpg"}, {"Key": "never-existed"}]})
assert len(r.get("Deleted", [])) == 3, r
`)
	e.settle(t)
	mp, ok := e.object(t, "lib", "mp.jpg")
	if !ok || mp.Model != "Canon PowerShot SX60 HS" || !strings.HasSuffix(mp.ETag, "-1") {
		t.Fatalf("multipart upload indexed as %+v (ok %v); want the Canon and a multipart ETag", mp, ok)
	}
	cp, ok := e.object(t, "lib", "copy.jpg")
	if !ok || cp.Model != "Canon PowerShot SX60 HS" || cp.UserMetadata["album"] != "Rome" || cp.Tags["trip"] != "rome-2026" {
		t.Fatalf("copy indexed as %+v", cp)
	}
	for _, k := range []string{"gone1.jpg", "gone2.jpg"} {
		if _, ok := e.object(t, "lib", k); ok {
			t.Errorf("%s still indexed after DeleteObjects", k)
		}
	}
	var page api.SearchResponse
	e.apiGet(t, "/api/v1/search?bucket=lib&tag=trip%3Drome-2026", &page)
	if len(page.Items) != 1 || page.Items[0].Key != "copy.jpg" {
		t.Fatalf("tag search: %+v", page.Items)
	}
	e.aws(t, "s3", "rm", "s3://lib/", "--recursive", "--only-show-errors")
	e.aws(t, "s3", "rb", "s3://lib")
	if st := e.settle(t); st.Objects != 0 {
		t.Fatalf("after deleting everything the index still has %d objects", st.Objects)
	}
}

func TestCheckAndRepairCommands(t *testing.T) {
	e := start(t)
	e.aws(t, "s3", "mb", "s3://drift")
	e.aws(t, "s3", "cp", filepath.Join(harness.PhotosDir(t), "jpeg/pentax_k3ii_sunrise.jpg"), "s3://drift/through-photogate.jpg", "--only-show-errors")
	e.settle(t)
	// Written straight to MinIO, behind photogate's back.
	data, err := os.ReadFile(filepath.Join(harness.PhotosDir(t), "jpeg/iphone4s_lensinfo_gps_orient6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Client().PutObject(context.Background(), "drift", "behind-its-back.jpg", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(cmd string) (string, error) {
		c := exec.Command(e.bin, cmd, "--admin-url", e.g.AdminEndpoint(), "--token", e.g.AdminToken())
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run("check")
	if err == nil || !strings.Contains(out, "missing 1") || !strings.Contains(out, "behind-its-back.jpg") {
		t.Fatalf("check should report the missing object and fail: %v\n%s", err, out)
	}
	if out, err := run("repair"); err != nil || !strings.Contains(out, "repaired 1") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if out, err := run("check"); err != nil || !strings.Contains(out, "drift 0") {
		t.Fatalf("check after repair: %v\n%s", err, out)
	}
	if it, ok := e.object(t, "drift", "behind-its-back.jpg"); !ok || it.Model != "iPhone 4S" {
		t.Fatalf("repaired record: %+v", it)
	}
}

// TestAdminAPIForSignedAdmins: /api/ takes the bearer token or a SigV4
// signature of a user with the admin grant on every bucket.
func TestAdminAPIForSignedAdmins(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(cfg, []byte(`users:
  - name: viewer
    access_key: VIEWERKEY01
    secret_key: viewer-secret-0001
    grants: [{buckets: "*", actions: [read, list]}]
  - name: ops
    access_key: OPSKEY0001
    secret_key: ops-secret-00001
    grants: [{buckets: "*", actions: [read, write, delete, list, admin]}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, "PHOTOGATE_CONFIG="+cfg)
	get := func(ak, sk string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.g.AdminEndpoint()+"/api/v1/stats", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, ak, sk, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("OPSKEY0001", "ops-secret-00001"); code != http.StatusOK {
		t.Errorf("signed by an admin of every bucket: %d, want 200", code)
	}
	if code := get("VIEWERKEY01", "viewer-secret-0001"); code != http.StatusUnauthorized {
		t.Errorf("signed by a user without admin: %d, want 401", code)
	}
	if code := get("OPSKEY0001", "wrong-secret-0000"); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", code)
	}
	if code := e.apiGet(t, "/api/v1/stats", nil); code != http.StatusOK {
		t.Errorf("the bearer token still works: %d", code)
	}
	if strings.Contains(e.g.Stderr(), "ops-secret-00001") || strings.Contains(e.g.Stderr(), "viewer-secret-0001") {
		t.Error("a secret reached the log")
	}
}

// TestBackupAndRestoreCommands: photogate backup takes a verified snapshot
// of the running gateway's index; after the index is lost, photogate
// restore (with photogate stopped) brings it back with its owners and photo
// metadata, and repair adds what was uploaded after the backup.
func TestBackupAndRestoreCommands(t *testing.T) {
	e := start(t)
	e.aws(t, "s3", "mb", "s3://keep")
	e.aws(t, "s3", "cp", filepath.Join(harness.PhotosDir(t), "jpeg/iphone4s_lensinfo_gps_orient6.jpg"), "s3://keep/before.jpg", "--only-show-errors")
	e.settle(t)
	backup := filepath.Join(t.TempDir(), "index-backup.db")
	run := func(args ...string) (string, error) {
		c := exec.Command(e.bin, args...)
		c.Env = append(os.Environ(), "PHOTOGATE_ADMIN_URL="+e.g.AdminEndpoint(), "PHOTOGATE_ADMIN_TOKEN="+e.g.AdminToken(),
			"PHOTOGATE_DATA_DIR="+e.g.DataDir())
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("backup", "--out", backup); err != nil || !strings.Contains(out, "1 objects") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	e.aws(t, "s3", "cp", filepath.Join(harness.PhotosDir(t), "jpeg/pentax_k3ii_sunrise.jpg"), "s3://keep/after.jpg", "--only-show-errors")
	e.settle(t)

	// Restoring under a running photogate is refused.
	if out, err := run("restore", "--from", backup); err == nil || !strings.Contains(out, "stop photogate first") {
		t.Fatalf("restore while photogate runs: %v\n%s", err, out)
	}
	if err := e.g.Stop(); err != nil {
		t.Fatal(err)
	}
	// The index is lost.
	if err := os.WriteFile(filepath.Join(e.g.DataDir(), "index.db"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("restore", "--from", backup); err != nil || !strings.Contains(out, "1 objects") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if err := e.g.Start(); err != nil {
		t.Fatal(err)
	}
	it, ok := e.object(t, "keep", "before.jpg")
	if !ok || it.Model != "iPhone 4S" || it.Owner != "env" {
		t.Fatalf("restored record: %+v, %v", it, ok)
	}
	if _, ok := e.object(t, "keep", "after.jpg"); ok {
		t.Fatal("an object uploaded after the backup is in the restored index")
	}
	if out, err := run("repair"); err != nil || !strings.Contains(out, "repaired 1") {
		t.Fatalf("repair after restore: %v\n%s", err, out)
	}
	if it, ok := e.object(t, "keep", "after.jpg"); !ok || it.Make == "" {
		t.Fatalf("repaired record: %+v, %v", it, ok)
	}
}
