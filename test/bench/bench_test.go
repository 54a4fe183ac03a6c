// Package bench measures MinIO direct against the same MinIO through
// photogate and through its peers, versitygw (S3-proxy mode) and rclone
// (`serve s3`), side by side in one run, and reports each gateway's ratios
// to direct (report_test.go renders them). `make bench` runs
//
//	go test -run='^$' -bench=. -benchtime=1x -timeout 60m ./test/bench/
//
// BenchmarkSideBySide is the report: it ignores b.N and runs its whole
// matrix once. BenchmarkGateway/<size>/<op> runs one cell through photogate
// only, b.N operations, for profiling (see its comment).
//
// Environment:
//
//	PHOTOGATE_BIN=path              use this photogate binary instead of building one
//	PHOTOGATE_BENCH_DIRECT_ONLY=1   measure MinIO direct only (to validate the driver)
//	PHOTOGATE_BENCH_NO_PEERS=1      leave versitygw and rclone out (they are installed on first use; rclone's build takes minutes)
//	PHOTOGATE_VERSITYGW, PHOTOGATE_RCLONE   use these peer binaries instead of the pinned ones (harness.VersityGW, harness.Rclone)
//	PHOTOGATE_BENCH_PERF=file       record photogate with `perf record -g` during BenchmarkGateway
//	PHOTOGATE_BENCH_DATA_DIR=dir    where MinIO and photogate keep their data (default: under /dev/shm, see chooseDataDir)
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"github.com/photogate/photogate/test/harness"
)

const (
	concurrency   = 8
	bigUploadSize = 2 << 30
	bigPartSize   = 16 << 20
)

// Each cell runs in many short rounds that alternate direct, photogate and
// the peers (each round starts with the next one), so that the load of
// whatever else runs on the 2 cores lands on every side alike; the report
// judges the targets on the median of the per-round ratios.
//
// Counts are fixed rather than time-bounded because PUT writes the keys
// that GET, HEAD and DELETE of the same round then use. 24 × 100 = 2400
// ops per 64 KiB cell and 12 × 16 = 192 ops (3 GiB) per 16 MiB cell give
// p99s from > 100 samples; a round is 2 ops per worker at 16 MiB (one op
// each would measure mostly the slowest worker) and ~0.1–1 s at 64 KiB.
// With the peers the whole run takes 10–15 minutes on 2 cores, builds
// excluded (rclone's first build adds several minutes).
var sizes = []struct {
	label    string
	size     int64
	rounds   int
	perRound int
	warmup   int
}{
	{"64 KiB", 64 << 10, 24, 100, 64},
	{"16 MiB", 16 << 20, 12, 16, 8},
}

var ops = []string{"PUT", "GET", "HEAD", "DELETE"}

// target is one side of the comparison: an S3 client and its own bucket.
type target struct {
	name   string // "direct", "photogate", "versitygw" or "rclone"
	s3     *s3.Client
	minio  *minio.Client    // for the 2 GiB streaming upload; nil for the peers
	gw     *harness.Gateway // photogate's only
	peer   *harness.Peer    // the peers' only
	bucket string
}

// pid is the process of the gateway itself, whose CPU time is its own
// cost per op; 0 for direct.
func (t *target) pid() int {
	switch {
	case t.gw != nil:
		return t.gw.Pid()
	case t.peer != nil:
		return t.peer.Pid()
	}
	return 0
}

type env struct {
	minio      *harness.MinIO
	gw         *harness.Gateway
	direct     *target
	gateway    *target   // nil with PHOTOGATE_BENCH_DIRECT_ONLY
	peers      []*target // started by BenchmarkSideBySide only
	minioPid   int
	httpClient *awshttp.BuildableClient
}

func (e *env) targets() []*target {
	if e.gateway == nil {
		return []*target{e.direct}
	}
	return append([]*target{e.direct, e.gateway}, e.peers...)
}

var (
	shared    *env
	sharedErr error
	setupOnce sync.Once
	tmpRoot   string
	dataRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "photogate-bench-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	if dataRoot, err = chooseDataDir(tmpRoot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dataRoot)
	if err := isolateAWSConfig(tmpRoot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	// The processes start lazily, so `go test ./...` (no -bench) never
	// starts any of them.
	if shared != nil {
		if shared.gw != nil {
			if err := shared.gw.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "FAIL: photogate did not shut down cleanly: %v\n", err)
				code = 1
			}
			if races := shared.gw.RaceReports(); races != "" {
				fmt.Fprintf(os.Stderr, "FAIL: photogate reported data races:\n%s\n", races)
				code = 1
			}
		}
		for _, t := range shared.peers {
			// A peer is measured, not tested: a rough exit is worth a
			// line, not a failed benchmark.
			if err := t.peer.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "warning: %v\n", err)
			}
		}
		shared.minio.Close()
	}
	return code
}

