package harness

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Suite is what the TestMain of an end-to-end test package sets up once:
// the photogate binary, built from this checkout, and one MinIO that the
// package's tests share (each test uses its own buckets and starts its own
// gateway with the configuration it needs).
type Suite struct {
	Binary  string // the photogate binary
	Backend *MinIO // the shared MinIO
	err     error  // a setup failure, reported by every test
}

// Run builds photogate and starts MinIO, runs the tests and stops MinIO,
// returning the exit code for os.Exit. Under -short it only runs the tests,
// which then skip in Require. A setup failure does not stop the run: every
// test reports it, instead of the package failing with a bare exit status.
func (s *Suite) Run(m *testing.M, name string) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "photogate-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// A -race build of the gateway takes a minute or more on a small
	// machine (seconds once the build cache is warm).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	start := time.Now()
	s.Binary, s.err = BuildGateway(ctx, tmp)
	cancel()
	if s.err == nil && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built photogate (race=%v) in %v\n", RaceEnabled, time.Since(start).Round(time.Millisecond))
	}
	if s.err == nil {
		s.Backend, s.err = LaunchMinIO(filepath.Join(tmp, "minio"))
	}
	code := m.Run()
	if s.Backend != nil {
		s.Backend.Close()
	}
	return code
}

// Require skips an end-to-end test under -short and fails it when the
// suite's setup failed.
func (s *Suite) Require(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if s.err != nil {
		t.Fatalf("shared test setup failed: %v", s.err)
	}
}
