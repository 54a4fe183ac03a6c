package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// writeTree writes random files of the given sizes under dir and returns
// their SHA-256 by relative path.
func writeTree(t *testing.T, dir string, files map[string]int64) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for name, size := range files {
		_, sums[name] = harness.WriteRandomFile(t, dir, name, size)
	}
	return sums
}

// checkTree fails unless dir holds exactly the files in want, by SHA-256.
func checkTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		got[filepath.ToSlash(rel)] = harness.SHA256File(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: sha256 %q, want %s", name, got[name], sum)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s", name)
		}
	}
}

// TestRclone drives rclone's s3 backend (provider Minio) through the
// gateway: copy, check, sync and delete, multipart included.
func TestRclone(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	bucket := rcloneScenario(t, tg, "rclone")
	tg.checkBucketLogs(t, bucket)
}

// TestRcloneHTTPS runs the same scenario at the gateway's own HTTPS
// listener, with default settings and the test CA given by --ca-cert.
//
// rclone's S3 backend (1.60, aws-sdk-go v1 underneath) sends no aws-chunked
// bodies and no flexible checksums; it relies on MD5 (Content-MD5, ETags
// and its own metadata). Over HTTPS, single-part uploads (PutObject) go as
// UNSIGNED-PAYLOAD, while multipart parts (UploadPart) carry their
// SHA-256 in the signature.
func TestRcloneHTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	bucket := rcloneScenario(t, tg, "rclone-tls")
	// copy: five single-part files (the empty one too) and the 12 MiB
	// video in three parts; sync: one new file and one rewritten.
	tg.checkUploadModes(t, "rclone", bucket, 10,
		uploadMode{Op: "PutObject", Payload: "unsigned"},
		uploadMode{Op: "UploadPart", Payload: "signed"})
	tg.checkBucketLogs(t, bucket)
}

