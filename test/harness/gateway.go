package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// gatewayStartTimeout bounds how long photogate may take to answer
// /healthz. Startup recovers intents and opens bbolt; under -race that is
// slow but never this slow.
const gatewayStartTimeout = 60 * time.Second

// raceExitCode is the status a -race binary exits with after reporting a
// data race (GORACE exitcode default).
const raceExitCode = 66

// GatewayOptions configures StartGateway and LaunchGateway.
type GatewayOptions struct {
	// Binary is the photogate executable, normally from BuildGateway.
	Binary string

	// Backend, if set, fills BackendEndpoint and the backend keys from a
	// harness MinIO. Leave all backend fields empty for the embedded
	// backend. The CA of a MinIO started with TLS is not passed on by
	// itself: set PHOTOGATE_BACKEND_CA=<Backend.CAFile()> in Env, so that
	// tests can also run photogate without it.
	Backend          *MinIO
	BackendEndpoint  string
	BackendAccessKey string
	BackendSecretKey string

	// AccessKey and SecretKey are the client-facing full-access user;
	// random when empty. AdminToken likewise.
	AccessKey  string
	SecretKey  string
	AdminToken string

	// DataDir is photogate's data directory; StartGateway uses a fresh
	// t.TempDir when empty. LaunchGateway requires it.
	DataDir string

	// TLS serves the S3 API (and, sharing the certificate, the admin API)
	// over HTTPS with photogate's own listener (PHOTOGATE_TLS_CERT/KEY),
	// using a certificate for 127.0.0.1 from a fresh test CA written to the
	// directory "<DataDir>.tls" (see WriteTestCert). Clients trust
	// Gateway.CAFile.
	TLS bool

	// Env holds extra environment variables ("KEY=value"), applied last so
	// they override the harness's own settings.
	Env []string
}

// Gateway is the photogate binary running as a child process.
type Gateway struct {
	opts            GatewayOptions
	addr, adminAddr string
	scheme          string   // "http" or "https"
	cert            TestCert // set with TLS
	httpClient      *http.Client
	client          *minio.Client
	stderr, stdout  *logBuffer

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartGateway runs photogate on free loopback ports and waits until its
// /healthz answers. When the test ends it stops the gateway with SIGTERM and
// fails the test if the shutdown was not clean or the race detector
// reported a data race; if the test failed it logs the tail of the
// gateway's output.
func StartGateway(t testing.TB, opts GatewayOptions) *Gateway {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	g, err := LaunchGateway(opts)
	if err != nil {
		t.Fatalf("start photogate: %v", err)
	}
	t.Cleanup(func() {
		err := g.Stop()
		if err != nil {
			t.Errorf("photogate did not shut down cleanly: %v", err)
		}
		if races := g.RaceReports(); races != "" {
			t.Errorf("photogate reported data races:\n%s", races)
		}
		if t.Failed() {
			t.Logf("photogate stderr (tail):\n%s", g.stderr.tail(8192))
		}
	})
	return g
}

// LaunchGateway is StartGateway for callers without a testing.TB
// (TestMain); call Stop when done and check its error and RaceReports.
func LaunchGateway(opts GatewayOptions) (*Gateway, error) {
	if opts.Binary == "" {
		return nil, errors.New("GatewayOptions.Binary is empty: build it with BuildGateway")
	}
	if opts.DataDir == "" {
		return nil, errors.New("GatewayOptions.DataDir is empty")
	}
	if opts.Backend != nil {
		opts.BackendEndpoint = opts.Backend.Endpoint()
		opts.BackendAccessKey = opts.Backend.AccessKey()
		opts.BackendSecretKey = opts.Backend.SecretKey()
	}
	if opts.AccessKey == "" {
		opts.AccessKey = "PG" + strings.ToUpper(RandomString(18))
	}
	if opts.SecretKey == "" {
		opts.SecretKey = RandomString(40)
	}
	if opts.AdminToken == "" {
		opts.AdminToken = RandomString(32)
	}
	g := &Gateway{opts: opts, scheme: "http", stderr: &logBuffer{}, stdout: &logBuffer{}}
	var err error
	if opts.TLS {
		g.scheme = "https"
		if g.cert, err = WriteTestCert(filepath.Clean(opts.DataDir)+".tls", "cert.pem", "key.pem"); err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
	}
	if g.httpClient, err = httpClientTrusting(g.cert.CAFile, 2*time.Second); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if g.addr, err = freeAddr(); err != nil {
			return nil, err
		}
		if g.adminAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		err = g.Start()
		// Only a bind race is worth another try with fresh ports; any
		// other startup failure is the gateway's and is reported as is.
		if err == nil || !errors.Is(err, errExited) ||
			!strings.Contains(g.stderr.tail(4096), "address already in use") || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	mopts := &minio.Options{
		Creds:  credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Region: "us-east-1",
	}
	if opts.TLS {
		mopts.Secure = true
		mopts.Transport = &http.Transport{TLSClientConfig: g.httpClient.Transport.(*http.Transport).TLSClientConfig.Clone()}
	}
	g.client, err = minio.New(g.addr, mopts)
	if err != nil {
		g.Kill()
		return nil, err
	}
	return g, nil
}

// Start (re)starts photogate on the same ports and data directory, for
// restart and crash-recovery tests, and waits for /healthz.
func (g *Gateway) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc != nil && !g.proc.exited() {
		return errors.New("photogate is already running")
	}
	env := childEnv(
		"HOME="+g.opts.DataDir,
		"PHOTOGATE_LISTEN="+g.addr,
		"PHOTOGATE_ADMIN_LISTEN="+g.adminAddr,
		"PHOTOGATE_DATA_DIR="+g.opts.DataDir,
		"PHOTOGATE_BACKEND_ENDPOINT="+g.opts.BackendEndpoint,
		"PHOTOGATE_BACKEND_ACCESS_KEY="+g.opts.BackendAccessKey,
		"PHOTOGATE_BACKEND_SECRET_KEY="+g.opts.BackendSecretKey,
		"PHOTOGATE_ACCESS_KEY="+g.opts.AccessKey,
		"PHOTOGATE_SECRET_KEY="+g.opts.SecretKey,
		"PHOTOGATE_ADMIN_TOKEN="+g.opts.AdminToken,
		"PHOTOGATE_LOG_FORMAT=json",
	)
	if g.cert.CertFile != "" {
		env = append(env, "PHOTOGATE_TLS_CERT="+g.cert.CertFile, "PHOTOGATE_TLS_KEY="+g.cert.KeyFile)
	}
	env = append(env, g.opts.Env...)
	p, err := startProcess(g.opts.Binary, []string{"serve"}, env, g.stdout, g.stderr)
	if err != nil {
		return err
	}
	if err := waitHTTPWith(g.httpClient, g.AdminEndpoint()+"/healthz", p, gatewayStartTimeout); err != nil {
		p.kill()
		return fmt.Errorf("photogate on %s: %w\nstderr:\n%s", g.addr, err, g.stderr.tail(8192))
	}
	g.proc = p
	return nil
}

