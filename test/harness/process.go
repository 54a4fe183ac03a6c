package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
// It is generous because a -race build drains and fsyncs slowly.
const stopGrace = 15 * time.Second

// process is one running child. Its exit status is collected by a goroutine
// so that callers can both wait with a timeout and ask whether it has died.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // written once, before done is closed
}

func startProcess(bin string, args, env []string, stdout, stderr io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = procAttr()
	// Bound how long Wait blocks on the output pipes if a grandchild keeps
	// them open after the child itself has exited.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has terminated.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace for the process to exit and kills it
// otherwise. It returns the exit error (nil for a clean exit with status 0);
// being killed after the grace period is reported as an error too.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("pid %d did not exit within %v of SIGTERM and was killed", p.pid(), grace)
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logBuffer collects a child's output. It is written by the exec package's
// copying goroutine and read by tests, hence the lock.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (b *logBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Len returns the number of bytes written so far.
func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// tail returns the last n bytes of output, for error messages.
func (b *logBuffer) tail(n int) string {
	out := b.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return string(out)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is released before the caller binds it, so another process can in
// principle take it first; launchers retry with fresh ports when the child
// fails to bind.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// errExited means the child died while we were waiting for it to come up.
var errExited = errors.New("process exited during startup")

// waitHTTPWith polls url with client until it answers 200, the process
// exits, or timeout passes.
func waitHTTPWith(client *http.Client, url string, p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %v (last: %s)", url, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childEnv is the environment for a child process: the test's own minus
// every variable that could redirect or configure the child behind the
// test's back (credentials, profiles, proxies, photogate settings), plus
// extra ("KEY=value").
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if dropEnv(name) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func dropEnv(name string) bool {
	upper := strings.ToUpper(name)
	for _, prefix := range []string{"AWS_", "BOTO_", "RCLONE_", "S3CMD", "PHOTOGATE_", "MINIO_", "MC_"} {
		if strings.HasPrefix(upper, prefix) {
			return true
		}
	}
	switch upper {
	case "HOME", "XDG_CONFIG_HOME", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
		"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR":
		return true
	}
	return false
}

// ClientEnv returns an environment for running an external S3 client: the
// test's own environment without anything that configures AWS tools, boto,
// rclone, s3cmd, MinIO or photogate, or that routes through a proxy or
// swaps CA bundles, with HOME set to home (give each client a fresh
// t.TempDir so that no ~/.aws, ~/.s3cfg or rclone.conf of the machine
// leaks in) and extra ("KEY=value") appended.
func ClientEnv(home string, extra ...string) []string {
	return childEnv(append([]string{"HOME=" + home}, extra...)...)
}
