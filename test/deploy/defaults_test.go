package deploy

// The chart as a new user installs it: the default values plus the
// backend's keys and nothing else, the NOTES.txt they read next, and the
// image the docs tell them to build.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/test/harness"
)

// defaultsArgs renders the release "pg" in "photos" with the default values
// and only the one thing they cannot default: the backend's keys.
func defaultsArgs(backendAccessKey, backendSecretKey string) []string {
	return []string{"pg", chart, "--namespace", "photos",
		"--set", "secrets.backendAccessKey=" + backendAccessKey + ",secrets.backendSecretKey=" + backendSecretKey}
}

// TestDefaultsPlusBackendSecretBecomeReady: with no S3 user configured the
// chart generates one, so photogate starts (instead of crash-looping on
// "no users configured"), /readyz answers 200 on the default volume size,
// and the keys read from the Secret the way NOTES.txt says sign S3
// requests that reach MinIO.
func TestDefaultsPlusBackendSecretBecomeReady(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs helm, MinIO and the photogate binary")
	}
	m := harness.StartMinIO(t)
	args := defaultsArgs(m.AccessKey(), m.SecretKey())
	objs := decodeOrFail(t, helm(t, append([]string{"template"}, args...)...))
	c := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate").Spec.Template.Spec.Containers[0]
	if env := podEnv(t, objs, c); env["PHOTOGATE_BACKEND_ENDPOINT"] != "http://minio:9000" {
		t.Fatalf("backend endpoint %q: the test replaces the in-cluster default http://minio:9000 only", env["PHOTOGATE_BACKEND_ENDPOINT"])
	}
	p := startPod(t, objs, "pg-photogate", m.Endpoint())
	if p.env["GOMEMLIMIT"] == "" {
		t.Error("photogate ran without GOMEMLIMIT")
	}

	// The keys, read from the Secret and key names NOTES.txt gives.
	refs := notesCommands(t, renderNotes(t, args...))
	secret := get[*corev1.Secret](t, objs, "Secret/"+refs.secret)
	accessKey, secretKey := secret.StringData[refs.accessKeyField], secret.StringData[refs.secretKeyField]
	if accessKey == "" || secretKey == "" {
		t.Fatalf("Secret %s: %s=%q, %s has %d characters: want a generated pair", refs.secret, refs.accessKeyField, accessKey, refs.secretKeyField, len(secretKey))
	}
	if !regexp.MustCompile(`^[A-Z0-9]{16,}$`).MatchString(accessKey) || len(secretKey) < 40 {
		t.Errorf("generated access key %q (want 16+ upper-case letters and digits), secret key of %d characters (want 40+)", accessKey, len(secretKey))
	}
	s3, err := minio.New(p.s3Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s3.MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket with the generated keys: %v", err)
	}
	body := "not only photos"
	if _, err := s3.PutObject(ctx, "photos", "notes.txt", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject with the generated keys: %v", err)
	}
	if _, err := m.Client().StatObject(ctx, "photos", "notes.txt", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the object is not in MinIO: %v", err)
	}
	wrong := credentials.NewStaticV4(accessKey, secretKey+"x", "")
	if other, err := minio.New(p.s3Addr, &minio.Options{Creds: wrong, MaxRetries: 1}); err != nil {
		t.Fatal(err)
	} else if _, err := other.BucketExists(ctx, "photos"); err == nil {
		t.Fatal("a wrong secret key was accepted")
	}

	// Each render of a fresh install generates its own pair: nothing fixed
	// in the chart is anybody's key.
	again := decodeOrFail(t, helm(t, append([]string{"template"}, args...)...))
	if get[*corev1.Secret](t, again, "Secret/pg-photogate").StringData["access-key"] == accessKey {
		t.Error("two renders generated the same access key")
	}
}

// TestChartRefusesWhatCannotStart: values that would deploy a pod that
// cannot start fail the install with a message, not a crash-loop.
func TestChartRefusesWhatCannotStart(t *testing.T) {
	bin := harness.GoTool(t, "helm", "helm.sh/helm/v3/cmd/helm", helmVersion, "PHOTOGATE_HELM")
	for _, c := range []struct{ set, want string }{
		{"secrets.accessKey=AKIAONLYHALF", "secrets.accessKey and secrets.secretKey must be set together"},
		{"resources.limits.memory=half-a-gig", `"half-a-gig" is not a quantity`},
		{"persistence.size=lots", `"lots" is not a quantity`},
	} {
		args := append([]string{"template"}, defaultsArgs("a", "b")...)
		args[2] = filepath.Join(root(t), chart)
		out, err := exec.Command(bin, append(args, "--set", c.set)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("--set %s: %v, want an error with %q:\n%s", c.set, err, c.want, out)
		}
	}
}

