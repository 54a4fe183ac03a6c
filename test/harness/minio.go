package harness

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// minioStartTimeout bounds how long a MinIO may take to answer its liveness
// probe. A cold single-drive start takes about a second; CI machines are
// slower.
const minioStartTimeout = 60 * time.Second

// MinIO is a real MinIO server run as a child process, used as photogate's
// backend and as the ground truth of what photogate really stored.
type MinIO struct {
	bin, dataDir, certsDir, home string
	addr, consoleAddr            string
	user, password               string
	scheme                       string   // "http" or "https"
	cert                         TestCert // set with MinIOOptions.TLS
	httpClient                   *http.Client
	client                       *minio.Client
	out                          *logBuffer

	mu   sync.Mutex
	proc *process // nil while stopped
}

// FindMinIO returns the MinIO server binary: $PHOTOGATE_MINIO_BIN, else
// <repo>/.tools/bin/minio (where the project installs the pinned version),
// else minio on PATH.
func FindMinIO() (string, error) {
	if p := os.Getenv("PHOTOGATE_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PHOTOGATE_MINIO_BIN: %w", err)
		}
		return p, nil
	}
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("minio")
	if err != nil {
		return "", errors.New("no MinIO server: set PHOTOGATE_MINIO_BIN, install it into .tools/bin, or put minio on PATH")
	}
	return p, nil
}

// MinIOOptions configures StartMinIOWith and LaunchMinIOWith.
type MinIOOptions struct {
	// TLS makes MinIO serve HTTPS: its --certs-dir gets public.crt and
	// private.key for 127.0.0.1 from a fresh test CA, and the CA itself in
	// CAs/ (the pool MinIO trusts for its own outgoing connections, as a
	// deployment with a private CA would have it). Endpoint is then
	// https://, Client trusts the CA, and CAFile names it for photogate's
	// PHOTOGATE_BACKEND_CA.
	TLS bool
}

// StartMinIO starts a MinIO server with random root credentials on free
// loopback ports and a fresh data directory, and stops it when the test
// ends. It fails the test if MinIO cannot be found or started.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	return StartMinIOWith(t, MinIOOptions{})
}

// StartMinIOTLS is StartMinIO serving HTTPS; see MinIOOptions.TLS.
func StartMinIOTLS(t testing.TB) *MinIO {
	t.Helper()
	return StartMinIOWith(t, MinIOOptions{TLS: true})
}

// StartMinIOWith is StartMinIO with options.
func StartMinIOWith(t testing.TB, opts MinIOOptions) *MinIO {
	t.Helper()
	m, err := LaunchMinIOWith(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("MinIO output (tail):\n%s", m.out.tail(4096))
		}
		m.Close()
	})
	return m
}

// LaunchMinIO is StartMinIO for callers without a testing.TB (TestMain).
// dir holds the data, and must outlive the server; call Close when done.
func LaunchMinIO(dir string) (*MinIO, error) {
	return LaunchMinIOWith(dir, MinIOOptions{})
}

