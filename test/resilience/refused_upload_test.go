//go:build unix

package resilience

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestRefusedMultipartUploadIsAbortedByItsUploader: aws-cli uploading
// past a size rule gets EntityTooLarge on a part and then aborts the
// upload. The uploader has write but not delete: abort must still be
// allowed, or the refused upload's parts stay in MinIO for good.
func TestRefusedMultipartUploadIsAbortedByItsUploader(t *testing.T) {
	t.Parallel()
	suite.Require(t)
	aws := harness.Require(t, "aws")
	m := suite.Backend
	const uploaderAK, uploaderSK = "PGUPLOADER0000000001", "uploader-secret-0123456789abcdef"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "photogate.yaml")
	if err := os.WriteFile(cfg, []byte(`users:
  - name: uploader
    access_key: `+uploaderAK+`
    secret_key: `+uploaderSK+`
    grants:
      - buckets: "*"
        actions: [read, write, list]
policy:
  buckets:
    - bucket: "refused-*"
      max_object_size: 5MiB
`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: suite.Binary, Backend: m, Env: []string{"PHOTOGATE_CONFIG=" + cfg}})
	bucket := harness.BucketName("refused")
	if err := g.Client().MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(big, harness.RandomBytes(20<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aws, "--endpoint-url", g.Endpoint(), "s3", "cp", big, "s3://"+bucket+"/big.jpg")
	cmd.Env = harness.ClientEnv(t.TempDir(), "AWS_ACCESS_KEY_ID="+uploaderAK, "AWS_SECRET_ACCESS_KEY="+uploaderSK,
		"AWS_DEFAULT_REGION="+harness.Region, "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "EntityTooLarge") {
		t.Fatalf("aws s3 cp of 20 MiB into a 5 MiB bucket: err %v, want EntityTooLarge:\n%s", err, out)
	}

	for up := range m.Client().ListIncompleteUploads(ctx, bucket, "", true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		t.Errorf("MinIO still holds the refused upload %s of %s: aws-cli's abort was refused", up.UploadID, up.Key)
	}
	aborted := g.RequestLogs(func(e harness.LogEntry) bool { return e.Op == "AbortMultipartUpload" })
	if len(aborted) == 0 {
		t.Errorf("aws-cli sent no AbortMultipartUpload; output:\n%s", out)
	}
	for _, e := range aborted {
		if e.Status != 204 {
			t.Errorf("AbortMultipartUpload answered %d, want 204", e.Status)
		}
	}
}
