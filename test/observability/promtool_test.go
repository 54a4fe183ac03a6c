package observability

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// promtoolModuleVersion pins promtool. The prometheus/prometheus Go module
// versions Prometheus 3.x as v0.3xx.y (v0.316.0 is Prometheus 3.16.0); this
// one builds with Go 1.26. A first install downloads and compiles about 300
// modules (~9 minutes on 2 cores with a cold module cache, ~30 s with a warm
// build cache); the binary is then kept in .tools/bin, named with the
// version so that bumping the pin reinstalls.
const promtoolModuleVersion = "v0.316.0"

var promtoolOnce struct {
	sync.Once
	path string
	err  error
}

// promtool returns the path of the pinned promtool, installing it from the
// Go module proxy on first use. Without it the test is skipped on a
// developer machine but fails under CI=true, where a skip would silently
// stop checking the alert rules. In -short mode nothing is installed.
// PHOTOGATE_PROMTOOL overrides the binary.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PHOTOGATE_PROMTOOL"); p != "" {
		return p
	}
	bin := filepath.Join(repoRoot(t), ".tools", "bin", "promtool-"+promtoolModuleVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skipf("promtool not installed at %s and -short given: not installing", bin)
	}
	promtoolOnce.Do(func() {
		promtoolOnce.path, promtoolOnce.err = installPromtool(t, bin)
	})
	if promtoolOnce.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool is required under CI=true and could not be installed: %v", promtoolOnce.err)
		}
		t.Skipf("promtool could not be installed (under CI=true this fails): %v", promtoolOnce.err)
	}
	return promtoolOnce.path
}

func installPromtool(t *testing.T, bin string) (string, error) {
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		// Leave the test time to report rather than die in the install.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Install into a private directory and rename: concurrent test runs
	// never see a half-written binary.
	tmp, err := os.MkdirTemp(dir, ".promtool-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	t.Logf("installing promtool %s from the Go module proxy into %s (first time only)", promtoolModuleVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/prometheus/prometheus/cmd/promtool@"+promtoolModuleVersion)
	// GOWORK=off and GOFLAGS without -mod: `go install pkg@version` must
	// not be influenced by this module's or a workspace's settings.
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go install promtool@%s: %v\n%s", promtoolModuleVersion, err, tail(out, 4000))
	}
	if err := os.Rename(filepath.Join(tmp, "promtool"), bin); err != nil {
		return "", err
	}
	t.Logf("promtool installed in %v", time.Since(start).Round(time.Second))
	return bin, nil
}

// runPromtool runs promtool with args in dir and fails the test with its
// output when it exits non-zero.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := promtoolOutput(t, dir, args...)
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// promtoolOutput runs promtool with args in dir.
func promtoolOutput(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin := promtool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// repoRoot is the directory holding go.mod, found upwards from the test's
// working directory (the package directory under go test).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}
