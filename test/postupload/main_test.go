// Package postupload_test proves browser uploads (S3 POST Object with a
// signed POST policy, docs/policy.md "CORS") end to end: boto3 with
// requests, minio-go with net/http and a real headless Chromium post forms
// to the real photogate binary in front of a real MinIO. Every outcome is
// checked at MinIO itself (the bytes, type and metadata it holds, or that
// it holds nothing) and in photogate's index through the admin API.
//
// TestMain builds photogate once and starts one MinIO that all tests
// share; each test starts its own gateway with the users and bucket rules
// it needs and uses its own randomly named buckets.
package postupload_test

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
	tmp, err := os.MkdirTemp("", "photogate-postupload-")
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
