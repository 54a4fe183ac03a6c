package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// goTools serialises installs: two tests asking for the same tool share one
// install, and two different installs do not compete for the two cores.
var goTools struct {
	sync.Mutex
	done map[string]error
}

// GoTool returns the path of the command pkg (a Go package path whose last
// element names the binary) at module version version, installing it with
// `go install pkg@version` from the Go module proxy into .tools/bin on first
// use, named name-version so that bumping the pin reinstalls. Like Require,
// a tool that cannot be installed skips the test on a developer machine and
// fails it under CI=true; with -short nothing is installed (the test is
// skipped unless CI=true). env overrides the path (e.g. PHOTOGATE_HELM).
func GoTool(t testing.TB, name, pkg, version, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".tools", "bin", name+"-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ci := os.Getenv("CI") == "true"
	if testing.Short() && !ci {
		t.Skipf("%s not installed at %s and -short given: not installing", name, bin)
	}
	goTools.Lock()
	defer goTools.Unlock()
	if goTools.done == nil {
		goTools.done = map[string]error{}
	}
	err, tried := goTools.done[bin]
	if !tried {
		err = installGoTool(t, bin, name, pkg, version)
		goTools.done[bin] = err
	}
	if err != nil {
		if ci {
			t.Fatalf("%s is required under CI=true and could not be installed: %v", name, err)
		}
		t.Skipf("%s could not be installed (under CI=true this fails): %v", name, err)
	}
	return bin
}

func installGoTool(t testing.TB, bin, name, pkg, version string) error {
	ctx := context.Background()
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := tt.Deadline(); ok {
			// Leave the test time to report rather than die in the install.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
			defer cancel()
		}
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Install into a private directory and rename: concurrent test runs
	// never see a half-written binary.
	tmp, err := os.MkdirTemp(dir, "."+name+"-install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	t.Logf("installing %s %s from the Go module proxy into %s (first time only)", name, version, dir)
	cmd := exec.CommandContext(ctx, "go", "install", pkg+"@"+version)
	// GOWORK=off and GOFLAGS without -mod: `go install pkg@version` must
	// not be influenced by this module's or a workspace's settings.
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		return fmt.Errorf("go install %s@%s: %v\n%s", pkg, version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, filepath.Base(pkg)), bin); err != nil {
		return err
	}
	t.Logf("%s installed in %v", name, time.Since(start).Round(time.Second))
	return nil
}
