package postupload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// postResponse is S3's answer to a POST upload with success_action_status
// 201.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// checkPostResponse fails unless body is the PostResponse S3 sends for
// bucket/key, with MinIO's etag (unquoted) and a Location under endpoint.
func checkPostResponse(t *testing.T, body []byte, endpoint, bucket, key, etag string) {
	t.Helper()
	var pr postResponse
	if err := xml.Unmarshal(body, &pr); err != nil {
		t.Errorf("201 body is no PostResponse: %v: %q", err, body)
		return
	}
	if pr.Bucket != bucket || pr.Key != key || strings.Trim(pr.ETag, `"`) != etag || etag == "" {
		t.Errorf("PostResponse %+v; want bucket %s, key %s, MinIO's etag %q", pr, bucket, key, etag)
	}
	// S3 and MinIO build Location from the request's own scheme and host.
	if want := endpoint + "/" + bucket + "/" + key; pr.Location != want {
		t.Errorf("PostResponse Location: photogate answered %q; S3 and MinIO answer %q (the scheme and host the form was posted to)", pr.Location, want)
	}
}

// boto3Post is what testdata/boto3_post.py saw.
type boto3Post struct {
	URL        string   `json:"url"`
	FieldNames []string `json:"field_names"`
	Status     int      `json:"status"`
	Body       string   `json:"body"`
	ETag       string   `json:"etag"`
	Location   string   `json:"location"`
}

// TestBoto3PresignedPost: boto3's generate_presigned_post, SigV4 and
// SigV2, posted with requests over photogate's HTTPS listener (both
// trusting the test CA through AWS_CA_BUNDLE), with the key built from
// ${filename}.
func TestBoto3PresignedPost(t *testing.T) {
	requireSetup(t)
	py := harness.Require(t, "boto3")
	uploader := newUser("uploader")
	bucket := harness.BucketName("post-boto3")
	e := start(t, "users:\n"+uploader.entry("read, write, list")+
		"policy:\n  buckets:\n    - bucket: \""+bucket+"\"\n      allowed_types: [\"image/*\"]\n",
		harness.GatewayOptions{TLS: true})
	makeBuckets(t, bucket)
	p := testPhoto(t, gpsPhoto)
	dir := t.TempDir()
	datafile := filepath.Join(dir, "upload.bin")
	if err := os.WriteFile(datafile, p.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "test", "postupload", "testdata", "boto3_post.py")

	for _, tc := range []struct {
		sigver, sigField, keyTemplate, filename string
	}{
		{"s3v4", "x-amz-signature", "v4/${filename}", "IMG_0001.JPG"},
		{"s3", "signature", "v2/album/${filename}", "IMG_0002.JPG"},
	} {
		t.Run(tc.sigver, func(t *testing.T) {
			home := t.TempDir()
			env := harness.ClientEnv(home,
				"AWS_ACCESS_KEY_ID="+uploader.AccessKey,
				"AWS_SECRET_ACCESS_KEY="+uploader.SecretKey,
				"AWS_CONFIG_FILE="+filepath.Join(home, "none"),
				"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
				"AWS_CA_BUNDLE="+e.g.CAFile(),
			)
			out := runCmd(t, env, py, script, e.g.Endpoint(), bucket, tc.sigver, tc.keyTemplate, datafile, tc.filename, "image/jpeg")
			var r boto3Post
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("boto3_post.py printed %q: %v", out, err)
			}
			if !slices.Contains(r.FieldNames, tc.sigField) {
				t.Fatalf("boto3 signature_version %s made fields %v, without %s: not the signature this case tests", tc.sigver, r.FieldNames, tc.sigField)
			}
			key := strings.ReplaceAll(tc.keyTemplate, "${filename}", tc.filename)
			if r.Status != http.StatusCreated {
				t.Fatalf("requests.post of boto3's form (%s): %d %s", tc.sigver, r.Status, r.Body)
			}
			etag := e.checkStored(t, wantObject{
				Bucket: bucket, Key: key, SHA256: p.SHA256, Size: int64(len(p.Data)), ContentType: "image/jpeg",
				Meta:  map[string]string{"camera": "boto3-" + tc.sigver, "album": "post upload"},
				Photo: &p,
			})
			checkPostResponse(t, []byte(r.Body), e.g.Endpoint(), bucket, key, etag)
			if strings.Trim(r.ETag, `"`) != etag {
				t.Errorf("ETag header %q, MinIO's %q", r.ETag, etag)
			}
		})
	}
}

// runCmd runs an external client with env and returns its stdout, failing
// the test with both outputs if it fails.
func runCmd(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