// LaunchMinIOWith is LaunchMinIO with options.
func LaunchMinIOWith(dir string, opts MinIOOptions) (*MinIO, error) {
	bin, err := FindMinIO()
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		bin:      bin,
		dataDir:  filepath.Join(dir, "data"),
		certsDir: filepath.Join(dir, "certs"),
		home:     filepath.Join(dir, "home"),
		user:     "minio-" + RandomString(12),
		password: RandomString(32),
		scheme:   "http",
		out:      &logBuffer{},
	}
	for _, d := range []string{m.dataDir, m.certsDir, m.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if opts.TLS {
		m.scheme = "https"
		if m.cert, err = WriteTestCert(m.certsDir, "public.crt", "private.key"); err != nil {
			return nil, fmt.Errorf("MinIO TLS certificate: %w", err)
		}
		// MinIO ignores other regular files in the certs dir (ca.pem stays
		// there for CAFile) and trusts the PEM files in CAs/.
		pemBytes, err := os.ReadFile(m.cert.CAFile)
		if err != nil {
			return nil, err
		}
		caDir := filepath.Join(m.certsDir, "CAs")
		if err := os.MkdirAll(caDir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(caDir, "ca.crt"), pemBytes, 0o644); err != nil {
			return nil, err
		}
	}
	if m.httpClient, err = httpClientTrusting(m.cert.CAFile, 2*time.Second); err != nil {
		return nil, err
	}
	// Ports are picked, released and then bound by MinIO, so another
	// process may grab one in between; retry with fresh ports in that case.
	for attempt := 0; ; attempt++ {
		if m.addr, err = freeAddr(); err != nil {
			return nil, err
		}
		if m.consoleAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		err = m.Start()
		if err == nil || !errors.Is(err, errExited) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	mopts := &minio.Options{
		Creds:  credentials.NewStaticV4(m.user, m.password, ""),
		Region: "us-east-1",
	}
	if opts.TLS {
		mopts.Secure = true
		mopts.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: m.httpClient.Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	}
	m.client, err = minio.New(m.addr, mopts)
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Start (re)starts the server on the same ports and data directory, for
// tests that take the backend away and bring it back. It returns once MinIO
// answers its liveness probe.
func (m *MinIO) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.exited() {
		return errors.New("MinIO is already running")
	}
	env := childEnv(
		"HOME="+m.home,
		"MINIO_ROOT_USER="+m.user,
		"MINIO_ROOT_PASSWORD="+m.password,
		// Keep the server quiet and self-contained: no update checks, no
		// phoning home, no browser.
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	)
	p, err := startProcess(m.bin, []string{
		"server", m.dataDir,
		"--address", m.addr,
		"--console-address", m.consoleAddr,
		"--certs-dir", m.certsDir,
		"--quiet",
	}, env, m.out, m.out)
	if err != nil {
		return err
	}
	if err := waitHTTPWith(m.httpClient, m.Endpoint()+"/minio/health/live", p, minioStartTimeout); err != nil {
		p.kill()
		return fmt.Errorf("MinIO at %s: %w\noutput:\n%s", m.addr, err, m.out.tail(4096))
	}
	// Live means the HTTP server is up; ready means the drive is
	// initialised and S3 calls will succeed.
	if err := waitHTTPWith(m.httpClient, m.Endpoint()+"/minio/health/ready", p, minioStartTimeout); err != nil {
		p.kill()
		return fmt.Errorf("MinIO at %s: %w\noutput:\n%s", m.addr, err, m.out.tail(4096))
	}
	m.proc = p
	return nil
}

// Stop shuts the server down gracefully (SIGTERM, then SIGKILL after a
// grace period). It is a no-op when the server is not running.
func (m *MinIO) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	err := m.proc.stop(stopGrace)
	m.proc = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// MinIO's exit status on SIGTERM is not something photogate's
		// tests care about; only a hang (reported by stop) matters.
		return nil
	}
	return err
}

// Kill stops the server abruptly with SIGKILL, as a crash would.
func (m *MinIO) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	m.proc.kill()
	m.proc = nil
}

// Close stops the server; it is safe to call more than once.
func (m *MinIO) Close() { _ = m.Stop() }

// Endpoint is the server's base URL, e.g. http://127.0.0.1:41234, or
// https:// with MinIOOptions.TLS.
func (m *MinIO) Endpoint() string { return m.scheme + "://" + m.addr }

// CAFile is the PEM file of the test CA that signed MinIO's certificate
// with MinIOOptions.TLS, or "" without TLS.
func (m *MinIO) CAFile() string { return m.cert.CAFile }

// HTTPClient returns a client for MinIO's endpoint that trusts its
// certificate when it serves TLS.
func (m *MinIO) HTTPClient() *http.Client { return &http.Client{Transport: m.httpClient.Transport} }

// Addr is the server's host:port.
func (m *MinIO) Addr() string { return m.addr }

// AccessKey is the root user.
func (m *MinIO) AccessKey() string { return m.user }

// SecretKey is the root password.
func (m *MinIO) SecretKey() string { return m.password }

// Client is a minio-go client pointed straight at MinIO with root
// credentials, bypassing photogate: use it to check what really is in the
// backend.
func (m *MinIO) Client() *minio.Client { return m.client }

// Output returns what the server printed so far, for diagnostics.
func (m *MinIO) Output() string { return string(m.out.Bytes()) }
