package deploy

// The several-replica mode: with index.postgres.existingSecret the chart
// renders a Deployment of interchangeable pods sharing the index in
// PostgreSQL, with an autoscaler, a disruption budget, topology spread and
// a drain on SIGTERM; two processes started from that rendering share one
// index.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/test/harness"
)

// postgresArgs renders release pg in photos with the index in PostgreSQL,
// its URL in Secret photogate-pg (key url, the default), plus extra.
func postgresArgs(extra ...string) []string {
	return append(append(defaultsArgs("a", "b"), "--set", "index.postgres.existingSecret=photogate-pg"), extra...)
}

func renderPostgres(t *testing.T, extra ...string) rendered {
	t.Helper()
	return decodeOrFail(t, helm(t, append([]string{"template"}, postgresArgs(extra...)...)...))
}

// selects reports whether the label selector matchLabels picks pods
// labelled podLabels; an empty selector would pick every pod and is false.
func selects(matchLabels, podLabels map[string]string) bool {
	return len(matchLabels) > 0 && labels.SelectorFromSet(matchLabels).Matches(labels.Set(podLabels))
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// TestPostgresRendersReplicatedDeployment: the PostgreSQL values render a
// Deployment of two pods that roll one at a time without losing capacity,
// a disruption budget and topology spread over those pods, the index URL
// from the Secret and a drain that fits the grace period, and nothing of
// the bbolt mode: no StatefulSet, no volume claim, no headless Service.
func TestPostgresRendersReplicatedDeployment(t *testing.T) {
	objs := renderPostgres(t)
	want := []string{"ConfigMap/pg-photogate", "Deployment/pg-photogate", "PodDisruptionBudget/pg-photogate", "Secret/pg-photogate",
		"Service/pg-photogate", "Service/pg-photogate-admin"}
	if got := objs.kinds(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rendered %v\nwant     %v", got, want)
	}
	d := get[*appsv1.Deployment](t, objs, "Deployment/pg-photogate")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas %v, want 2", d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.String() != "0" ||
		s.RollingUpdate.MaxSurge == nil || s.RollingUpdate.MaxSurge.String() != "1" {
		t.Errorf("Deployment strategy %+v: want RollingUpdate with maxUnavailable 0, maxSurge 1", s)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	// Every mount has a volume, and the data dir's is an emptyDir: with
	// PostgreSQL nothing durable lives there.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("mount %s (%s) has no volume", m.Name, m.MountPath)
		}
	}
	if v := volumes["data"]; v.EmptyDir == nil {
		t.Errorf("data volume %+v, want an emptyDir", v.VolumeSource)
	}

	// The URL only from the Secret, which must exist (not optional).
	url, ok := envVar(c, "PHOTOGATE_INDEX_URL")
	if !ok || url.Value != "" || url.ValueFrom == nil || url.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("PHOTOGATE_INDEX_URL %+v: want a secretKeyRef", url)
	}
	if ref := url.ValueFrom.SecretKeyRef; ref.Name != "photogate-pg" || ref.Key != "url" || (ref.Optional != nil && *ref.Optional) {
		t.Errorf("PHOTOGATE_INDEX_URL from %+v, want Secret photogate-pg key url, required", ref)
	}
	cnpg := get[*appsv1.Deployment](t, renderPostgres(t, "--set", "index.postgres.existingSecret=photos-db-app,index.postgres.key=uri"), "Deployment/pg-photogate")
	if e, _ := envVar(cnpg.Spec.Template.Spec.Containers[0], "PHOTOGATE_INDEX_URL"); e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != "photos-db-app" || e.ValueFrom.SecretKeyRef.Key != "uri" {
		t.Errorf("with a CloudNativePG Secret, PHOTOGATE_INDEX_URL %+v", e)
	}

	// The drain: /readyz fails at SIGTERM and the endpoint must go before
	// photogate stops accepting, and the kubelet must wait for the drain
	// and the shutdown timeout before it kills.
	drainVar, ok := envVar(c, "PHOTOGATE_SHUTDOWN_DRAIN")
	drain, err := time.ParseDuration(drainVar.Value)
	if !ok || err != nil || drain <= 0 {
		t.Fatalf("PHOTOGATE_SHUTDOWN_DRAIN %+v (%v): want a positive Go duration", drainVar, err)
	}
	if drain != 10*time.Second {
		t.Errorf("default drain %v, want 10s", drain)
	}
	rp := c.ReadinessProbe
	if rp.PeriodSeconds != 2 || rp.FailureThreshold != 1 {
		t.Errorf("readiness probe every %ds, %d failures: want 2s, 1", rp.PeriodSeconds, rp.FailureThreshold)
	}
	if notReadyAfter := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second; notReadyAfter >= drain/2 {
		t.Errorf("readiness notices the drain after up to %v, more than half the %v drain", notReadyAfter, drain)
	}
	const photogateShutdownTimeout = 30 * time.Second // photogate's default shutdown_timeout
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < drain+photogateShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v < drain %v + shutdown_timeout %v + 5s", g, drain, photogateShutdownTimeout)
	}
	longer := get[*appsv1.Deployment](t, renderPostgres(t, "--set", "shutdownDrain=1m30s,config.shutdown_timeout=2m"), "Deployment/pg-photogate")
	if g := longer.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 90+120+5 {
		t.Errorf("drain 1m30s, shutdown_timeout 2m: terminationGracePeriodSeconds %v, want 215", g)
	}

	// One replica per node, spread over zones where possible.
	spread := map[string]corev1.TopologySpreadConstraint{}
	for _, tsc := range pod.TopologySpreadConstraints {
		spread[tsc.TopologyKey] = tsc
		if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, d.Spec.Template.Labels) || tsc.MaxSkew != 1 {
			t.Errorf("topology spread over %s: maxSkew %d, selector %+v: want 1 and photogate's pods", tsc.TopologyKey, tsc.MaxSkew, tsc.LabelSelector)
		}
	}
	if _, ok := spread["kubernetes.io/hostname"]; !ok {
		t.Errorf("no topology spread over kubernetes.io/hostname: %+v", pod.TopologySpreadConstraints)
	}
	if z, ok := spread["topology.kubernetes.io/zone"]; !ok || z.WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("topology spread over zones %+v: want ScheduleAnyway (a cluster may have one zone)", z)
	}

	pdb := get[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget/pg-photogate")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget maxUnavailable %v minAvailable %v, want maxUnavailable 1", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget selects %+v, not photogate's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	for _, name := range []string{"Service/pg-photogate", "Service/pg-photogate-admin"} {
		if svc := get[*corev1.Service](t, objs, name); !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("%s selects %v, not the Deployment's pods", name, svc.Spec.Selector)
		}
	}
	// The ConfigMap's photogate.yaml carries no index URL: that comes from
	// the Secret alone.
	if cfg := get[*corev1.ConfigMap](t, objs, "ConfigMap/pg-photogate").Data["photogate.yaml"]; strings.Contains(cfg, "postgres") {
		t.Errorf("the ConfigMap mentions postgres:\n%s", cfg)
	}
}

