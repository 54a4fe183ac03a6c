package deploy

// Strict decoding: every object the chart renders — with the default
// values, with every optional object switched on, with values-dev.yaml,
// values-prod.yaml and values-staging.yaml, and as committed in
// deploy/kubernetes — is decoded into the Kubernetes API's own Go types
// with unknown and duplicate fields rejected, the way the API server's
// strict field validation would. A misspelt field fails here, offline,
// instead of being dropped silently by a cluster.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/photogate/photogate/test/harness"
)

// serviceMonitor is the part of prometheus-operator's monitoring.coreos.com/v1
// ServiceMonitor that the chart renders, field for field with the
// operator's CRD. The operator's own Go module would bring in
// controller-runtime for one type, so it is declared here; decoding stays
// strict, so a field the chart renders that is not listed here fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// newObject returns the Go type an apiVersion and kind decode into, or nil
// for a kind the chart is not expected to render.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &serviceMonitor{}
	}
	return nil
}

// rendered is one release's objects, decoded, keyed "Kind/name".
type rendered map[string]any

func (r rendered) kinds() []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrictly decodes every YAML document in manifests into its API
// type, rejecting unknown fields, duplicate fields and unknown kinds.
func decodeStrictly(manifests string) (rendered, error) {
	out := rendered{}
	for i, doc := range documentSeparator.Split(manifests, -1) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if meta.Kind == "" && meta.APIVersion == "" {
			if hasContent(doc) {
				return nil, fmt.Errorf("document %d has content but no apiVersion/kind:\n%s", i, doc)
			}
			continue
		}
		obj := newObject(meta.APIVersion, meta.Kind)
		if obj == nil {
			return nil, fmt.Errorf("document %d: %s %s is not a kind the chart should render", i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, meta.Kind, err)
		}
		name := obj.(metav1.Object).GetName()
		if name == "" {
			return nil, fmt.Errorf("document %d: %s without a name", i, meta.Kind)
		}
		key := meta.Kind + "/" + name
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s rendered twice", key)
		}
		out[key] = obj
	}
	return out, nil
}

// hasContent reports whether a YAML document holds more than comments.
func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

func decodeOrFail(t *testing.T, manifests string) rendered {
	t.Helper()
	objs, err := decodeStrictly(manifests)
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	return objs
}

func get[T any](t *testing.T, objs rendered, key string) T {
	t.Helper()
	obj, ok := objs[key].(T)
	if !ok {
		t.Fatalf("no %s among %v", key, objs.kinds())
	}
	return obj
}

const (
	valuesDev     = chart + "/values-dev.yaml"
	valuesProd    = chart + "/values-prod.yaml"
	valuesStaging = chart + "/values-staging.yaml"
)

// everythingOn switches on every optional object of the chart.
var everythingOn = []string{
	"--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b",
	"--set", "namespace.create=true,ingress.enabled=true,networkPolicy.enabled=true",
	"--set", "autoscaling.enabled=true,serviceMonitor.enabled=true",
	"--set", "usersSecret=photogate-users,backend.ca=minio-ca",
}