// isolateAWSConfig gives the SDK its defaults: no AWS_* variable of the
// machine (AWS_CA_BUNDLE would also make LoadDefaultConfig refuse our
// http.Client), and empty shared config and credentials files.
func isolateAWSConfig(dir string) error {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(strings.ToUpper(name), "AWS_") {
			os.Unsetenv(name)
		}
	}
	for name, file := range map[string]string{"AWS_CONFIG_FILE": "aws-config", "AWS_SHARED_CREDENTIALS_FILE": "aws-credentials"} {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			return err
		}
		os.Setenv(name, p)
	}
	return nil
}

// chooseDataDir picks the one directory under which both MinIO and
// photogate keep their data, so that both write to the same medium: tmpfs
// when the machine has memory to spare for up to 2.5 GiB of objects. On a
// shared VM disk, fsync stalls of tens to hundreds of ms dominate every
// mutation on both sides and vary from second to second; set
// PHOTOGATE_BENCH_DATA_DIR to a disk directory to measure with them.
func chooseDataDir(tmp string) (string, error) {
	if d := os.Getenv("PHOTOGATE_BENCH_DATA_DIR"); d != "" {
		return os.MkdirTemp(d, "photogate-bench-data-")
	}
	if memAvailable() > 4*bigUploadSize {
		if d, err := os.MkdirTemp("/dev/shm", "photogate-bench-data-"); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp(tmp, "data-")
}

// memAvailable is MemAvailable from /proc/meminfo in bytes, or 0.
func memAvailable() int64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func setup(b *testing.B) *env {
	b.Helper()
	setupOnce.Do(func() { shared, sharedErr = start(b.Context()) })
	if sharedErr != nil {
		b.Fatal(sharedErr)
	}
	return shared
}

func start(ctx context.Context) (*env, error) {
	e := &env{}
	var err error
	if e.minio, err = harness.LaunchMinIO(filepath.Join(dataRoot, "minio")); err != nil {
		return nil, fmt.Errorf("start MinIO: %w", err)
	}
	e.minioPid = childPid("minio")
	// One transport for both sides: the SDK's default one with room for
	// every worker's connection to stay idle between requests.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 64
	})
	e.httpClient = httpClient
	if e.direct, err = newTarget(ctx, "direct", e.minio.Endpoint(), e.minio.AccessKey(), e.minio.SecretKey(), httpClient); err != nil {
		return e, err
	}
	e.direct.minio = e.minio.Client()
	if os.Getenv("PHOTOGATE_BENCH_DIRECT_ONLY") == "" {
		bin, err := buildGateway(ctx, tmpRoot)
		if err != nil {
			return e, err
		}
		dataDir := filepath.Join(dataRoot, "photogate")
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return e, err
		}
		if e.gw, err = harness.LaunchGateway(harness.GatewayOptions{Binary: bin, Backend: e.minio, DataDir: dataDir}); err != nil {
			return e, fmt.Errorf("start photogate: %w", err)
		}
		if e.gateway, err = newTarget(ctx, "photogate", e.gw.Endpoint(), e.gw.AccessKey(), e.gw.SecretKey(), httpClient); err != nil {
			return e, err
		}
		e.gateway.gw, e.gateway.minio = e.gw, e.gw.Client()
	}
	for _, t := range e.targets() {
		if err := t.createBucket(ctx); err != nil {
			return e, err
		}
	}
	return e, nil
}

func (t *target) createBucket(ctx context.Context) error {
	if _, err := t.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &t.bucket}); err != nil {
		return fmt.Errorf("%s: create bucket %s: %s", t.name, t.bucket, t.describe(err))
	}
	return nil
}

