package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/photogate/photogate/test/harness"
)

// pod is photogate started from a rendering the way its StatefulSet's (or,
// with the PostgreSQL index, its Deployment's) pod would start: the
// ConfigMap's file, the literal environment and the values the Secret
// references.
type pod struct {
	s3Addr    string // host:port of the S3 listener
	adminURL  string
	env       map[string]string // the rendered environment, before the moves below
	container corev1.Container
	process   *os.Process
	// exited receives photogate's exit once; whoever takes it must send it
	// back, for the cleanup that waits for it.
	exited chan error
}

// startPod checks that the workload's ports, probes, mounts and Services
// agree with each other, then runs photogate with its rendered
// configuration and environment until every probe answers 200. Only what a
// pod has to itself is moved: the listen addresses to loopback ports, the
// data dir and config mount to temporary directories, and the backend's
// in-cluster address to the test's MinIO.
func startPod(t *testing.T, objs rendered, name, backendEndpoint string) pod {
	t.Helper()
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return runPod(t, objs, name, backendEndpoint, bin)
}

// podSpec is the pod template of the StatefulSet or the Deployment name,
// whichever the rendering has.
func podSpec(t *testing.T, objs rendered, name string) (kind string, spec corev1.PodSpec) {
	t.Helper()
	if sts, ok := objs["StatefulSet/"+name].(*appsv1.StatefulSet); ok {
		return "StatefulSet", sts.Spec.Template.Spec
	}
	return "Deployment", get[*appsv1.Deployment](t, objs, "Deployment/"+name).Spec.Template.Spec
}

// runPod is startPod with the photogate binary bin, for starting several
// replicas of one rendering from one build.
func runPod(t *testing.T, objs rendered, name, backendEndpoint, bin string) pod {
	t.Helper()
	kind, spec := podSpec(t, objs, name)
	if len(spec.Containers) != 1 {
		t.Fatalf("%s %s has %d containers, want 1", kind, name, len(spec.Containers))
	}
	c := spec.Containers[0]
	env := podEnv(t, objs, c)

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for portName, variable := range map[string]string{"s3": "PHOTOGATE_LISTEN", "admin": "PHOTOGATE_ADMIN_LISTEN"} {
		if want := "0.0.0.0:" + strconv.Itoa(int(ports[portName])); env[variable] != want {
			t.Errorf("%s = %q but container port %q is %d", variable, env[variable], portName, ports[portName])
		}
	}
	for _, svc := range []string{"Service/" + name, "Service/" + name + "-admin"} {
		for _, p := range get[*corev1.Service](t, objs, svc).Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("%s targets port %q, which the container does not have", svc, p.TargetPort.String())
			}
		}
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	for probeName, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "admin" || p.HTTPGet.Path == "" {
			t.Fatalf("%s probe %+v: want an HTTP GET on the admin port", probeName, p)
		}
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	if env["PHOTOGATE_DATA_DIR"] != mounts["data"] || path.Dir(env["PHOTOGATE_CONFIG"]) != mounts["config"] {
		t.Errorf("data dir %q / config %q do not match the mounts %v", env["PHOTOGATE_DATA_DIR"], env["PHOTOGATE_CONFIG"], mounts)
	}
	configMap := ""
	for _, v := range spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
		}
	}
	file := path.Base(env["PHOTOGATE_CONFIG"])
	config, ok := get[*corev1.ConfigMap](t, objs, "ConfigMap/"+configMap).Data[file]
	if !ok {
		t.Fatalf("ConfigMap %q has no %s for PHOTOGATE_CONFIG %s", configMap, file, env["PHOTOGATE_CONFIG"])
	}
	if t.Failed() {
		t.FailNow()
	}

	dir := t.TempDir()
	run := map[string]string{}
	for k, v := range env {
		run[k] = v
	}
	cfgPath := filepath.Join(dir, file)
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
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
	if run["PHOTOGATE_BACKEND_ENDPOINT"] == "" {
		t.Fatal("the rendering sets no PHOTOGATE_BACKEND_ENDPOINT")
	}
	run["PHOTOGATE_BACKEND_ENDPOINT"] = backendEndpoint
	run["PHOTOGATE_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", s3Port)
	run["PHOTOGATE_ADMIN_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", adminPort)
	run["PHOTOGATE_DATA_DIR"] = filepath.Join(dir, "data")
	run["PHOTOGATE_CONFIG"] = cfgPath
	cmd := exec.Command(bin, c.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range run {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		if t.Failed() {
			t.Logf("photogate output:\n%s", logs.String())
		}
	})
	p := pod{s3Addr: run["PHOTOGATE_LISTEN"], adminURL: "http://" + run["PHOTOGATE_ADMIN_LISTEN"], env: env, container: c,
		process: cmd.Process, exited: exited}
	deadline := time.Now().Add(time.Minute)
	for probeName, probe := range probes {
		var last string
		for {
			resp, err := http.Get(p.adminURL + probe.HTTPGet.Path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = resp.Status
			} else {
				last = err.Error()
			}
			select {
			case err := <-exited:
				// A pod that exits crash-loops: say so, not "timed out".
				exited <- err
				t.Fatalf("photogate exited (%v) before its %s probe answered 200", err, probeName)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s probe GET %s never answered 200 (last: %s)", probeName, probe.HTTPGet.Path, last)
			}
		}
	}
	return p
}

// podEnv resolves the container's environment as the kubelet would: literal
// values, and Secret keys from the rendered Secret, where a missing key is
// an error unless the reference is optional.
func podEnv(t *testing.T, objs rendered, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Fatalf("env %s: only literal values and Secret keys are understood here, got %+v", e.Name, e.ValueFrom)
		}
		secret := get[*corev1.Secret](t, objs, "Secret/"+ref.Name)
		value, ok := secret.StringData[ref.Key]
		if !ok {
			var b []byte
			b, ok = secret.Data[ref.Key]
			value = string(b)
		}
		switch {
		case ok:
			env[e.Name] = value
		case ref.Optional == nil || !*ref.Optional:
			t.Fatalf("env %s: Secret %s has no key %s, so the pod would not start", e.Name, ref.Name, ref.Key)
		}
	}
	return env
}