// rcloneScenario runs rclone copy, check, sync and delete against the
// target in a fresh bucket, trusting the target's CA (--ca-cert) over
// HTTPS, and returns the bucket.
func rcloneScenario(t *testing.T, tg *target, prefix string) string {
	t.Helper()
	rclone := harness.Require(t, "rclone")
	home := t.TempDir()
	conf := filepath.Join(home, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := harness.ClientEnv(home,
		"RCLONE_CONFIG="+conf,
		"RCLONE_CONFIG_PG_TYPE=s3",
		"RCLONE_CONFIG_PG_PROVIDER=Minio",
		"RCLONE_CONFIG_PG_ENV_AUTH=false",
		"RCLONE_CONFIG_PG_ACCESS_KEY_ID="+tg.AccessKey,
		"RCLONE_CONFIG_PG_SECRET_ACCESS_KEY="+tg.SecretKey,
		"RCLONE_CONFIG_PG_ENDPOINT="+tg.Endpoint,
		"RCLONE_CONFIG_PG_REGION="+region,
		"RCLONE_CONFIG_PG_FORCE_PATH_STYLE=true",
	)
	// No retries: a request the gateway fails once must show up as a
	// failure here instead of being papered over. Multipart above 5 MiB so
	// a modest file exercises rclone's multipart path.
	base := []string{"--retries", "1", "--low-level-retries", "1", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"}
	if tg.CAFile != "" {
		base = append(base, "--ca-cert", tg.CAFile)
	}
	rc := func(t *testing.T, args ...string) string {
		t.Helper()
		return runCmd(t, env, rclone, append(slices.Clone(base), args...)...)
	}

	bucket := tg.makeBucket(t, prefix)
	remote := "pg:" + bucket + "/library"
	src := filepath.Join(t.TempDir(), "library")
	files := map[string]int64{
		"2025/IMG_0001.jpg":     400_000,
		"2025/IMG_0002.jpg":     1,
		"2025/IMG 0003 (2).jpg": 70_000,
		"2024/video.mp4":        12<<20 + 3, // multipart: 5+5+2 MiB
		"empty.txt":             0,
		"ünïcödé/日本の写真.heic":    99_999,
	}
	sums := writeTree(t, src, files)

	t.Run("copy-check", func(t *testing.T) {
		rc(t, "copy", src, remote)
		for name, sum := range sums {
			tg.assertBackendObject(t, bucket, "library/"+name, sum, files[name])
		}
		// check compares sizes and hashes (MD5 from ETags, or rclone's own
		// metadata for multipart objects) between the two sides.
		rc(t, "check", src, remote)
		dl := filepath.Join(t.TempDir(), "dl")
		rc(t, "copy", remote, dl)
		checkTree(t, dl, sums)
	})

	t.Run("sync", func(t *testing.T) {
		// Change the source: one file removed, one added, one rewritten.
		if err := os.Remove(filepath.Join(src, "2025/IMG_0002.jpg")); err != nil {
			t.Fatal(err)
		}
		delete(sums, "2025/IMG_0002.jpg")
		delete(files, "2025/IMG_0002.jpg")
		for name, size := range map[string]int64{"2026/new.jpg": 123_456, "2025/IMG_0001.jpg": 400_001} {
			_, sums[name] = harness.WriteRandomFile(t, src, name, size)
			files[name] = size
		}
		rc(t, "sync", src, remote)
		var want []string
		for name, sum := range sums {
			want = append(want, "library/"+name)
			tg.assertBackendObject(t, bucket, "library/"+name, sum, files[name])
		}
		slices.Sort(want)
		if got := tg.backendKeys(t, bucket, "library/"); !slices.Equal(got, want) {
			t.Errorf("after sync MinIO holds %v, want %v", got, want)
		}
		rc(t, "check", src, remote)
	})

	t.Run("delete", func(t *testing.T) {
		rc(t, "delete", remote)
		tg.assertBackendEmpty(t, bucket, "library/")
	})
	return bucket
}

// TestS3cmd drives s3cmd 2.x (SigV4, path style) through the gateway.
func TestS3cmd(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	bucket := s3cmdScenario(t, tg, "s3cmd")
	tg.checkBucketLogs(t, bucket)
}

// TestS3cmdHTTPS runs the same scenario at the gateway's own HTTPS
// listener: use_https = True and check_ssl_certificate = True in the
// config, the test CA given by --ca-certs.
//
// s3cmd knows nothing of aws-chunked bodies or flexible checksums: over
// HTTPS as over HTTP it signs each object's and part's SHA-256 and sends
// Content-MD5.
func TestS3cmdHTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	bucket := s3cmdScenario(t, tg, "s3cmd-tls")
	// The small object and two parts of the big one.
	tg.checkUploadModes(t, "s3cmd", bucket, 3, uploadMode{Payload: "signed"})
	tg.checkBucketLogs(t, bucket)
}

// s3cmdScenario runs s3cmd mb, put (single and multipart), get, ls and del
// against the target in a fresh bucket and returns the bucket.
func s3cmdScenario(t *testing.T, tg *target, prefix string) string {
	t.Helper()
	s3cmd := harness.Require(t, "s3cmd")
	home := t.TempDir()
	cfg := filepath.Join(home, "s3cfg")
	conf := fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
signature_v2 = False
bucket_location = %s
`, tg.AccessKey, tg.SecretKey, tg.Addr, tg.Addr, region)
	args := []string{"--config", cfg, "--no-progress"}
	if tg.tls() {
		conf += "use_https = True\ncheck_ssl_certificate = True\ncheck_ssl_hostname = True\n"
		args = append(args, "--ca-certs="+tg.CAFile)
	} else {
		conf += "use_https = False\n"
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := harness.ClientEnv(home)
	s3 := func(t *testing.T, more ...string) string {
		t.Helper()
		return runCmd(t, env, s3cmd, append(slices.Clone(args), more...)...)
	}

	bucket := harness.BucketName(prefix)
	tg.dumpLogsOnFailure(t, bucket)
	dir := t.TempDir()
	small, smallSum := harness.WriteRandomFile(t, dir, "small.jpg", 100_000)
	// Above s3cmd's 15 MiB multipart chunk: two parts.
	big, bigSum := harness.WriteRandomFile(t, dir, "big.raw", 20<<20+1)

	s3(t, "mb", "s3://"+bucket)
	if ok, err := tg.Backend.Client().BucketExists(t.Context(), bucket); err != nil || !ok {
		t.Fatalf("bucket %s not in MinIO after mb: %v %v", bucket, ok, err)
	}
	s3(t, "put", small, "s3://"+bucket+"/photos/small.jpg")
	s3(t, "put", big, "s3://"+bucket+"/photos/big.raw")
	tg.assertBackendObject(t, bucket, "photos/small.jpg", smallSum, 100_000)
	tg.assertBackendObject(t, bucket, "photos/big.raw", bigSum, 20<<20+1)

	out := filepath.Join(t.TempDir(), "got")
	s3(t, "get", "s3://"+bucket+"/photos/small.jpg", out+"-small")
	s3(t, "get", "s3://"+bucket+"/photos/big.raw", out+"-big")
	if got := harness.SHA256File(t, out+"-small"); got != smallSum {
		t.Errorf("get small.jpg: sha256 %s, want %s", got, smallSum)
	}
	if got := harness.SHA256File(t, out+"-big"); got != bigSum {
		t.Errorf("get big.raw: sha256 %s, want %s", got, bigSum)
	}

	ls := s3(t, "ls", "s3://"+bucket+"/photos/")
	for _, want := range []string{"s3://" + bucket + "/photos/small.jpg", "s3://" + bucket + "/photos/big.raw", "100000", "20971521"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls output lacks %q:\n%s", want, ls)
		}
	}

	s3(t, "del", "s3://"+bucket+"/photos/small.jpg")
	tg.assertBackendMissing(t, bucket, "photos/small.jpg")
	s3(t, "del", "s3://"+bucket+"/photos/big.raw")
	tg.assertBackendEmpty(t, bucket, "")
	return bucket
}