// TestUsersFromValuesAreNotJoinedByAGeneratedOne: a generated user exists
// only while there is no other; with config.users or secrets.accessKey the
// Secret holds what the values say and nothing more.
func TestUsersFromValuesAreNotJoinedByAGeneratedOne(t *testing.T) {
	for name, set := range map[string]string{
		"config.users":      `config.users=[{"name":"u","access_key":"AKIAUSER","secret_key_file":"/run/secrets/photogate-users/u","grants":[{"buckets":"*","actions":["read"]}]}]`,
		"secrets.accessKey": `secrets={"accessKey":"AKIAGIVEN","secretKey":"given-secret","backendAccessKey":"a","backendSecretKey":"b"}`,
	} {
		t.Run(name, func(t *testing.T) {
			objs := decodeOrFail(t, helm(t, append(append([]string{"template"}, defaultsArgs("a", "b")...), "--set-json", set)...))
			data := get[*corev1.Secret](t, objs, "Secret/pg-photogate").StringData
			want := map[string]string{"config.users": "", "secrets.accessKey": "AKIAGIVEN"}[name]
			if data["access-key"] != want {
				t.Errorf("access-key %q, want %q", data["access-key"], want)
			}
		})
	}
}

// notesRefs is what NOTES.txt's commands name, checked against the rendering.
type notesRefs struct {
	secret                         string // Secret holding the first user's keys
	accessKeyField, secretKeyField string
}

var (
	notesPortForward = regexp.MustCompile(`^kubectl -n (\S+) port-forward svc/(\S+) (\d+):(\d+)$`)
	notesRawProxy    = regexp.MustCompile(`^kubectl get --raw /api/v1/namespaces/([^/]+)/services/([^/:]+):([^/]+)/proxy(/\S+)$`)
	notesRollout     = regexp.MustCompile(`^kubectl -n (\S+) rollout status (statefulset|deployment)/(\S+) --timeout=\S+$`)
	notesSecretKey   = regexp.MustCompile(`^export (AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)="\$\(kubectl -n (\S+) get secret (\S+) -o jsonpath='\{\.data\.([\w-]+)\}' \| base64 -d\)"$`)
	notesAWS         = regexp.MustCompile(`^aws --endpoint-url http://127\.0\.0\.1:(\d+) s3 `)
)

// notesCommands checks every command NOTES.txt shows for the default
// release pg in photos against that release's rendering: each names
// objects, ports and keys that exist, the port-forward stands alone on its
// line (it runs until interrupted, so nothing chained after it would ever
// run), and the S3 client dials the port-forward's local port.
func notesCommands(t *testing.T, notes string) notesRefs {
	t.Helper()
	return notesCommandsFor(t, notes, defaultsArgs("a", "b")...)
}

// notesCommandsFor is notesCommands for the release rendered with args
// (release pg in photos too), with the StatefulSet or, with the
// PostgreSQL index, the Deployment.
func notesCommandsFor(t *testing.T, notes string, args ...string) notesRefs {
	t.Helper()
	objs := decodeOrFail(t, helm(t, append([]string{"template"}, args...)...))
	kind, spec := podSpec(t, objs, "pg-photogate")
	servicePort := func(service, port string) bool {
		svc, ok := objs["Service/"+service].(*corev1.Service)
		if !ok {
			return false
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == port || strconv.Itoa(int(p.Port)) == port {
				return true
			}
		}
		return false
	}
	var refs notesRefs
	var forwarded, dialed string
	seen := map[string]bool{}
	for _, line := range strings.Split(notes, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "kubectl") && !strings.HasPrefix(line, "export") && !strings.HasPrefix(line, "aws") {
			continue
		}
		var m []string
		match := func(re *regexp.Regexp) bool { m = re.FindStringSubmatch(line); return m != nil }
		switch {
		case match(notesPortForward):
			seen["port-forward"] = true
			if m[1] != "photos" || !servicePort(m[2], m[4]) {
				t.Errorf("port-forward to Service %s port %s in %s, which the rendering lacks: %s", m[2], m[4], m[1], line)
			}
			forwarded = m[3]
		case match(notesRawProxy):
			seen["readyz"] = true
			if m[1] != "photos" || !servicePort(m[2], m[3]) || m[4] != spec.Containers[0].ReadinessProbe.HTTPGet.Path {
				t.Errorf("API-server proxy to %s:%s%s in %s: want a rendered Service's port and the readiness path: %s", m[2], m[3], m[4], m[1], line)
			}
		case match(notesRollout):
			seen["rollout"] = true
			if m[1] != "photos" || !strings.EqualFold(m[2], kind) || m[3] != "pg-photogate" {
				t.Errorf("rollout status of %s/%s in %s, want %s/pg-photogate in photos", m[2], m[3], m[1], strings.ToLower(kind))
			}
		case match(notesSecretKey):
			seen[m[1]] = true
			if _, ok := get[*corev1.Secret](t, objs, "Secret/"+m[3]).StringData[m[4]]; m[2] != "photos" || !ok {
				t.Errorf("%s from Secret %s key %s in %s, which the rendering lacks", m[1], m[3], m[4], m[2])
			}
			refs.secret = m[3]
			if m[1] == "AWS_ACCESS_KEY_ID" {
				refs.accessKeyField = m[4]
			} else {
				refs.secretKeyField = m[4]
			}
		case match(notesAWS):
			seen["aws"] = true
			dialed = m[1]
		default:
			t.Errorf("NOTES.txt command not understood (chained, or naming something unchecked): %s", line)
		}
	}
	for _, step := range []string{"rollout", "readyz", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "port-forward", "aws"} {
		if !seen[step] {
			t.Errorf("NOTES.txt has no %s command:\n%s", step, notes)
		}
	}
	if forwarded != dialed {
		t.Errorf("aws dials local port %s, port-forward listens on %s", dialed, forwarded)
	}
	if t.Failed() {
		t.FailNow()
	}
	return refs
}