// TestPostgresAutoscalesTheDeployment: with autoscaling the HPA scales the
// Deployment on CPU from at least two replicas, and owns the replica count.
func TestPostgresAutoscalesTheDeployment(t *testing.T) {
	for _, c := range []struct {
		name     string
		set      []string
		min, max int32
	}{
		{"defaults", nil, 2, 4},
		{"3..10", []string{"--set", "autoscaling.minReplicas=3,autoscaling.maxReplicas=10"}, 3, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := renderPostgres(t, append([]string{"--set", "autoscaling.enabled=true"}, c.set...)...)
			hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler/pg-photogate")
			if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != "pg-photogate" || ref.APIVersion != "apps/v1" {
				t.Errorf("HPA targets %+v, want the Deployment", ref)
			}
			if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != c.min || hpa.Spec.MaxReplicas != c.max {
				t.Errorf("HPA replicas %v..%d, want %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, c.min, c.max)
			}
			if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("HPA metrics %+v, want CPU", hpa.Spec.Metrics)
			}
			if d := get[*appsv1.Deployment](t, objs, "Deployment/pg-photogate"); d.Spec.Replicas != nil {
				t.Errorf("Deployment sets replicas %d although the HPA owns them", *d.Spec.Replicas)
			}
		})
	}
}

