package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Require returns the path of an external tool the test needs: "aws",
// "python3", "boto3" (a python3 that can import boto3; the python3 path is
// returned), "rclone", "s3cmd", "curl" or "minio" (the server, see
// FindMinIO).
//
// A missing tool skips the test on a developer machine, but fails it when
// CI=true: in CI a skipped client test would silently shrink the
// compatibility matrix, which is exactly what these tests exist to protect.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := findTool(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("required tool %q is not available (CI=true, so this is a failure, not a skip): %v", name, err)
	}
	t.Skipf("skipping: required tool %q is not available: %v (under CI=true this fails instead)", name, err)
	return ""
}

func findTool(name string) (string, error) {
	switch name {
	case "minio":
		return FindMinIO()
	case "boto3":
		py, err := exec.LookPath("python3")
		if err != nil {
			return "", err
		}
		py = resolvePyenvShim(py, "python3")
		return py, probe(py, "-c", "import boto3, botocore")
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	path = resolvePyenvShim(path, name)
	// A PATH entry is not proof that the tool runs: pyenv installs shims
	// for every version's scripts, and they fail when the active version
	// lacks the package.
	if name == "python3" {
		return path, probe(path, "-c", "pass")
	}
	return path, probe(path, "--version")
}

func probe(path string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = childEnv("HOME=" + os.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w: %s", path, args, err, out)
	}
	return nil
}

// resolvePyenvShim replaces a pyenv shim by the executable it runs. The
// shim is a bash script that re-resolves the Python version on every call,
// which costs most of a second per aws or python3 invocation on a loaded
// machine; the tests make dozens of them.
func resolvePyenvShim(path, name string) string {
	if !strings.Contains(path, "/.pyenv/shims/") {
		return path
	}
	pyenv, err := exec.LookPath("pyenv")
	if err != nil {
		return path
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pyenv, "which", name).Output()
	if err != nil {
		return path
	}
	if real := strings.TrimSpace(string(out)); real != "" {
		return real
	}
	return path
}