// renderNotes renders NOTES.txt, which helm template leaves out and helm
// install --dry-run renders only with a cluster to talk to: a copy of the
// chart carries the file as notes.txt and a template that passes it to
// tpl, with the same values and the same release, into a ConfigMap.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	src := filepath.Join(root(t), chart)
	dst := filepath.Join(t.TempDir(), "photogate")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(src, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const carrier = `apiVersion: v1
kind: ConfigMap
metadata: {name: rendered-notes, namespace: {{ .Release.Namespace }}}
data:
  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}
`
	for name, content := range map[string][]byte{"notes.txt": notes, "templates/rendered-notes.yaml": []byte(carrier)} {
		if err := os.WriteFile(filepath.Join(dst, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == chart {
			args[i] = dst
		}
	}
	out := helm(t, append(append([]string{"template"}, args...), "--show-only", "templates/rendered-notes.yaml")...)
	cm := get[*corev1.ConfigMap](t, decodeOrFail(t, out), "ConfigMap/rendered-notes")
	return cm.Data["notes"]
}

// TestNotesNameWhatIsRendered: the commands NOTES.txt prints with the
// defaults, and with a user in config.users (then no keys to read).
func TestNotesNameWhatIsRendered(t *testing.T) {
	notes := renderNotes(t, defaultsArgs("a", "b")...)
	refs := notesCommands(t, notes)
	if refs.secret != "pg-photogate" || refs.accessKeyField != "access-key" || refs.secretKeyField != "secret-key" {
		t.Errorf("NOTES.txt reads the keys from %+v", refs)
	}
	if !strings.Contains(notes, "generated") {
		t.Errorf("NOTES.txt does not say the first user's keys were generated:\n%s", notes)
	}
	withUsers := renderNotes(t, append(defaultsArgs("a", "b"), "--set-json",
		`config.users=[{"name":"u","access_key":"AKIAUSER","secret_key":"s","grants":[{"buckets":"*","actions":["read"]}]}]`)...)
	if strings.Contains(withUsers, "jsonpath") || !strings.Contains(withUsers, "config.users") {
		t.Errorf("with config.users, NOTES.txt should point at them, not at generated keys:\n%s", withUsers)
	}
}

// TestGoMemLimitFollowsTheMemoryLimit: GOMEMLIMIT is 80 % of the
// container's memory limit, for the quantity forms values use, and unset
// without a limit.
func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"1.5Gi", []string{"--set", "resources.limits.memory=1.5Gi"}},
		{"decimal 700M", []string{"--set", "resources.limits.memory=700M"}},
		{"bytes", []string{"--set-json", "resources.limits.memory=536870912"}},
		{"prod", []string{"-f", valuesProd}},
		{"no limit", []string{"--set", "resources.limits.memory=null"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := decodeOrFail(t, helm(t, append(append([]string{"template"}, defaultsArgs("a", "b")...), c.args...)...))
			container := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate").Spec.Template.Spec.Containers[0]
			limit, limited := container.Resources.Limits[corev1.ResourceMemory]
			got, set := "", false
			for _, e := range container.Env {
				if e.Name == "GOMEMLIMIT" {
					got, set = e.Value, true
				}
			}
			if !limited {
				if set {
					t.Errorf("GOMEMLIMIT=%s without a memory limit", got)
				}
				return
			}
			if want := limit.Value() * 80 / 100; got != strconv.FormatInt(want, 10) {
				t.Errorf("memory limit %s: GOMEMLIMIT=%q, want %d (80 %%)", limit.String(), got, want)
			}
		})
	}
}