func TestEveryRenderingDecodesStrictly(t *testing.T) {
	renders := []struct {
		name string
		args []string
		want []string
	}{
		{"defaults", []string{"--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b"},
			[]string{"ConfigMap/pg-photogate", "Secret/pg-photogate", "Service/pg-photogate", "Service/pg-photogate-admin", "Service/pg-photogate-headless", "StatefulSet/pg-photogate"}},
		{"everything on", everythingOn,
			[]string{"ConfigMap/pg-photogate", "HorizontalPodAutoscaler/pg-photogate", "Ingress/pg-photogate", "Namespace/photos",
				"NetworkPolicy/pg-photogate", "Secret/pg-photogate", "Service/pg-photogate", "Service/pg-photogate-admin", "Service/pg-photogate-headless",
				"ServiceMonitor/pg-photogate", "StatefulSet/pg-photogate"}},
		{"dev", []string{"-f", valuesDev},
			[]string{"ConfigMap/pg-photogate", "Ingress/pg-photogate", "NetworkPolicy/pg-photogate", "Service/pg-photogate",
				"Service/pg-photogate-admin", "Service/pg-photogate-headless", "StatefulSet/pg-photogate"}},
		{"gallery", []string{"--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b,galleryIngress.enabled=true,networkPolicy.enabled=true"},
			[]string{"ConfigMap/pg-photogate", "Ingress/pg-photogate-gallery", "NetworkPolicy/pg-photogate", "Secret/pg-photogate", "Service/pg-photogate",
				"Service/pg-photogate-admin", "Service/pg-photogate-headless", "StatefulSet/pg-photogate"}},
		{"prod", []string{"-f", valuesProd}, prodKinds},
		{"staging", []string{"-f", valuesProd, "-f", valuesStaging}, prodKinds},
	}
	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			objs := decodeOrFail(t, helm(t, append([]string{"template", "pg", chart, "--namespace", "photos"}, r.args...)...))
			if got := objs.kinds(); strings.Join(got, " ") != strings.Join(r.want, " ") {
				t.Errorf("rendered %v\nwant     %v", got, r.want)
			}
			sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate")
			assertHeadlessGoverningService(t, objs, sts)
			if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().IsZero() {
				t.Errorf("StatefulSet claims %+v: want one sized data volume", sts.Spec.VolumeClaimTemplates)
			}
			for key, obj := range objs {
				if ns := obj.(metav1.Object).GetNamespace(); !strings.HasPrefix(key, "Namespace/") && ns != "photos" {
					t.Errorf("%s in namespace %q, want the release's", key, ns)
				}
			}
		})
	}
}

var prodKinds = []string{"ConfigMap/pg-photogate", "Ingress/pg-photogate", "NetworkPolicy/pg-photogate", "Service/pg-photogate",
	"Service/pg-photogate-admin", "Service/pg-photogate-headless", "ServiceMonitor/pg-photogate", "StatefulSet/pg-photogate"}

// TestPlainManifestsDecodeStrictly: the committed deploy/kubernetes files
// are the full set the plan lists (the PVC as the StatefulSet's claim).
func TestPlainManifestsDecodeStrictly(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "kubernetes", "photogate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeOrFail(t, string(b))
	want := []string{"ConfigMap/photogate", "HorizontalPodAutoscaler/photogate", "Ingress/photogate", "Namespace/photogate",
		"NetworkPolicy/photogate", "Secret/photogate", "Service/photogate", "Service/photogate-admin", "Service/photogate-headless", "StatefulSet/photogate"}
	if got := objs.kinds(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deploy/kubernetes has %v\nwant %v", got, want)
	}
	assertHeadlessGoverningService(t, objs, get[*appsv1.StatefulSet](t, objs, "StatefulSet/photogate"))
	// The Secret is a template: every value empty, to be filled in.
	for k, v := range get[*corev1.Secret](t, objs, "Secret/photogate").StringData {
		if v != "" {
			t.Errorf("the committed Secret template has a value for %s", k)
		}
	}
}

// TestStrictDecodingRejects proves the decoder above can fail: a misspelt
// field, a duplicate field and an unknown kind are each an error.
func TestStrictDecodingRejects(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n    - {name: s3, port: 9080, targetPort: s3}\n"
	if _, err := decodeStrictly(good); err != nil {
		t.Fatalf("a valid Service: %v", err)
	}
	for name, doc := range map[string]string{
		"misspelt field":  strings.Replace(good, "targetPort", "tragetPort", 1),
		"duplicate field": strings.Replace(good, "port: 9080", "port: 9080, port: 9081", 1),
		"unknown kind":    strings.Replace(good, "kind: Service", "kind: Servise", 1),
		"no kind":         "metadata: {name: s}\n",
	} {
		if _, err := decodeStrictly("---\n" + good + "---\n" + doc); err == nil {
			t.Errorf("%s: decoded without error:\n%s", name, doc)
		}
	}
}

