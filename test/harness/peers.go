package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Peers are other S3 gateways that `make bench` runs in front of the same
// MinIO as photogate, to show where photogate stands. Both are Go programs
// installed from the module proxy at a pinned version (see GoTool); they
// run as separate programs and are never linked into anything.
const (
	// VersityGWVersion pins versitygw (Apache-2.0), run in S3-proxy mode.
	VersityGWVersion = "v1.8.0"
	// RcloneVersion pins rclone (MIT), run as `rclone serve s3`.
	RcloneVersion = "v1.76.0"
)

// VersityGW returns the pinned versitygw binary, installing it on first use
// ($PHOTOGATE_VERSITYGW overrides it).
func VersityGW(t testing.TB) string {
	t.Helper()
	return GoTool(t, "versitygw", "github.com/versity/versitygw/cmd/versitygw", VersityGWVersion, "PHOTOGATE_VERSITYGW")
}

// Rclone returns the pinned rclone binary, installing it on first use
// ($PHOTOGATE_RCLONE overrides it). Its first build takes minutes.
func Rclone(t testing.TB) string {
	t.Helper()
	return GoTool(t, "rclone", "github.com/rclone/rclone", RcloneVersion, "PHOTOGATE_RCLONE")
}

// Peer is one running peer gateway on a loopback port, in front of a MinIO.
// Clients sign for it with AccessKey and SecretKey, its own root
// credential, which is not MinIO's.
type Peer struct {
	name                 string
	proc                 *process
	addr                 string
	accessKey, secretKey string
	out                  *logBuffer
}

// Endpoint is the peer's S3 endpoint, http://127.0.0.1:port.
func (p *Peer) Endpoint() string { return "http://" + p.addr }

// AccessKey is the access key clients sign with.
func (p *Peer) AccessKey() string { return p.accessKey }

// SecretKey is the secret key clients sign with.
func (p *Peer) SecretKey() string { return p.secretKey }

// Pid is the peer's process id.
func (p *Peer) Pid() int { return p.proc.pid() }

// Output is everything the peer printed so far.
func (p *Peer) Output() string { return string(p.out.Bytes()) }

// Stop ends the peer (SIGTERM, then SIGKILL after a grace period). A peer
// that exits on SIGTERM with a non-zero status is not an error of the
// measurement, so only a kill is reported.
func (p *Peer) Stop() error {
	err := p.proc.stop(stopGrace)
	var exit interface{ ExitCode() int }
	if errors.As(err, &exit) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// LaunchVersityGW starts versitygw in S3-proxy mode in front of m, path
// style. --disable-data-integrity-check is needed against a plain-HTTP
// MinIO: with it off, versitygw asks the backend for an integrity check
// that MinIO refuses over plain HTTP. dir holds its HOME.
func LaunchVersityGW(bin string, m *MinIO, dir string) (*Peer, error) {
	return launchPeer("versitygw", dir, func(addr, accessKey, secretKey string) []string {
		return []string{
			"--port", addr, "--access", accessKey, "--secret", secretKey,
			"--health", "/health", "--quiet",
			"s3", "--access", m.AccessKey(), "--secret", m.SecretKey(), "--endpoint", m.Endpoint(),
			"--region", "us-east-1", "--use-path-style", "--disable-data-integrity-check",
		}
	}, bin, nil)
}

// LaunchRcloneS3 starts `rclone serve s3` in front of m with rclone's
// defaults (no VFS cache). The remote is configured through the
// environment only: an empty config file, no rclone.conf of the machine.
// Note that rclone answers HEAD from its directory cache, without asking
// MinIO, for --dir-cache-time (5 minutes by default).
func LaunchRcloneS3(bin string, m *MinIO, dir string) (*Peer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, err
	}
	env := []string{
		"RCLONE_CONFIG=" + conf,
		"RCLONE_CONFIG_MINIO_TYPE=s3",
		"RCLONE_CONFIG_MINIO_PROVIDER=Minio",
		"RCLONE_CONFIG_MINIO_ENDPOINT=" + m.Endpoint(),
		"RCLONE_CONFIG_MINIO_REGION=us-east-1",
		"RCLONE_CONFIG_MINIO_ACCESS_KEY_ID=" + m.AccessKey(),
		"RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY=" + m.SecretKey(),
	}
	return launchPeer("rclone", dir, func(addr, accessKey, secretKey string) []string {
		return []string{"serve", "s3", "--addr", addr, "--auth-key", accessKey + "," + secretKey,
			"--log-level", "ERROR", "minio:"}
	}, bin, env)
}

// launchPeer starts bin with the arguments args builds for a free loopback
// address and a fresh root credential, and waits until it answers HTTP.
// The environment is ClientEnv's: nothing of the machine's AWS_* (in
// particular AWS_CA_BUNDLE), RCLONE_*, proxies or HOME reaches the peer.
func launchPeer(name, dir string, args func(addr, accessKey, secretKey string) []string, bin string, extraEnv []string) (*Peer, error) {
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	p := &Peer{name: name, accessKey: name + "-" + RandomString(12), secretKey: RandomString(32), out: &logBuffer{}}
	env := ClientEnv(home, extraEnv...)
	var err error
	// As for MinIO: the port is free when picked but may be taken before
	// the peer binds it, so a peer that exits at start gets fresh ports.
	for attempt := 0; ; attempt++ {
		if p.addr, err = freeAddr(); err != nil {
			return nil, err
		}
		if p.proc, err = startProcess(bin, args(p.addr, p.accessKey, p.secretKey), env, p.out, p.out); err != nil {
			return nil, err
		}
		err = waitAnswering(p.Endpoint()+"/health", p.proc, 60*time.Second)
		if err == nil {
			return p, nil
		}
		p.proc.kill()
		if !errors.Is(err, errExited) || attempt == 2 {
			return nil, fmt.Errorf("start %s: %w\n%s", name, err, p.out.tail(2000))
		}
	}
}

// waitAnswering polls url until the server answers with any HTTP status
// (rclone has no health endpoint and refuses unsigned requests), the
// process exits, or timeout passes.
func waitAnswering(url string, p *process, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			last = fmt.Errorf("status %s", resp.Status)
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering after %v (last: %v)", url, timeout, last)
}