// TestMinFreeDiskFitsTheVolume: the readiness check's free-space minimum is
// a tenth of the volume, at most 1 GiB, so a fresh small volume is ready;
// a min_free_disk in config wins.
func TestMinFreeDiskFitsTheVolume(t *testing.T) {
	for _, c := range []struct {
		size string
		want int64
	}{
		{"1Gi", 1 << 30 / 10}, {"5Gi", 5 << 30 / 10}, {"10Gi", 1 << 30}, {"100Gi", 1 << 30}, {"500M", 50_000_000},
	} {
		objs := decodeOrFail(t, helm(t, append(append([]string{"template"}, defaultsArgs("a", "b")...), "--set", "persistence.size="+c.size)...))
		got := minFreeDisk(t, objs)
		size := resource.MustParse(c.size)
		if got != c.want || got > size.Value()/10 {
			t.Errorf("persistence.size %s: min_free_disk %d, want %d", c.size, got, c.want)
		}
	}
	objs := decodeOrFail(t, helm(t, append(append([]string{"template"}, defaultsArgs("a", "b")...), "--set", "config.min_free_disk=3GiB")...))
	if got := minFreeDisk(t, objs); got != 3<<30 {
		t.Errorf("config.min_free_disk=3GiB rendered as %d", got)
	}
}

func minFreeDisk(t *testing.T, objs rendered) int64 {
	t.Helper()
	var cfg struct {
		MinFreeDisk string `yaml:"min_free_disk"`
	}
	if err := yaml.Unmarshal([]byte(get[*corev1.ConfigMap](t, objs, "ConfigMap/pg-photogate").Data["photogate.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	size, err := policy.ParseSize(cfg.MinFreeDisk)
	if err != nil {
		t.Fatalf("min_free_disk %q: %v", cfg.MinFreeDisk, err)
	}
	return int64(size)
}

// assertHeadlessGoverningService: a StatefulSet's serviceName must be a
// headless Service selecting its pods, which gives each pod its DNS name.
func assertHeadlessGoverningService(t *testing.T, objs rendered, sts *appsv1.StatefulSet) {
	t.Helper()
	svc, ok := objs["Service/"+sts.Spec.ServiceName].(*corev1.Service)
	if !ok {
		t.Errorf("StatefulSet %s: serviceName %q is not a rendered Service", sts.Name, sts.Spec.ServiceName)
		return
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("StatefulSet %s: Service %s has clusterIP %q, want None (headless)", sts.Name, svc.Name, svc.Spec.ClusterIP)
	}
	for k, v := range svc.Spec.Selector {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("headless Service %s selects %s=%s, which the pods lack", svc.Name, k, v)
		}
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("headless Service %s selects nothing", svc.Name)
	}
}

// dockerImageRef is an image named on a docker, kind or minikube command
// line in the docs: the one the chart must run.
var dockerImageRef = regexp.MustCompile(`(?:^|\s)(photogate(?::[^\s]*)?)(?:\s|$)`)

// TestDocsBuildTheImageTheChartRuns: the image docs/deployment.md builds
// (and loads into a local cluster) is the one the chart's defaults run, and
// the docs say how to install the helm the tests pin.
func TestDocsBuildTheImageTheChartRuns(t *testing.T) {
	objs := decodeOrFail(t, helm(t, append([]string{"template"}, defaultsArgs("a", "b")...)...))
	image := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate").Spec.Template.Spec.Containers[0].Image
	b, err := os.ReadFile(filepath.Join(root(t), "docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(b), "\\\n", " ")
	found := 0
	for _, line := range strings.Split(doc, "\n") {
		if !regexp.MustCompile(`^\s*(docker (build|run)|kind load|minikube image load)\b`).MatchString(line) {
			continue
		}
		for _, m := range dockerImageRef.FindAllStringSubmatch(line, -1) {
			found++
			if m[1] != image {
				t.Errorf("docs/deployment.md uses image %s, the chart runs %s: %s", m[1], image, strings.TrimSpace(line))
			}
		}
	}
	if found < 2 {
		t.Errorf("docs/deployment.md names the image %d times on docker/kind/minikube lines; want the build and the run at least", found)
	}
	for _, want := range []string{"make helm", helmVersion} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docs/deployment.md does not mention %q (how to install helm)", want)
		}
	}
	if !strings.Contains(string(b), "helm.sh/docs/intro/install") {
		t.Error("docs/deployment.md does not link helm's own installation guide")
	}
}
