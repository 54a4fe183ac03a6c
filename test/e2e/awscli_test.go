package e2e_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// lsLine parses one line of `aws s3 ls --recursive`: date, time, size, key.
var lsLine = regexp.MustCompile(`^\S+ \S+ +(\d+) (.*)$`)

// awsCLI runs aws-cli v1 against one endpoint with its own throw-away HOME
// and config, so nothing of the machine's AWS setup leaks in.
type awsCLI struct {
	bin      string
	env      []string
	endpoint string
}

// newAWSCLI prepares aws-cli for endpoint with the given keys. caBundle, if
// set, is the PEM file to trust for an HTTPS endpoint; s3Config are extra
// "name = value" lines for the s3 section of the config file.
func newAWSCLI(t *testing.T, endpoint, access, secret, caBundle string, s3Config ...string) *awsCLI {
	t.Helper()
	bin := harness.Require(t, "aws")
	home := t.TempDir()
	cfg := filepath.Join(home, ".aws", "config")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	// Path-style addressing: photogate routes on the path, and a bucket
	// sub-domain of 127.0.0.1 does not resolve anyway. Everything else,
	// the 2025 default checksum behaviour in particular, stays default.
	config := "[default]\ns3 =\n    addressing_style = path\n"
	for _, line := range s3Config {
		config += "    " + line + "\n"
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	env := harness.ClientEnv(home,
		"AWS_ACCESS_KEY_ID="+access,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, ".aws", "credentials"),
	)
	if caBundle != "" {
		env = append(env, "AWS_CA_BUNDLE="+caBundle)
	}
	return &awsCLI{bin: bin, env: env, endpoint: endpoint}
}

// args prepends the endpoint. PHOTOGATE_E2E_AWS_DEBUG=1 adds --debug, whose
// wire-level log runCmd prints when a command fails.
func (a *awsCLI) args(args []string) []string {
	pre := []string{"--endpoint-url", a.endpoint}
	if os.Getenv("PHOTOGATE_E2E_AWS_DEBUG") == "1" {
		pre = append(pre, "--debug")
	}
	return append(pre, args...)
}

// run runs an aws command and fails the test if it fails.
func (a *awsCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	return runCmd(t, a.env, a.bin, a.args(args)...)
}

// try runs an aws command and returns its stdout, stderr and error.
func (a *awsCLI) try(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return tryCmd(t, a.env, a.bin, a.args(args)...)
}