// Stop shuts photogate down with SIGTERM, as an orchestrator would, and
// returns an error unless it exits with status 0 within the grace period.
// A data race detected by a -race build makes it exit with status 66, which
// is reported here too. Stop is a no-op when photogate is not running.
func (g *Gateway) Stop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return nil
	}
	err := g.proc.stop(stopGrace)
	g.proc = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == raceExitCode {
		return fmt.Errorf("exit status %d: the race detector found a data race (see RaceReports)", raceExitCode)
	}
	return err
}

// Kill stops photogate with SIGKILL, as a crash or the OOM killer would.
func (g *Gateway) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return
	}
	g.proc.kill()
	g.proc = nil
}

// Pid is the process id of the running gateway, or 0 when stopped.
func (g *Gateway) Pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return 0
	}
	return g.proc.pid()
}

// Endpoint is the S3 API's base URL, e.g. http://127.0.0.1:41234 (https
// with GatewayOptions.TLS).
func (g *Gateway) Endpoint() string { return g.scheme + "://" + g.addr }

// Addr is the S3 API's host:port.
func (g *Gateway) Addr() string { return g.addr }

// AdminEndpoint is the admin API's base URL (/healthz, /metrics, /api/v1).
func (g *Gateway) AdminEndpoint() string { return g.scheme + "://" + g.adminAddr }

// CAFile is the PEM file of the test CA clients must trust with
// GatewayOptions.TLS, or "" without TLS.
func (g *Gateway) CAFile() string { return g.cert.CAFile }

// TLSCert is the certificate photogate serves with GatewayOptions.TLS (zero
// without TLS), for tests that replace or inspect it.
func (g *Gateway) TLSCert() TestCert { return g.cert }

// HTTPClient returns a client for the gateway's endpoints that trusts its
// certificate when it serves TLS.
func (g *Gateway) HTTPClient() *http.Client {
	return &http.Client{Transport: g.httpClient.Transport}
}