func TestProdValues(t *testing.T) {
	objs := decodeOrFail(t, helm(t, "template", "pg", chart, "--namespace", "photos", "-f", valuesProd))
	sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate")
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("prod resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil {
		t.Errorf("prod pod security context %+v", sc)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
		t.Errorf("prod container security context %+v", sc)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("prod affinity %+v: want pod anti-affinity", pod.Affinity)
	}
	// Secrets come from the existing Secret; the chart renders none.
	if _, ok := objs["Secret/pg-photogate"]; ok {
		t.Error("prod renders a Secret; it should use the existing one")
	}
	for _, e := range c.Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name != "photogate" {
			t.Errorf("env %s from Secret %q, want the existing Secret photogate", e.Name, ref.SecretKeyRef.Name)
		}
	}
	ing := get[*networkingv1.Ingress](t, objs, "Ingress/pg-photogate")
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName == "" || len(ing.Spec.TLS[0].Hosts) != 1 || ing.Spec.TLS[0].Hosts[0] != ing.Spec.Rules[0].Host {
		t.Errorf("prod ingress TLS %+v for rules %+v", ing.Spec.TLS, ing.Spec.Rules)
	}
	sm := get[*serviceMonitor](t, objs, "ServiceMonitor/pg-photogate")
	admin := get[*corev1.Service](t, objs, "Service/pg-photogate-admin")
	for k, v := range sm.Spec.Selector.MatchLabels {
		if admin.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the admin Service lacks (%v)", k, v, admin.Labels)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
}

// TestIngressSuitsLargeUploads: multi-GB bodies pass ingress-nginx whole,
// streamed, with time to arrive, and only to the S3 port.
func TestIngressSuitsLargeUploads(t *testing.T) {
	objs := decodeOrFail(t, helm(t, append([]string{"template", "pg", chart, "--namespace", "photos"}, everythingOn...)...))
	ing := get[*networkingv1.Ingress](t, objs, "Ingress/pg-photogate")
	a := ing.Annotations
	const nginx = "nginx.ingress.kubernetes.io/"
	if a[nginx+"proxy-body-size"] != "0" {
		t.Errorf("proxy-body-size %q: want 0 (unlimited)", a[nginx+"proxy-body-size"])
	}
	if a[nginx+"proxy-request-buffering"] != "off" {
		t.Errorf("proxy-request-buffering %q: want off", a[nginx+"proxy-request-buffering"])
	}
	for _, timeout := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
		if s, err := strconv.Atoi(a[nginx+timeout]); err != nil || s < 600 {
			t.Errorf("%s %q: want at least 600 seconds", timeout, a[nginx+timeout])
		}
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("ingress without TLS")
	}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if b := p.Backend.Service; b == nil || b.Name != "pg-photogate" || b.Port.Name != "s3" {
				t.Errorf("ingress path %s goes to %+v, want Service pg-photogate port s3", p.Path, p.Backend)
			}
		}
	}
}