// startPeers starts versitygw and rclone in front of the same MinIO,
// installing the pinned versions on first use (harness.VersityGW,
// harness.Rclone), unless PHOTOGATE_BENCH_NO_PEERS or
// PHOTOGATE_BENCH_DIRECT_ONLY is set.
func startPeers(b *testing.B, e *env) {
	b.Helper()
	if e.gateway == nil || e.peers != nil || os.Getenv("PHOTOGATE_BENCH_NO_PEERS") != "" {
		return
	}
	peers := []struct {
		name   string
		bin    func(testing.TB) string
		launch func(bin string, m *harness.MinIO, dir string) (*harness.Peer, error)
	}{
		{"versitygw", harness.VersityGW, harness.LaunchVersityGW},
		{"rclone", harness.Rclone, harness.LaunchRcloneS3},
	}
	for _, p := range peers {
		bin := p.bin(b)
		peer, err := p.launch(bin, e.minio, filepath.Join(tmpRoot, p.name))
		if err != nil {
			b.Fatalf("start %s: %v", p.name, err)
		}
		t, err := newTarget(b.Context(), p.name, peer.Endpoint(), peer.AccessKey(), peer.SecretKey(), e.httpClient)
		if err == nil {
			t.peer = peer
			err = t.createBucket(b.Context())
		}
		if err != nil {
			if stopErr := peer.Stop(); stopErr != nil {
				b.Log(stopErr)
			}
			b.Fatalf("%s: %v\n%s output:\n%s", p.name, err, p.name, peer.Output())
		}
		e.peers = append(e.peers, t)
	}
}

// buildGateway builds photogate as shipped, never with -race (which
// harness.BuildGateway adds when the test binary has it) and unstripped so
// that perf can name its functions. $PHOTOGATE_BIN wins, as in the harness.
func buildGateway(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("PHOTOGATE_BIN"); p != "" {
		return p, nil
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "photogate-bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "nodynamic", "-trimpath", "-o", out, "./cmd/photogate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/photogate: %w\n%s", err, b)
	}
	return out, nil
}

func newTarget(ctx context.Context, name, endpoint, accessKey, secretKey string, hc *awshttp.BuildableClient) (*target, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")),
		config.WithHTTPClient(hc),
	)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	return &target{name: name, s3: client, bucket: "bench-" + name + "-" + harness.RandomString(6)}, nil
}

// failure is one failed (or retried) request, with what photogate logged
// about it.
type failure struct {
	target, op, key string
	status          int
	requestID       string
	err             string
	retried         bool // a later attempt of the SDK's retryer succeeded
}

// batch is one run of one cell on one target.
type batch struct {
	ops      int
	bytes    int64 // payload moved (PUT, GET)
	elapsed  time.Duration
	lat      []time.Duration // successful ops only
	errors   int
	retries  int
	failures []failure // the first few
	cpu      cpuTimes  // CPU used by each process during the batch
	// backendRequests is how many requests photogate sent MinIO during the
	// batch (its photogate_backend_requests_total); 0 for the others.
	backendRequests float64
}

const keepFailures = 5

// runBatch runs op on every key with `concurrency` workers.
func (t *target) runBatch(ctx context.Context, op string, keys []string, body []byte) batch {
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  = batch{ops: len(keys), lat: make([]time.Duration, 0, len(keys))}
		wg   sync.WaitGroup
	)
	record := func(f failure, lat time.Duration, failed bool) {
		mu.Lock()
		defer mu.Unlock()
		if failed {
			res.errors++
		} else {
			res.lat = append(res.lat, lat)
		}
		if f.err != "" {
			if f.retried {
				res.retries++
			}
			if len(res.failures) < keepFailures {
				res.failures = append(res.failures, f)
			}
		}
	}
	startAll := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(keys) || ctx.Err() != nil {
					return
				}
				start := time.Now()
				md, err := t.do(ctx, op, keys[i], body)
				lat := time.Since(start)
				f := failure{target: t.name, op: op, key: keys[i]}
				if err != nil {
					f.status, f.requestID = requestInfo(err)
					f.err = err.Error()
				} else if attempts, ok := retry.GetAttemptResults(md); ok {
					for _, a := range attempts.Results {
						if a.Err != nil {
							f.status, f.requestID = requestInfo(a.Err)
							f.err, f.retried = a.Err.Error(), true
							break
						}
					}
				}
				record(f, lat, err != nil)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(startAll)
	if op == "PUT" || op == "GET" {
		res.bytes = int64(len(res.lat)) * int64(len(body))
	}
	return res
}