// Binary is the photogate executable this gateway runs.
func (g *Gateway) Binary() string { return g.opts.Binary }

// AccessKey is the client-facing full-access user's key id.
func (g *Gateway) AccessKey() string { return g.opts.AccessKey }

// SecretKey is the client-facing full-access user's secret.
func (g *Gateway) SecretKey() string { return g.opts.SecretKey }

// AdminToken is the bearer token for the admin API.
func (g *Gateway) AdminToken() string { return g.opts.AdminToken }

// DataDir is photogate's data directory.
func (g *Gateway) DataDir() string { return g.opts.DataDir }

// Client is a minio-go client pointed at the gateway with the full-access
// user's credentials.
func (g *Gateway) Client() *minio.Client { return g.client }

// Metrics scrapes the admin listener's /metrics and returns every sample
// keyed as exposed, e.g.
// `photogate_s3_requests_total{code="200",operation="PutObject"}`.
func (g *Gateway) Metrics(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := g.httpClient.Get(g.AdminEndpoint() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad metrics sample %q", line)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	return samples
}

// Stderr returns everything photogate wrote to stderr so far.
func (g *Gateway) Stderr() string { return string(g.stderr.Bytes()) }

// LogEntry is one JSON log line of photogate. The request fields are those
// of the per-request line; other lines leave them zero. Fields holds the
// whole line as decoded, for anything not modelled here.
type LogEntry struct {
	Time       string
	Level      string
	Msg        string
	RequestID  string
	Op         string
	Bucket     string
	Key        string
	Status     int
	BytesIn    int64
	BytesOut   int64
	DurationMS float64
	Payload    string
	Checksum   string
	Fields     map[string]any
}

// IsRequest reports whether the line is a per-request line.
func (e LogEntry) IsRequest() bool { return e.RequestID != "" && e.Status != 0 }

func (e LogEntry) String() string {
	b, _ := json.Marshal(e.Fields)
	return string(b)
}

// Logs parses every JSON line photogate wrote to stderr so far. Lines that
// are not JSON objects (a panic, a race report) are skipped; see Stderr.
func (g *Gateway) Logs() []LogEntry {
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(g.stderr.Bytes()))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if e, ok := parseLogLine(sc.Bytes()); ok {
			out = append(out, e)
		}
	}
	return out
}

// RequestLogs returns the per-request lines matching keep (all if nil).
func (g *Gateway) RequestLogs(keep func(LogEntry) bool) []LogEntry {
	var out []LogEntry
	for _, e := range g.Logs() {
		if e.IsRequest() && (keep == nil || keep(e)) {
			out = append(out, e)
		}
	}
	return out
}

// LogFor waits up to timeout for the per-request line with the given
// request id (as returned in x-amz-request-id). The line may be written
// just after the response, so a test reading it right away must wait.
func (g *Gateway) LogFor(requestID string, timeout time.Duration) (LogEntry, bool) {
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range g.Logs() {
			if e.RequestID == requestID && e.IsRequest() {
				return e, true
			}
		}
		if time.Now().After(deadline) {
			return LogEntry{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RaceReports returns the race detector's reports in photogate's stderr,
// or "" if there are none.
func (g *Gateway) RaceReports() string {
	const marker = "WARNING: DATA RACE"
	s := g.Stderr()
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	// Start at the separator line the detector prints above the warning.
	if j := strings.LastIndex(s[:i], "=================="); j >= 0 {
		i = j
	}
	return s[i:]
}

func parseLogLine(line []byte) (LogEntry, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return LogEntry{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return LogEntry{}, false
	}
	return LogEntry{
		Time:       str(m["time"]),
		Level:      str(m["level"]),
		Msg:        str(m["msg"]),
		RequestID:  str(m["request_id"]),
		Op:         str(m["op"]),
		Bucket:     str(m["bucket"]),
		Key:        str(m["key"]),
		Status:     int(num(m["status"])),
		BytesIn:    int64(num(m["bytes_in"])),
		BytesOut:   int64(num(m["bytes_out"])),
		DurationMS: num(m["duration_ms"]),
		Payload:    str(m["payload"]),
		Checksum:   str(m["checksum"]),
		Fields:     m,
	}, true
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// num accepts numbers and numeric strings: the log format is the gateway's
// to choose, and the tests assert values, not JSON types.
func num(v any) float64 {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return 0
	}
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		return 0
	}
	return f
}
