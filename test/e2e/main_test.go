// Package e2e_test drives real S3 clients (aws-cli, boto3, aws-sdk-go-v2,
// minio-go, rclone, s3cmd) through the photogate binary in front of a real
// MinIO, and checks byte for byte, by SHA-256, that what they upload is what
// lands in MinIO and what they download.
//
// One MinIO and two gateways in front of it are shared by the package
// (TestMain starts them): one serves plain HTTP, the other HTTPS on its own
// listener (PHOTOGATE_TLS_CERT) with a certificate from a test CA the
// clients are told to trust. Tests isolate themselves with their own
// buckets and run in parallel. Tests that take the backend away, or need a
// differently configured gateway, start their own.
//
// Set PHOTOGATE_E2E_TARGET=minio to point every client at MinIO directly
// instead of at the gateway. That is how the tests themselves are
// validated: a test that fails against MinIO is wrong, one that passes
// against MinIO and fails through photogate found a gateway bug. The HTTPS
// tests then talk to a second MinIO that serves HTTPS itself. Gateway-only
// checks (logs, NotImplemented, the circuit breaker) skip in that mode.
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
	binary     string           // the photogate binary, built once
	minio      *harness.MinIO   // the shared backend
	gateway    *harness.Gateway // the shared plain-HTTP gateway; nil when targeting MinIO
	tlsGateway *harness.Gateway // the shared HTTPS gateway, same backend; nil when targeting MinIO
	tlsMinIO   *harness.MinIO   // the HTTPS target when targeting MinIO; nil otherwise
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
		tm, err := harness.LaunchMinIOWith(tmp+"/minio-tls", harness.MinIOOptions{TLS: true})
		if err != nil {
			m.Close()
			return nil, err
		}
		s.tlsMinIO = tm
		return s, nil
	}
	launch := func(dir string, tls bool) (*harness.Gateway, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return harness.LaunchGateway(harness.GatewayOptions{Binary: s.binary, Backend: m, DataDir: dir, TLS: tls})
	}
	if s.gateway, err = launch(tmp+"/gateway", false); err == nil {
		s.tlsGateway, err = launch(tmp+"/gateway-tls", true)
	}
	if err != nil {
		_ = s.teardown()
		return nil, err
	}
	return s, nil
}

// teardown stops the shared gateways and MinIOs. An unclean gateway
// shutdown or a data race the race detector saw fails the package: a shared
// gateway has no single test to blame, but the defect is real.
func (s *suite) teardown() error {
	var errs []error
	for _, g := range []*harness.Gateway{s.gateway, s.tlsGateway} {
		if g == nil {
			continue
		}
		var gerrs []error
		if err := g.Stop(); err != nil {
			gerrs = append(gerrs, fmt.Errorf("photogate %s: %w", g.Endpoint(), err))
		}
		if r := g.RaceReports(); r != "" {
			gerrs = append(gerrs, fmt.Errorf("photogate %s: data race:\n%s", g.Endpoint(), r))
		}
		if len(gerrs) > 0 {
			fmt.Fprintf(os.Stderr, "photogate %s stderr (tail):\n%s\n", g.Endpoint(), tail(g.Stderr(), 8192))
		}
		errs = append(errs, gerrs...)
	}
	if s.tlsMinIO != nil {
		s.tlsMinIO.Close()
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
