// Package deploy tests the Kubernetes artifacts in deploy/: the Helm chart
// lints, renders objects whose ports, probes and environment agree with
// each other, and — run as the pod would run it, against a real MinIO —
// the rendered configuration and environment start a photogate that
// answers its probes and serves S3 with the configured keys. The plain
// manifests in deploy/kubernetes are the chart rendered with fixed values.
package deploy

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"

	"github.com/photogate/photogate/test/harness"
)

// helmVersion pins helm; like promtool it is built from the Go module
// proxy into .tools/bin on first use.
const helmVersion = "v3.22.0"

func helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := harness.GoTool(t, "helm", "helm.sh/helm/v3/cmd/helm", helmVersion, "PHOTOGATE_HELM")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	cmd.Dir = root(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func root(t *testing.T) string {
	t.Helper()
	r, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const chart = "deploy/helm/photogate"

func TestHelmLint(t *testing.T) {
	helm(t, "lint", chart, "--strict", "--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b")
	// Without backend credentials (and no existing Secret) rendering fails
	// with a message, rather than deploying a photogate that cannot start.
	bin := harness.GoTool(t, "helm", "helm.sh/helm/v3/cmd/helm", helmVersion, "PHOTOGATE_HELM")
	out, err := exec.Command(bin, "template", "x", filepath.Join(root(t), chart)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "secrets.backendAccessKey") {
		t.Fatalf("template without backend credentials: %v\n%s", err, out)
	}
}

// TestChartRunsPhotogate renders the chart with a user, a token and a
// policy in its values and runs photogate from the rendering (startPod)
// in front of a real MinIO: the token opens the API, the user uploads, the
// policy refuses.
func TestChartRunsPhotogate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs helm, MinIO and the photogate binary")
	}
	m := harness.StartMinIO(t)
	accessKey, secretKey := "PGCHART"+strings.ToUpper(harness.RandomString(9)), harness.RandomString(40)
	rendered := helm(t, "template", "pg", chart, "--namespace", "photos",
		"--set", "backend.endpoint="+m.Endpoint(),
		"--set", "secrets.backendAccessKey="+m.AccessKey()+",secrets.backendSecretKey="+m.SecretKey(),
		"--set", "secrets.accessKey="+accessKey+",secrets.secretKey="+secretKey+",secrets.adminToken=chart-admin-token",
		"--set-json", `config.policy.buckets=[{"bucket":"photos-*","allowed_types":["image/*"],"max_object_size":"10MiB"}]`)
	objs := decodeOrFail(t, rendered)
	if secret := get[*corev1.Secret](t, objs, "Secret/pg-photogate"); secret.StringData["backend-access-key"] != m.AccessKey() {
		t.Fatalf("Secret %+v", secret.StringData)
	}
	p := startPod(t, objs, "pg-photogate", m.Endpoint())
	admin := p.adminURL
	// The admin token from the Secret opens the API.
	req, _ := http.NewRequest(http.MethodGet, admin+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer chart-admin-token")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin API with the chart's token: %v %v", resp, err)
	}

	// The S3 user from the Secret works, and the policy from values applies.
	s3, err := minio.New(p.s3Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s3.MakeBucket(ctx, "photos-k8s", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket through the chart's photogate: %v", err)
	}
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
	if _, err := s3.PutObject(ctx, "photos-k8s", "a.jpg", bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject of a JPEG: %v", err)
	}
	zip := []byte("PK\x03\x04\x14\x00\x00\x00\x00\x00 not a photo at all, only pretending")
	_, err = s3.PutObject(ctx, "photos-k8s", "b.jpg", bytes.NewReader(zip), int64(len(zip)), minio.PutObjectOptions{ContentType: "image/jpeg"})
	if minio.ToErrorResponse(err).Code != "InvalidArgument" {
		t.Fatalf("a ZIP named .jpg into a bucket whose values allow image/* only: %v", err)
	}
	if _, err := m.Client().StatObject(ctx, "photos-k8s", "a.jpg", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the JPEG is not in MinIO: %v", err)
	}
}

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/photogate.yaml from the chart (make manifests)")

// TestPlainManifestsAreTheChart: deploy/kubernetes/photogate.yaml is the
// chart rendered with manifestArgs; a chart change without regenerating it
// (make manifests, which runs this test with -update) fails.
func TestPlainManifestsAreTheChart(t *testing.T) {
	want := manifestHeader + helm(t, manifestArgs()...)
	path := filepath.Join(root(t), "deploy", "kubernetes", "photogate.yaml")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("deploy/kubernetes/photogate.yaml is not the chart's current rendering: run make manifests")
	}
}

// manifestArgs renders the plan's full set: every optional object on. The
// Secret is the chart's own, with every value empty: a template to fill in.
// The HPA is pinned to one replica (the bbolt index allows no more) and
// becomes useful with the PostgreSQL-backed mode.
func manifestArgs() []string {
	return []string{"template", "photogate", chart, "--namespace", "photogate",
		"--set", "secrets.template=true",
		"--set", "namespace.create=true,ingress.enabled=true,networkPolicy.enabled=true,autoscaling.enabled=true"}
}

const manifestHeader = `# Generated by "make manifests" from deploy/helm/photogate; do not edit.
# Namespace, ConfigMap, Secret, StatefulSet with its PersistentVolumeClaim
# template, Services (S3, admin, and the headless one governing the
# StatefulSet), Ingress (ingress-nginx, TLS, unlimited streamed
# bodies), HorizontalPodAutoscaler (pinned to one replica while the index is
# bbolt) and NetworkPolicy.
# The Secret below is a template with empty values: fill in its stringData,
# or delete that document (applying it would blank an existing Secret) and
# create the Secret with kubectl:
#   kubectl -n photogate create secret generic photogate \
#     --from-literal=backend-access-key=... --from-literal=backend-secret-key=... \
#     --from-literal=admin-token=... --from-literal=access-key=... --from-literal=secret-key=...
# access-key/secret-key are the first S3 user (full access); leave them out
# only if the ConfigMap's photogate.yaml lists users, or photogate refuses
# to start with "no users configured".
# Set PHOTOGATE_BACKEND_ENDPOINT (default http://minio:9000) and the
# Ingress host below.
`
