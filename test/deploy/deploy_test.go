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
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.yaml.in/yaml/v3"

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

// object is the part of a Kubernetes object these tests read.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Ports []struct {
			Name       string `yaml:"name"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Spec struct {
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name, Key string
				Optional  bool
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	StartupProbe   probe `yaml:"startupProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func parse(t *testing.T, manifests string) map[string]object {
	t.Helper()
	out := map[string]object{}
	dec := yaml.NewDecoder(strings.NewReader(manifests))
	for {
		var o object
		err := dec.Decode(&o)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("rendered manifests: %v", err)
		}
		if o.Kind != "" {
			out[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
}

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

// TestChartRunsPhotogate renders the chart and runs photogate the way its
// StatefulSet would: the ConfigMap's file as PHOTOGATE_CONFIG, the literal
// and Secret-sourced environment, in front of a real MinIO. Only the
// addresses and paths that a pod has to itself are moved to loopback ports
// and temporary directories.
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
	objs := parse(t, rendered)
	sts, ok := objs["StatefulSet/pg-photogate"]
	if !ok {
		t.Fatalf("no StatefulSet pg-photogate in:\n%s", rendered)
	}
	cm, secret := objs["ConfigMap/pg-photogate"], objs["Secret/pg-photogate"]
	if cm.Data["photogate.yaml"] == "" || secret.StringData["backend-access-key"] != m.AccessKey() {
		t.Fatalf("ConfigMap %+v / Secret %+v", cm.Data, secret.StringData)
	}
	c := sts.Spec.Template.Spec.Containers[0]

	// Ports, probes and services agree with the listen addresses.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch ref := e.ValueFrom.SecretKeyRef; {
		case ref.Key != "":
			if ref.Name != "pg-photogate" {
				t.Errorf("env %s from Secret %q, want pg-photogate", e.Name, ref.Name)
			}
			env[e.Name] = secret.StringData[ref.Key]
		default:
			env[e.Name] = e.Value
		}
	}
	for name, variable := range map[string]string{"s3": "PHOTOGATE_LISTEN", "admin": "PHOTOGATE_ADMIN_LISTEN"} {
		if want := "0.0.0.0:" + strconv.Itoa(ports[name]); env[variable] != want {
			t.Errorf("%s = %q but container port %q is %d", variable, env[variable], name, ports[name])
		}
	}
	for _, svc := range []string{"Service/pg-photogate", "Service/pg-photogate-admin"} {
		for _, p := range objs[svc].Spec.Ports {
			if _, ok := ports[p.TargetPort]; !ok {
				t.Errorf("%s targets port %q, which the container does not have", svc, p.TargetPort)
			}
		}
	}
	probes := map[string]probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	for name, p := range probes {
		if p.HTTPGet.Port != "admin" || p.HTTPGet.Path == "" {
			t.Errorf("%s probe %+v: want an HTTP GET on the admin port", name, p.HTTPGet)
		}
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	if env["PHOTOGATE_DATA_DIR"] != mounts["data"] || filepath.Dir(env["PHOTOGATE_CONFIG"]) != mounts["config"] {
		t.Errorf("data dir %q / config %q do not match the mounts %v", env["PHOTOGATE_DATA_DIR"], env["PHOTOGATE_CONFIG"], mounts)
	}

	// Run it as the pod would.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "photogate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cm.Data["photogate.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	s3Port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	adminPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env["PHOTOGATE_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", s3Port)
	env["PHOTOGATE_ADMIN_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", adminPort)
	env["PHOTOGATE_DATA_DIR"] = filepath.Join(dir, "data")
	env["PHOTOGATE_CONFIG"] = cfgPath
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, c.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("photogate output:\n%s", logs.String())
		}
	})
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	deadline := time.Now().Add(time.Minute)
	for name, p := range probes {
		for {
			resp, err := http.Get(admin + p.HTTPGet.Path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s probe GET %s never answered 200 (last: %v)", name, p.HTTPGet.Path, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The admin token from the Secret opens the API.
	req, _ := http.NewRequest(http.MethodGet, admin+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer chart-admin-token")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admin API with the chart's token: %v %v", resp, err)
	}

	// The S3 user from the Secret works, and the policy from values applies.
	s3, err := minio.New(fmt.Sprintf("127.0.0.1:%d", s3Port), &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), MaxRetries: 1})
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
# template, Services, Ingress (ingress-nginx, TLS, unlimited streamed
# bodies), HorizontalPodAutoscaler (pinned to one replica while the index is
# bbolt) and NetworkPolicy.
# The Secret below is a template with empty values: fill in its stringData,
# or delete that document (applying it would blank an existing Secret) and
# create the Secret with kubectl:
#   kubectl -n photogate create secret generic photogate \
#     --from-literal=backend-access-key=... --from-literal=backend-secret-key=... \
#     --from-literal=admin-token=... --from-literal=access-key=... --from-literal=secret-key=...
# Set PHOTOGATE_BACKEND_ENDPOINT (default http://minio:9000) and the
# Ingress host below.
`