// TestNetworkPolicyAdmitsOnlyIngressAndMonitoring: the S3 port is open to
// the ingress controller's pods only, the admin port to monitoring only,
// and the policy selects photogate's pods.
func TestNetworkPolicyAdmitsOnlyIngressAndMonitoring(t *testing.T) {
	objs := decodeOrFail(t, helm(t, append([]string{"template", "pg", chart, "--namespace", "photos"}, everythingOn...)...))
	np := get[*networkingv1.NetworkPolicy](t, objs, "NetworkPolicy/pg-photogate")
	sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate")
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("policy selects %s=%s, which photogate's pods lack", k, v)
		}
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 {
		t.Error("policy selects every pod in the namespace")
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policy types %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	allowed := map[string][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 || len(rule.From) == 0 {
			t.Fatalf("rule %+v opens every port or admits every source", rule)
		}
		for _, p := range rule.Ports {
			allowed[p.Port.String()] = append(allowed[p.Port.String()], rule.From...)
		}
	}
	if len(allowed) != 2 {
		t.Errorf("ports opened: %v, want s3 and admin only", allowed)
	}
	namespaceOf := func(peers []networkingv1.NetworkPolicyPeer) []string {
		var out []string
		for _, p := range peers {
			if p.NamespaceSelector == nil {
				out = append(out, "(own namespace)")
				continue
			}
			out = append(out, p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
		}
		return out
	}
	if got := namespaceOf(allowed["s3"]); strings.Join(got, ",") != "ingress-nginx" {
		t.Errorf("S3 port open to namespaces %v, want ingress-nginx only", got)
	}
	if got := namespaceOf(allowed["admin"]); strings.Join(got, ",") != "monitoring" {
		t.Errorf("admin port open to namespaces %v, want monitoring only", got)
	}
}

// TestGalleryIngressRoutesOnlyTheGallery: the gallery's ingress reaches the
// admin port for the gallery and its signed rendition URLs only (never
// /metrics or the rest of the index API), and the NetworkPolicy lets the
// ingress controller reach the admin port only when it is on.
func TestGalleryIngressRoutesOnlyTheGallery(t *testing.T) {
	objs := decodeOrFail(t, helm(t, "template", "pg", chart, "--namespace", "photos",
		"--set", "secrets.backendAccessKey=a,secrets.backendSecretKey=b,galleryIngress.enabled=true,networkPolicy.enabled=true"))
	ing := get[*networkingv1.Ingress](t, objs, "Ingress/pg-photogate-gallery")
	var paths []string
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			paths = append(paths, p.Path)
			if b := p.Backend.Service; b == nil || b.Name != "pg-photogate-admin" || b.Port.Name != "admin" {
				t.Errorf("gallery path %s goes to %+v, want pg-photogate-admin port admin", p.Path, p.Backend)
			}
			if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix {
				t.Errorf("gallery path %s is not a prefix match", p.Path)
			}
		}
	}
	if strings.Join(paths, " ") != "/gallery/ /api/v1/renditions/" {
		t.Errorf("gallery ingress routes %v", paths)
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("gallery ingress without TLS")
	}
	np := get[*networkingv1.NetworkPolicy](t, objs, "NetworkPolicy/pg-photogate")
	var ingressPorts []string
	for _, p := range np.Spec.Ingress[0].Ports {
		ingressPorts = append(ingressPorts, p.Port.String())
	}
	if strings.Join(ingressPorts, ",") != "s3,admin" {
		t.Errorf("the ingress controller may reach ports %v, want s3 and admin with the gallery ingress on", ingressPorts)
	}
}

// TestAutoscalerNeverScalesTheIndex: the HPA targets the StatefulSet and
// takes over its replica count, and the chart refuses more than one replica
// while the index is a bbolt file.
func TestAutoscalerNeverScalesTheIndex(t *testing.T) {
	objs := decodeOrFail(t, helm(t, append([]string{"template", "pg", chart, "--namespace", "photos"}, everythingOn...)...))
	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler/pg-photogate")
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "StatefulSet" || ref.Name != "pg-photogate" || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v", ref)
	}
	if hpa.Spec.MaxReplicas != 1 || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 {
		t.Errorf("HPA replicas %v..%d, want 1..1", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/pg-photogate"); sts.Spec.Replicas != nil {
		t.Errorf("StatefulSet sets replicas %d although the HPA owns them", *sts.Spec.Replicas)
	}
	bin := harness.GoTool(t, "helm", "helm.sh/helm/v3/cmd/helm", helmVersion, "PHOTOGATE_HELM")
	args := append([]string{"template", "pg", filepath.Join(root(t), chart)}, everythingOn...)
	out, err := exec.Command(bin, append(args, "--set", "autoscaling.maxReplicas=3")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bbolt") {
		t.Fatalf("autoscaling.maxReplicas=3 rendered (err %v):\n%s", err, out)
	}
}
