// Package security_test attacks photogate end to end: real photogate, real
// MinIO behind it (whose root credential is photogate's backend
// credential, so anything photogate forwards runs with full power), raw
// HTTP requests crafted the way an attacker would send them.
//
// Every test names its attack and checks the outcome at MinIO itself, with
// MinIO's own client: a status code can lie, the backend cannot. Nothing
// may be stored, changed, deleted or leaked that the attacker's grants do
// not allow, and the index must keep describing what MinIO holds.
//
// TestMain builds photogate once and starts one MinIO that the tests share;
// each test starts its own gateway with the config it needs and uses its
// own randomly named buckets.
package security_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// Written by TestMain before any test runs, read-only afterwards. A setup
// failure is reported by every test instead of as a bare exit status.
var (
	binary   string         // the photogate binary, built once
	backend  *harness.MinIO // the shared MinIO
	setupErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "photogate-security-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// A -race build of the gateway takes a minute or more on a small
	// machine (seconds once the build cache is warm).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	binary, setupErr = harness.BuildGateway(ctx, tmp)
	cancel()
	if setupErr == nil {
		backend, setupErr = harness.LaunchMinIO(filepath.Join(tmp, "minio"))
	}
	code := m.Run()
	if backend != nil {
		backend.Close()
	}
	return code
}

func requireSetup(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if setupErr != nil {
		t.Fatalf("shared test setup failed: %v", setupErr)
	}
}