// TestPostgresRendersStrictly: the PostgreSQL mode with every optional
// object on, and with the prod values, decodes strictly and renders no
// bbolt object.
func TestPostgresRendersStrictly(t *testing.T) {
	for name, args := range map[string][]string{
		"everything on": append(append([]string(nil), everythingOn...), "--set", "index.postgres.existingSecret=photogate-pg"),
		"prod":          {"-f", valuesProd, "--set", "index.postgres.existingSecret=photogate-pg"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := decodeOrFail(t, helm(t, append([]string{"template", "pg", chart, "--namespace", "photos"}, args...)...))
			for _, absent := range []string{"StatefulSet/pg-photogate", "Service/pg-photogate-headless"} {
				if _, ok := objs[absent]; ok {
					t.Errorf("%s rendered with the PostgreSQL index", absent)
				}
			}
			for _, present := range []string{"Deployment/pg-photogate", "PodDisruptionBudget/pg-photogate"} {
				if _, ok := objs[present]; !ok {
					t.Errorf("no %s among %v", present, objs.kinds())
				}
			}
		})
	}
}

// TestBboltRendersNoReplicaMachinery: the default values keep the bbolt
// StatefulSet exactly: no Deployment, disruption budget, index URL, drain
// or topology spread.
func TestBboltRendersNoReplicaMachinery(t *testing.T) {
	objs := decodeOrFail(t, helm(t, append(append([]string{"template"}, defaultsArgs("a", "b")...), "--set", "autoscaling.enabled=true")...))
	for _, absent := range []string{"Deployment/pg-photogate", "PodDisruptionBudget/pg-photogate"} {
		if _, ok := objs[absent]; ok {
			t.Errorf("%s rendered with the bbolt index", absent)
		}
	}
	sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate")
	c := sts.Spec.Template.Spec.Containers[0]
	for _, name := range []string{"PHOTOGATE_INDEX_URL", "PHOTOGATE_SHUTDOWN_DRAIN"} {
		if e, ok := envVar(c, name); ok {
			t.Errorf("bbolt pod has %+v", e)
		}
	}
	if len(sts.Spec.Template.Spec.TopologySpreadConstraints) != 0 {
		t.Errorf("bbolt pod has topology spread %+v", sts.Spec.Template.Spec.TopologySpreadConstraints)
	}
	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler/pg-photogate")
	if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" || hpa.Spec.MaxReplicas != 1 {
		t.Errorf("bbolt HPA %+v..%d", hpa.Spec.ScaleTargetRef, hpa.Spec.MaxReplicas)
	}
}

// TestChartRefusesReplicaCountsItCannotRun: bbolt allows one replica and
// PostgreSQL at least two; values that say otherwise fail the install.
func TestChartRefusesReplicaCountsItCannotRun(t *testing.T) {
	bin := harness.GoTool(t, "helm", "helm.sh/helm/v3/cmd/helm", helmVersion, "PHOTOGATE_HELM")
	pg := "index.postgres.existingSecret=photogate-pg"
	for _, c := range []struct{ set, want string }{
		{pg + ",replicas=1", "replicas < 2"},
		{pg + ",replicas=0", "replicas < 2"},
		{pg + ",autoscaling.enabled=true,autoscaling.minReplicas=1", "autoscaling.minReplicas < 2"},
		{pg + ",autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=3", "maxReplicas < autoscaling.minReplicas"},
		{pg + ",shutdownDrain=10", `"10" is not a duration`},
		{pg + ",config.shutdown_timeout=soon", `"soon" is not a duration`},
		{"replicas=2", "bbolt"},
		{"autoscaling.enabled=true,autoscaling.maxReplicas=2", "bbolt"},
	} {
		args := []string{"template", "pg", filepath.Join(root(t), chart), "--namespace", "photos",
			"--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b", "--set", c.set}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("--set %s: %v, want an error with %q:\n%s", c.set, err, c.want, out)
		}
	}
	// One replica is fine when the autoscaler keeps at least two.
	objs := renderPostgres(t, "--set", "replicas=1,autoscaling.enabled=true,autoscaling.minReplicas=2")
	get[*appsv1.Deployment](t, objs, "Deployment/pg-photogate")
}

