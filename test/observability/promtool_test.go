package observability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// promtoolModuleVersion pins promtool. The prometheus/prometheus Go module
// versions Prometheus 3.x as v0.3xx.y (v0.316.0 is Prometheus 3.16.0); this
// one builds with Go 1.26. A first install downloads and compiles about 300
// modules (~9 minutes on 2 cores with a cold module cache, ~30 s with a warm
// build cache); the binary is then kept in .tools/bin, named with the
// version so that bumping the pin reinstalls.
const promtoolModuleVersion = "v0.316.0"

// promtool returns the path of the pinned promtool, installed from the Go
// module proxy on first use (see harness.GoTool; PHOTOGATE_PROMTOOL
// overrides it).
func promtool(t *testing.T) string {
	t.Helper()
	return harness.GoTool(t, "promtool", "github.com/prometheus/prometheus/cmd/promtool", promtoolModuleVersion, "PHOTOGATE_PROMTOOL")
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
