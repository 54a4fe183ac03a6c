// Package e2e_test drives real S3 clients (aws-cli, boto3, aws-sdk-go-v2,
// minio-go, rclone, s3cmd) through the photogate binary in front of a real
// MinIO, and checks byte for byte, by SHA-256, that what they upload is what
// lands in MinIO and what they download.
//
// One MinIO and one gateway are shared by the package (TestMain starts
// them): tests isolate themselves with their own buckets and run in
// parallel. Tests that take the backend away start their own pair.
//
// Set PHOTOGATE_E2E_TARGET=minio to point every client at MinIO directly
// instead of at the gateway. That is how the tests themselves are
// validated: a test that fails against MinIO is wrong, one that passes
// against MinIO and fails through photogate found a gateway bug.
// Gateway-only checks (logs, NotImplemented, the circuit breaker) skip in
// that mode.
package e2e_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// suite is what TestMain sets up for the whole package.
type suite struct {
	binary  string           // the photogate binary, built once
	minio   *harness.MinIO   // the shared backend
	gateway *harness.Gateway // the shared gateway; nil when targeting MinIO
}

// shared and sharedErr are written by TestMain before any test runs and
// only read afterwards. A setup failure is kept and reported by every test,
// so it shows up in each test's output instead of as a bare exit status.
var (
	shared    *suite
	sharedErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// `make test-short` runs unit tests only: no builds, no MinIO.
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "photogate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	shared, sharedErr = setup(tmp)
	code := m.Run()
	if shared != nil {
		if err := shared.teardown(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: shared photogate: %v\n", err)
			code = 1
		}
	}
	return code
}

func targetIsMinIO() bool { return os.Getenv("PHOTOGATE_E2E_TARGET") == "minio" }

func setup(tmp string) (*suite, error) {
	s := &suite{}
	if !targetIsMinIO() {
		// A -race build of the gateway takes a minute or more on a small
		// machine; nothing else in the package is that slow.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		bin, err := harness.BuildGateway(ctx, tmp)
		if err != nil {
			return nil, fmt.Errorf("build photogate: %w", err)
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "built photogate (race=%v) in %v\n", harness.RaceEnabled, time.Since(start).Round(time.Millisecond))
		}
		s.binary = bin
	}
	m, err := harness.LaunchMinIO(tmp + "/minio")
	if err != nil {
		return nil, err
	}
	s.minio = m
	if targetIsMinIO() {
		return s, nil
	}
	if err := os.MkdirAll(tmp+"/gateway", 0o755); err != nil {
		m.Close()
		return nil, err
	}
	g, err := harness.LaunchGateway(harness.GatewayOptions{
		Binary:  s.binary,
		Backend: m,
		DataDir: tmp + "/gateway",
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	s.gateway = g
	return s, nil
}

// teardown stops the shared gateway and MinIO. An unclean gateway shutdown
// or a data race the race detector saw fails the package: the shared
// gateway has no single test to blame, but the defect is real.
func (s *suite) teardown() error {
	var errs []error
	if s.gateway != nil {
		if err := s.gateway.Stop(); err != nil {
			errs = append(errs, err)
		}
		if r := s.gateway.RaceReports(); r != "" {
			errs = append(errs, errors.New("data race:\n"+r))
		}
		if len(errs) > 0 {
			fmt.Fprintf(os.Stderr, "photogate stderr (tail):\n%s\n", tail(s.gateway.Stderr(), 8192))
		}
	}
	s.minio.Close()
	return errors.Join(errs...)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