// do runs one operation; GET reads the whole body.
func (t *target) do(ctx context.Context, op, key string, body []byte) (middleware.Metadata, error) {
	bucket := &t.bucket
	switch op {
	case "PUT":
		out, err := t.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: &key, Body: bytes.NewReader(body)})
		if err != nil {
			return middleware.Metadata{}, err
		}
		return out.ResultMetadata, nil
	case "GET":
		out, err := t.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: &key})
		if err != nil {
			return middleware.Metadata{}, err
		}
		defer out.Body.Close()
		n, err := io.Copy(io.Discard, out.Body)
		if err == nil && n != int64(len(body)) {
			err = fmt.Errorf("GET %s: read %d bytes, want %d", key, n, len(body))
		}
		return out.ResultMetadata, err
	case "HEAD":
		out, err := t.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: &key})
		if err != nil {
			return middleware.Metadata{}, err
		}
		if aws.ToInt64(out.ContentLength) != int64(len(body)) {
			err = fmt.Errorf("HEAD %s: Content-Length %d, want %d", key, aws.ToInt64(out.ContentLength), len(body))
		}
		return out.ResultMetadata, err
	case "DELETE":
		out, err := t.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: &key})
		if err != nil {
			return middleware.Metadata{}, err
		}
		return out.ResultMetadata, nil
	}
	return middleware.Metadata{}, fmt.Errorf("unknown op %q", op)
}

// requestInfo extracts the HTTP status and x-amz-request-id of a failed
// request from an aws-sdk-go-v2 or minio-go error.
func requestInfo(err error) (int, string) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode(), re.ServiceRequestID()
	}
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return me.StatusCode, me.RequestID
	}
	return 0, ""
}

// gatewayLog is photogate's log line for a request, or the tail of its
// stderr when the request has no id (a connection that broke).
func (t *target) gatewayLog(f failure) string {
	if t.gw == nil {
		return ""
	}
	if f.requestID != "" {
		if e, ok := t.gw.LogFor(f.requestID, 2*time.Second); ok {
			return e.String()
		}
		return "(no log line for request id " + f.requestID + ")"
	}
	lines := strings.Split(strings.TrimSpace(t.gw.Stderr()), "\n")
	return strings.Join(lines[max(0, len(lines)-3):], "\n")
}

func (t *target) describe(err error) string {
	status, id := requestInfo(err)
	s := fmt.Sprintf("%v (status %d, request id %q)", err, status, id)
	if l := t.gatewayLog(failure{requestID: id}); l != "" {
		s += "\nphotogate: " + l
	}
	return s
}

// cpuTimes is CPU time (user + system) used by the benchmark client, MinIO
// and the gateway measured (photogate or a peer; nothing for direct). On a
// machine where the three share 2 cores it explains the ratios: throughput
// is roughly the cores over the CPU time per op.
type cpuTimes struct{ client, minio, gateway time.Duration }

func (c cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{c.client - o.client, c.minio - o.minio, c.gateway - o.gateway}
}

// cpu reads the CPU times of the client, MinIO and t's own gateway process.
func (e *env) cpu(t *target) cpuTimes {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	c := cpuTimes{
		client: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		minio:  procCPU(e.minioPid),
	}
	if pid := t.pid(); pid != 0 {
		c.gateway = procCPU(pid)
	}
	return c
}

// backendRequests is photogate's photogate_backend_requests_total over all
// operations and outcomes, or 0 for any other target.
func (t *target) backendRequests(b *testing.B) float64 {
	if t.gw == nil {
		return 0
	}
	sum := 0.0
	for name, v := range t.gw.Metrics(b) {
		if strings.HasPrefix(name, "photogate_backend_requests_total{") {
			sum += v
		}
	}
	return sum
}

// procCPU is the CPU time (user + system, of every thread, living or
// exited) of pid, from the kernel's CPU clock of that process, in
// nanoseconds. /proc/<pid>/stat counts 10 ms ticks, more than a 16 MiB
// DELETE round takes.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	var ts unix.Timespec
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's
	// posix-timers.h: what clock_getcpuclockid(3) returns for pid.
	clock := int32(^uint32(pid)<<3) | 2
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// quiesce waits, at most 2 s, until MinIO and every gateway are idle:
// under 0.5 ms of CPU between them in 10 ms. MinIO finishes deletes in the
// background (it moves the files to its trash and removes them later), and
// that work belongs to the batch that asked for it, not to the throughput
// of whichever batch runs next.
func (e *env) quiesce() {
	var pids []int
	if e.minioPid != 0 {
		pids = append(pids, e.minioPid)
	}
	for _, t := range e.targets() {
		if pid := t.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	total := func() (sum time.Duration) {
		for _, pid := range pids {
			sum += procCPU(pid)
		}
		return sum
	}
	prev := total()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		now := total()
		if now-prev < 500*time.Microsecond {
			return
		}
		prev = now
	}
}