// TestPostgresNotesNameWhatIsRendered: NOTES.txt's commands hold for the
// Deployment (rollout status deployment/…) and say where the index is.
func TestPostgresNotesNameWhatIsRendered(t *testing.T) {
	notes := renderNotes(t, postgresArgs()...)
	notesCommandsFor(t, notes, postgresArgs()...)
	for _, want := range []string{"rollout status deployment/pg-photogate", "2 replicas", "PostgreSQL", "photogate-pg"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt with the PostgreSQL index lacks %q:\n%s", want, notes)
		}
	}
	if bbolt := renderNotes(t, defaultsArgs("a", "b")...); !strings.Contains(bbolt, "statefulset/pg-photogate") || strings.Contains(bbolt, "PostgreSQL") {
		t.Errorf("NOTES.txt with the bbolt index:\n%s", bbolt)
	}
}

// TestTwoReplicasShareThePostgresIndex starts two photogate processes from
// the Deployment's pod template, against one MinIO and one PostgreSQL: a
// photo uploaded through either is found through the other's admin API.
// Then one gets SIGTERM, as a rolling update would send it: its /readyz
// fails at once on the "serving" check while it still serves for the
// drain, then it exits, and the other replica still finds everything.
func TestTwoReplicasShareThePostgresIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs helm, MinIO, PostgreSQL and the photogate binary")
	}
	m := harness.StartMinIO(t)
	dsn := harness.StartPostgres(t).CreateDatabase(t, "chart")
	accessKey, secretKey := "PGREPL"+strings.ToUpper(harness.RandomString(10)), harness.RandomString(40)
	const drain = 3 * time.Second
	// The Secret a CloudNativePG Cluster named photos-db creates.
	objs := decodeOrFail(t, helm(t, "template", "pg", chart, "--namespace", "photos",
		"--set", "backend.endpoint="+m.Endpoint(),
		"--set", "secrets.backendAccessKey="+m.AccessKey()+",secrets.backendSecretKey="+m.SecretKey(),
		"--set", "secrets.accessKey="+accessKey+",secrets.secretKey="+secretKey+",secrets.adminToken=replica-admin-token",
		"--set", "index.postgres.existingSecret=photos-db-app,index.postgres.key=uri",
		"--set", "shutdownDrain="+drain.String()))
	// The Secret exists in the cluster, not in the rendering.
	if _, ok := objs["Secret/photos-db-app"]; ok {
		t.Fatal("the chart rendered the PostgreSQL Secret itself")
	}
	objs["Secret/photos-db-app"] = &corev1.Secret{StringData: map[string]string{"uri": dsn}}

	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	replicas := []pod{runPod(t, objs, "pg-photogate", m.Endpoint(), bin), runPod(t, objs, "pg-photogate", m.Endpoint(), bin)}
	for i, p := range replicas {
		if p.env["PHOTOGATE_INDEX_URL"] != dsn || p.env["PHOTOGATE_SHUTDOWN_DRAIN"] != drain.String() {
			t.Fatalf("replica %d runs with PHOTOGATE_INDEX_URL from the Secret %t, PHOTOGATE_SHUTDOWN_DRAIN %q",
				i+1, p.env["PHOTOGATE_INDEX_URL"] == dsn, p.env["PHOTOGATE_SHUTDOWN_DRAIN"])
		}
	}
	ctx := context.Background()
	s3 := func(p pod) *minio.Client {
		c, err := minio.New(p.s3Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
	put := func(p pod, key string) {
		t.Helper()
		if _, err := s3(p).PutObject(ctx, "photos-replicas", key, bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	if err := s3(replicas[0]).MakeBucket(ctx, "photos-replicas", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket through replica 1: %v", err)
	}
	put(replicas[0], "one.jpg")
	searchFinds(t, replicas[1], "one.jpg")
	put(replicas[1], "two.jpg")
	searchFinds(t, replicas[0], "one.jpg", "two.jpg")

	// SIGTERM replica 1: not ready at once, still serving during the drain.
	first := replicas[0]
	terminated := time.Now()
	if err := first.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		ready, checks := readyz(t, first)
		if !ready {
			if checks["serving"].Status != "fail" {
				t.Fatalf("draining replica's /readyz fails, but not on the serving check: %+v", checks)
			}
			break
		}
		if time.Since(terminated) > time.Second {
			t.Fatal("replica 1's /readyz still answers 200 a second after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s3(first).StatObject(ctx, "photos-replicas", "two.jpg", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("replica 1 stopped serving S3 during its drain: %v", err)
	}
	if ready, checks := readyz(t, replicas[1]); !ready {
		t.Fatalf("replica 2 is not ready while replica 1 drains: %+v", checks)
	}
	select {
	case err := <-first.exited:
		first.exited <- err
		elapsed := time.Since(terminated)
		if err != nil {
			t.Fatalf("replica 1 exited with %v after SIGTERM, want a clean exit", err)
		}
		if elapsed < drain-200*time.Millisecond {
			t.Errorf("replica 1 exited %v after SIGTERM, before its %v drain", elapsed, drain)
		}
	case <-time.After(drain + 20*time.Second):
		t.Fatalf("replica 1 has not exited %v after SIGTERM", drain+20*time.Second)
	}
	// The index was never replica 1's: replica 2 still finds both.
	searchFinds(t, replicas[1], "one.jpg", "two.jpg")
	put(replicas[1], "three.jpg")
	searchFinds(t, replicas[1], "one.jpg", "two.jpg", "three.jpg")
}

// readyz is one /readyz answer: ready, and the checks by name.
func readyz(t *testing.T, p pod) (bool, map[string]observe.CheckResult) {
	t.Helper()
	resp, err := http.Get(p.adminURL + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var body observe.ReadyResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET /readyz (%s): %v", resp.Status, err)
	}
	return resp.StatusCode == http.StatusOK, body.Checks
}

// searchFinds asks p's admin search API for the bucket photos-replicas
// until it lists exactly keys (indexing may trail the upload's answer by
// a moment), or fails after ten seconds.
func searchFinds(t *testing.T, p pod, keys ...string) {
	t.Helper()
	want := strings.Join(slices.Sorted(slices.Values(keys)), ",")
	var got string
	for deadline := time.Now().Add(10 * time.Second); ; {
		req, err := http.NewRequest(http.MethodGet, p.adminURL+"/api/v1/search?bucket=photos-replicas", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer replica-admin-token")
		got, err = searchKeys(req)
		if err != nil {
			t.Fatalf("search through %s: %v", p.adminURL, err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("search through %s lists [%s], want [%s]", p.adminURL, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func searchKeys(req *http.Request) (string, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	var body api.SearchResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("decode: %w", err)
	}
	keys := make([]string, len(body.Items))
	for i, it := range body.Items {
		if it.Bucket != "photos-replicas" {
			return "", fmt.Errorf("an item of bucket %q in a search of photos-replicas", it.Bucket)
		}
		keys[i] = it.Key
	}
	slices.Sort(keys)
	return strings.Join(keys, ","), nil
}