// TestAWSCLI drives aws-cli through the gateway over plain HTTP, where it
// signs payloads and sends checksums as headers.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	cli := newAWSCLI(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, "")
	bucket := harness.BucketName("awscli")
	tg.dumpLogsOnFailure(t, bucket)
	src, dst := t.TempDir(), t.TempDir()

	t.Run("mb", func(t *testing.T) {
		cli.run(t, "s3", "mb", "s3://"+bucket)
		ok, err := tg.Backend.Client().BucketExists(t.Context(), bucket)
		if err != nil || !ok {
			t.Fatalf("bucket %s not in MinIO after s3 mb: %v %v", bucket, ok, err)
		}
	})

	t.Run("cp", func(t *testing.T) {
		// 0 bytes and 6 bytes are the edge cases of chunk framing; 1 MiB
		// is an ordinary photo; 120 MiB goes multipart (aws-cli's
		// threshold is 8 MiB) with 15 parts.
		for _, size := range []int64{0, 6, 1 << 20, 120 << 20} {
			name := "cp-" + strconv.FormatInt(size, 10) + ".bin"
			path, sum := harness.WriteRandomFile(t, src, name, size)
			cli.run(t, "s3", "cp", path, "s3://"+bucket+"/cp/"+name)
			tg.assertBackendObject(t, bucket, "cp/"+name, sum, size)
			out := filepath.Join(dst, name)
			cli.run(t, "s3", "cp", "s3://"+bucket+"/cp/"+name, out)
			if got := harness.SHA256File(t, out); got != sum {
				t.Errorf("s3 cp down %s: sha256 %s, want %s", name, got, sum)
			}
			if size == 1<<20 || size == 120<<20 {
				// Server-side copy: CopyObject for 1 MiB, multipart
				// UploadPartCopy for 120 MiB (above aws-cli's 8 MiB
				// threshold). Both are operations the gateway intercepts.
				cli.run(t, "s3", "cp", "s3://"+bucket+"/cp/"+name, "s3://"+bucket+"/copy/"+name)
				tg.assertBackendObject(t, bucket, "copy/"+name, sum, size)
			}
		}
	})

	// Key names with spaces, unicode, '+' and parentheses are where SigV4
	// canonical-URI encoding goes wrong in proxies.
	syncFiles := map[string]int64{
		"a.jpg":                           150_000,
		"empty.txt":                       0,
		"2025/summer/IMG_0001.JPG":        210_000,
		"2025/summer/IMG 0002 (1).jpg":    33_333,
		"2025/winter/ünïcödé-日本.heic":     64 * 1024,
		"2025/winter/plus+sign&amp=x.png": 4_097,
		"deep/a/b/c/d/e.webp":             1,
		"big/video.mov":                   9 << 20, // multipart inside sync
	}
	syncSrc := filepath.Join(t.TempDir(), "album")
	sums := map[string]string{}
	for name, size := range syncFiles {
		_, sums[name] = harness.WriteRandomFile(t, syncSrc, name, size)
	}

	t.Run("sync", func(t *testing.T) {
		cli.run(t, "s3", "sync", syncSrc, "s3://"+bucket+"/album/")
		for name, sum := range sums {
			tg.assertBackendObject(t, bucket, "album/"+name, sum, syncFiles[name])
		}
		back := filepath.Join(t.TempDir(), "back")
		cli.run(t, "s3", "sync", "s3://"+bucket+"/album/", back)
		for name, sum := range sums {
			if got := harness.SHA256File(t, filepath.Join(back, name)); got != sum {
				t.Errorf("synced back %s: sha256 %s, want %s", name, got, sum)
			}
		}
		// A second sync of unchanged files must transfer nothing: aws-cli
		// compares sizes and times from the listing, so a gateway that
		// misreports either makes every sync re-upload everything.
		out := cli.run(t, "s3", "sync", syncSrc, "s3://"+bucket+"/album/")
		if strings.Contains(out, "upload:") {
			t.Errorf("second sync of unchanged files uploaded again:\n%s", out)
		}
	})

	t.Run("ls", func(t *testing.T) {
		out := cli.run(t, "s3", "ls", "s3://"+bucket+"/album/", "--recursive")
		got := map[string]int64{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			// "2025-01-02 03:04:05     150000 album/a.jpg"; keys may contain spaces.
			m := lsLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("unexpected ls line %q", line)
			}
			size, err := strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				t.Fatalf("unexpected ls line %q", line)
			}
			got[strings.TrimPrefix(m[2], "album/")] = size
		}
		if len(got) != len(syncFiles) {
			t.Errorf("ls listed %d objects, want %d:\n%s", len(got), len(syncFiles), out)
		}
		for name, size := range syncFiles {
			if got[name] != size {
				t.Errorf("ls: %q has size %d, want %d", name, got[name], size)
			}
		}
		if out := cli.run(t, "s3", "ls"); !strings.Contains(out, bucket) {
			t.Errorf("s3 ls does not list bucket %s:\n%s", bucket, out)
		}
	})

	t.Run("tagging", func(t *testing.T) {
		key := "album/a.jpg"
		cli.run(t, "s3api", "put-object-tagging", "--bucket", bucket, "--key", key,
			"--tagging", `{"TagSet":[{"Key":"camera","Value":"X100V"},{"Key":"trip","Value":"alps 2025"}]}`)
		out := cli.run(t, "s3api", "get-object-tagging", "--bucket", bucket, "--key", key, "--output", "json")
		var got struct{ TagSet []struct{ Key, Value string } }
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("get-object-tagging output %q: %v", out, err)
		}
		tags := map[string]string{}
		for _, kv := range got.TagSet {
			tags[kv.Key] = kv.Value
		}
		want := map[string]string{"camera": "X100V", "trip": "alps 2025"}
		if !maps.Equal(tags, want) {
			t.Errorf("get-object-tagging = %v, want %v", tags, want)
		}
		backend, err := tg.Backend.Client().GetObjectTagging(t.Context(), bucket, key, minio.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatalf("backend tagging: %v", err)
		}
		if !maps.Equal(backend.ToMap(), want) {
			t.Errorf("MinIO has tags %v, want %v", backend.ToMap(), want)
		}
		// Tagging must not have touched the object itself (gofakes3
		// overwrote objects with the tagging document).
		tg.assertBackendObject(t, bucket, key, sums["a.jpg"], syncFiles["a.jpg"])
	})

	// aws s3 presign makes legacy SigV2 query URLs by default, and SigV4
	// ones when the config says signature_version = s3v4; people use both.
	presigners := map[string]*awsCLI{
		"default": cli,
		"s3v4":    newAWSCLI(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, "", "signature_version = s3v4"),
	}
	for _, name := range []string{"default", "s3v4"} {
		t.Run("presign-"+name, func(t *testing.T) {
			curl := harness.Require(t, "curl")
			key := "album/2025/summer/IMG 0002 (1).jpg"
			url := strings.TrimSpace(presigners[name].run(t, "s3", "presign", "s3://"+bucket+"/"+key, "--expires-in", "600"))
			if strings.Contains(url, "X-Amz-Signature=") {
				t.Logf("aws s3 presign (%s config) made a SigV4 URL", name)
			} else {
				t.Logf("aws s3 presign (%s config) made a SigV2 URL", name)
			}
			want := sums["2025/summer/IMG 0002 (1).jpg"]

			out := filepath.Join(t.TempDir(), "curl.jpg")
			runCmd(t, harness.ClientEnv(t.TempDir()), curl, "-sS", "--fail-with-body", "-o", out, url)
			if got := harness.SHA256File(t, out); got != want {
				t.Errorf("curl of presigned URL: sha256 %s, want %s", got, want)
			}

			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("Go GET of presigned URL: %s\n%s", resp.Status, b)
			}
			got, _, err := harness.SHA256Reader(resp.Body)
			if err != nil || got != want {
				t.Errorf("Go GET of presigned URL: sha256 %s (%v), want %s", got, err, want)
			}
		})
	}

	t.Run("rm", func(t *testing.T) {
		cli.run(t, "s3", "rm", "s3://"+bucket, "--recursive")
		tg.assertBackendEmpty(t, bucket, "")
		cli.run(t, "s3", "rb", "s3://"+bucket)
		if ok, err := tg.Backend.Client().BucketExists(t.Context(), bucket); err != nil || ok {
			t.Errorf("bucket still in MinIO after s3 rb: %v %v", ok, err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		tg.requireGateway(t)
		entries := tg.checkBucketLogs(t, bucket)
		// Over plain HTTP aws-cli signs its payloads (DESIGN 4).
		for _, e := range entries {
			if slices.Contains(uploadOps, e.Op) && e.Status == http.StatusOK && e.Payload != "signed" {
				t.Errorf("aws-cli over HTTP: upload logged payload %q, want signed: %s", e.Payload, e)
			}
		}
	})
}

// TestAWSCLIHTTPS drives aws-cli, with default settings and told to trust
// the test CA through AWS_CA_BUNDLE, at the gateway's own HTTPS listener.
// Over HTTPS botocore 1.36+ does not sign the payload: it sends aws-chunked
// bodies with STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32 trailer, the
// encoding most real uploads use, and photogate's log must say so for
// every upload, multipart parts included.
func TestAWSCLIHTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	cli := newAWSCLI(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, tg.CAFile)
	bucket := harness.BucketName("awscli-tls")
	tg.dumpLogsOnFailure(t, bucket)
	cli.run(t, "s3", "mb", "s3://"+bucket)

	src, dst := t.TempDir(), t.TempDir()
	// 9 MiB is just over aws-cli's 8 MiB multipart threshold: UploadPart
	// with trailers, in two parts. 0 and 6 bytes are the edge cases of the
	// chunk framing.
	sizes := []int64{0, 6, 3 << 20, 9 << 20}
	for _, size := range sizes {
		name := "f-" + strconv.FormatInt(size, 10) + ".bin"
		path, sum := harness.WriteRandomFile(t, src, name, size)
		cli.run(t, "s3", "cp", path, "s3://"+bucket+"/"+name)
		// The aws-chunked framing and trailer must have been stripped:
		// MinIO must hold the plain bytes.
		tg.assertBackendObject(t, bucket, name, sum, size)
		out := filepath.Join(dst, name)
		cli.run(t, "s3", "cp", "s3://"+bucket+"/"+name, out)
		if got := harness.SHA256File(t, out); got != sum {
			t.Errorf("s3 cp down %s: sha256 %s, want %s", name, got, sum)
		}
	}
	// Three single PUTs and two parts.
	tg.checkUploadModes(t, "aws-cli", bucket, 5, unsignedTrailerCRC32, unsignedTrailerCRC64NVME)
	tg.checkBucketLogs(t, bucket)
}
