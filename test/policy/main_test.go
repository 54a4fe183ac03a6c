// Package policy_test proves the policy rules of docs/policy.md end to end:
// real clients (aws-sdk-go-v2, minio-go, curl, net/http) talk to the real
// photogate binary in front of a real MinIO, and every refused upload is
// checked against MinIO itself, which must hold nothing of it.
//
// TestMain builds photogate once and starts one MinIO that all tests share.
// Each test starts its own gateway with the YAML config it needs (users:
// and policy: as in docs/policy.md, passed with PHOTOGATE_CONFIG), so rate
// limiter and auth-failure state never leak between tests, and uses its
// own randomly named buckets.
package policy_test

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

const region = harness.Region

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
	tmp, err := os.MkdirTemp("", "photogate-policy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// A -race build of the gateway takes a minute or more on a small
	// machine (seconds once the build cache is warm).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	start := time.Now()
	binary, setupErr = harness.BuildGateway(ctx, tmp)
	cancel()
	if setupErr == nil && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built photogate (race=%v) in %v\n", harness.RaceEnabled, time.Since(start).Round(time.Millisecond))
	}
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