// childPid finds the pid of this process's child running comm (the
// harness does not expose MinIO's), or 0.
func childPid(comm string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		name, rest, ok := bytes.Cut(stat, []byte(") "))
		if f := strings.Fields(string(rest)); ok && len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) &&
			strings.HasSuffix(string(name), "("+comm) {
			return pid
		}
	}
	return 0
}

func keysFor(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/%06d", prefix, i)
	}
	return keys
}

// BenchmarkSideBySide is `make bench`: every (size, op) cell against MinIO
// direct, through photogate and through the peers, interleaved in rounds,
// then photogate's peak RSS during a 2 GiB streaming multipart upload. It
// prints the report and writes it to results/latest.md.
func BenchmarkSideBySide(b *testing.B) {
	e := setup(b)
	startPeers(b, e)
	ctx := b.Context()
	rep := &report{facts: machineFacts(), directOnly: e.gateway == nil}

	for _, sz := range sizes {
		body := harness.RandomBytes(int(sz.size))
		// Warm-up: connections, page cache, MinIO's and photogate's
		// first-use paths. Not recorded.
		for _, t := range e.targets() {
			keys := keysFor("warmup/"+strings.ReplaceAll(sz.label, " ", ""), sz.warmup)
			for _, op := range ops {
				t.runBatch(ctx, op, keys, body)
			}
		}
		e.quiesce()
		for r := range sz.rounds {
			keys := keysFor(fmt.Sprintf("%s/r%d", strings.ReplaceAll(sz.label, " ", ""), r), sz.perRound)
			for _, op := range ops {
				ts := e.targets()
				k := r % len(ts)
				for _, t := range slices.Concat(ts[k:], ts[:k]) {
					requestsBefore := t.backendRequests(b)
					before := e.cpu(t)
					res := t.runBatch(ctx, op, keys, body)
					e.quiesce()
					res.cpu = e.cpu(t).sub(before)
					res.backendRequests = t.backendRequests(b) - requestsBefore
					for i := range res.failures {
						res.failures[i].err += logSuffix(t.gatewayLog(res.failures[i]))
					}
					rep.add(sz.label, sz.size, op, t.name, res)
				}
			}
		}
	}

	if e.gw != nil {
		rep.matrixHWM = vmHWM(e.gw.Pid())
	}
	rep.uploads = bigUploads(ctx, b, e)

	out := rep.markdown()
	fmt.Print("\n" + out)
	if err := os.MkdirAll("results", 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("results", "latest.md"), []byte(out), 0o644); err != nil {
		b.Fatal(err)
	}
	if n := rep.errorCount(); n > 0 {
		b.Errorf("%d requests failed; see the Failures section of the report", n)
	}
}

func logSuffix(l string) string {
	if l == "" {
		return ""
	}
	return "\n    photogate log: " + l
}

// upload is one 2 GiB streaming multipart upload.
type upload struct {
	target           string
	elapsed          time.Duration
	err              string
	hwmBefore, hwmKB int64 // photogate's VmHWM in kB at start and after; 0 for direct
}

// bigUploads streams 2 GiB of generated data with minio-go (unknown size,
// 16 MiB parts, 4 in flight) to MinIO direct and through a freshly
// restarted photogate, reading photogate's VmHWM before and after. The
// peers are not part of it.
func bigUploads(ctx context.Context, b *testing.B, e *env) []upload {
	var ups []upload
	for _, t := range e.targets() {
		if t.minio == nil {
			continue
		}
		u := upload{target: t.name}
		if t.gw != nil {
			// A fresh process, so VmHWM covers this upload only.
			if err := t.gw.Stop(); err != nil {
				b.Errorf("photogate restart: stop: %v", err)
			}
			if err := t.gw.Start(); err != nil {
				b.Fatalf("photogate restart: %v", err)
			}
			u.hwmBefore = vmHWM(t.gw.Pid())
		}
		key := "big/2GiB"
		start := time.Now()
		_, err := t.minio.PutObject(ctx, t.bucket, key, newPatternReader(bigUploadSize), -1, minio.PutObjectOptions{
			PartSize: bigPartSize, ConcurrentStreamParts: true, NumThreads: 4,
			ContentType: "application/octet-stream",
		})
		u.elapsed = time.Since(start)
		if t.gw != nil {
			u.hwmKB = vmHWM(t.gw.Pid())
		}
		if err != nil {
			status, id := requestInfo(err)
			u.err = fmt.Sprintf("PUT %s/%s (multipart, 2 GiB): %v (status %d, request id %q)%s",
				t.bucket, key, err, status, id, logSuffix(t.gatewayLog(failure{requestID: id})))
			b.Errorf("%s: %s", t.name, u.err)
		}
		if err := t.minio.RemoveObject(ctx, t.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			b.Errorf("%s: delete the 2 GiB object: %s", t.name, t.describe(err))
		}
		ups = append(ups, u)
	}
	return ups
}

// patternReader yields n bytes cycling through a random block whose length
// is not a power of two, so parts differ; nothing is held but the block.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

func newPatternReader(n int64) *patternReader {
	return &patternReader{block: harness.RandomBytes(1<<20 + 4099), left: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.block[r.off:])
		n += c
		r.off = (r.off + c) % len(r.block)
	}
	r.left -= int64(n)
	return n, nil
}

// vmHWM is the peak resident set size of pid in kB, or 0 if unknown.
func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// BenchmarkGateway runs one cell through photogate only: b.N operations,
// 8 at a time, for profiling the gateway's hot path. photogate is a
// separate process, so -cpuprofile would only profile this client; record
// the gateway with perf instead (the bench builds it unstripped):
//
//	PHOTOGATE_BENCH_PERF=/tmp/pg.perf go test -run='^$' \
//	    -bench='Gateway/16MiB/PUT' -benchtime=200x ./test/bench/
//	perf report -i /tmp/pg.perf-BenchmarkGateway_16MiB_PUT --no-children --sort symbol | head -60
func BenchmarkGateway(b *testing.B) {
	for _, sz := range sizes {
		for _, op := range ops {
			b.Run(strings.ReplaceAll(sz.label, " ", "")+"/"+op, func(b *testing.B) {
				e := setup(b)
				if e.gateway == nil {
					b.Skip("PHOTOGATE_BENCH_DIRECT_ONLY is set")
				}
				t := e.gateway
				ctx := b.Context()
				body := harness.RandomBytes(int(sz.size))
				keys := keysFor("hot/"+harness.RandomString(8), b.N)
				if op != "PUT" {
					t.mustRun(b, "PUT", keys, body)
				}
				stop := startPerf(b, t.gw.Pid())
				b.SetBytes(sz.size)
				b.ResetTimer()
				res := t.runBatch(ctx, op, keys, body)
				b.StopTimer()
				stop()
				if res.errors > 0 {
					b.Fatalf("%d of %d failed; first: %s%s", res.errors, res.ops, res.failures[0].err, logSuffix(t.gatewayLog(res.failures[0])))
				}
				b.ReportMetric(float64(percentile(res.lat, 0.50).Microseconds())/1000, "p50-ms")
				if op != "DELETE" {
					t.mustRun(b, "DELETE", keys, body)
				}
			})
		}
	}
}

func (t *target) mustRun(b *testing.B, op string, keys []string, body []byte) {
	b.Helper()
	if res := t.runBatch(b.Context(), op, keys, body); res.errors > 0 {
		b.Fatalf("%s: %d of %d failed; first: %s%s", op, res.errors, res.ops, res.failures[0].err, logSuffix(t.gatewayLog(res.failures[0])))
	}
}

// startPerf starts `perf record` on pid when PHOTOGATE_BENCH_PERF names an
// output file (suffixed with the benchmark's name), and returns the
// function that stops it.
func startPerf(b *testing.B, pid int) (stop func()) {
	file := os.Getenv("PHOTOGATE_BENCH_PERF")
	if file == "" {
		return func() {}
	}
	file += "-" + strings.ReplaceAll(b.Name(), "/", "_")
	cmd := exec.Command("perf", "record", "-g", "-F", "499", "-p", strconv.Itoa(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Logf("perf: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // let perf attach
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
}
