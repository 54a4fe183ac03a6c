package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/backend/embedded"
	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/test/harness"
)

// origin is an S3 server the gateway fronts in a test: a real MinIO, or
// the embedded backend photogate runs when none is configured.
type origin struct {
	endpoint             string // http://host:port
	accessKey, secretKey string
	direct               *minio.Client // talks to the server itself, bypassing photogate
	// storesChecksums: the server keeps the checksum an upload carried and
	// returns it on HEAD (MinIO does; the embedded backend only verifies).
	storesChecksums bool
	// errorIDs: the server's error documents have <RequestId> and <HostId>
	// elements, which photogate rewrites to its own ids. The embedded
	// backend's (gofakes3's) NoSuchKey document has neither.
	errorIDs bool
	// tagging: the server implements the ?tagging subresource (the
	// embedded backend answers NotImplemented).
	tagging bool
	// down takes the server off the network (connections are refused);
	// up brings it back at the same address with the same data.
	down, up func() error
}

// backendKind names an origin and how to start one.
type backendKind struct {
	name  string
	start func(t *testing.T) *origin
}

var (
	embeddedKind = backendKind{"embedded", startEmbedded}
	minioKind    = backendKind{"minio", startMinIO}
	// allBackends are the backends every proxy behaviour is checked against.
	// The embedded one needs nothing outside this process, so it runs under
	// -short; MinIO runs in the full suite.
	allBackends = []backendKind{embeddedKind, minioKind}
)

func startMinIO(t *testing.T) *origin {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MinIO: runs without -short")
	}
	m := harness.StartMinIO(t)
	return &origin{
		endpoint: m.Endpoint(), accessKey: m.AccessKey(), secretKey: m.SecretKey(),
		// The harness's client retries while a fresh MinIO finishes
		// initialising (XMinioServerNotInitialized).
		direct:          m.Client(),
		storesChecksums: true,
		errorIDs:        true,
		tagging:         true,
		down:            m.Stop,
		up:              m.Start,
	}
}

// startEmbedded serves the embedded backend on loopback, as photogate does
// without a configured endpoint, behind a relay that can cut it off.
func startEmbedded(t *testing.T) *origin {
	t.Helper()
	eb, err := embedded.Start(context.Background(), embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eb.Close(); err != nil {
			t.Error(err)
		}
	})
	r := startRelay(t, strings.TrimPrefix(eb.Endpoint(), "http://"))
	// The embedded server ignores signatures; these keys, the ones
	// photogate itself uses for it, only satisfy the signer.
	const accessKey, secretKey = "embedded", "embedded-backend"
	direct, err := minio.New(r.addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return &origin{
		endpoint: "http://" + r.addr, accessKey: accessKey, secretKey: secretKey, direct: direct,
		down: r.down, up: r.up,
	}
}

// relay forwards TCP connections to target. down closes its listener and
// every connection, so callers see exactly what a stopped server gives
// them (connection refused); up listens again on the same address.
type relay struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener // nil while down
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	if err := r.up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.down(); err != nil {
			t.Error(err)
		}
		r.wg.Wait()
	})
	return r
}

func (r *relay) up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return errors.New("relay is already up")
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("relay listen %s: %w", r.addr, err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.wg.Add(1)
	go r.accept(ln)
	return nil
}

func (r *relay) down() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return nil
	}
	err := r.ln.Close()
	r.ln = nil
	for c := range r.conns {
		c.Close()
	}
	return err
}

func (r *relay) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			client.Close()
			continue
		}
		if !r.track(client, server) {
			return
		}
		r.wg.Add(2)
		go r.pipe(client, server)
		go r.pipe(server, client)
	}
}

// track registers a connection pair, unless the relay went down meanwhile.
func (r *relay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		r.conns[c] = struct{}{}
	}
	return true
}

// pipe copies one direction; when either side ends, both are closed.
func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range []net.Conn{dst, src} {
		c.Close()
		delete(r.conns, c)
	}
}

// stack is an origin with an in-process photogate in front of it.
type stack struct {
	origin  *origin
	direct  *minio.Client // talks to the origin itself, bypassing photogate
	backend *backend.Backend
	front   *httptest.Server
	handler http.Handler
	logs    *lockedWriter
	audit   *lockedWriter
	metrics *prometheus.Registry // photogate's metrics, of gateway and backend client
	observe *observe.Metrics
	policy  *policy.Holder
	index   *metastore.Store // nil unless stackOptions.index
}

// stackOptions adjust a stack; the zero value suits most tests.
type stackOptions struct {
	breakerOpen time.Duration // 0: one second
	policy      *policy.Holder
	index       bool     // photogate keeps its metadata index, as the binary does
	baseDomains []string // virtual-host style addressing under these domains
}

func newStack(t *testing.T, kind backendKind, opts stackOptions) *stack {
	t.Helper()
	o := kind.start(t)
	if opts.breakerOpen == 0 {
		opts.breakerOpen = time.Second
	}
	if opts.policy == nil {
		opts.policy = fullAccess(t)
	}
	reg := prometheus.NewRegistry()
	m := observe.New(reg, observe.BuildInfo{Version: "test"})
	b, err := backend.NewBackend(backend.Config{
		Endpoint: o.endpoint, AccessKey: o.accessKey, SecretKey: o.secretKey,
		BreakerFailures: 3, BreakerOpen: opts.breakerOpen, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	logs := &lockedWriter{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	audit := &lockedWriter{}
	cfg := gateway.Config{Backend: b, Policy: opts.policy, HostID: "test", Logger: log,
		Audit: observe.NewAuditLogger(audit), Metrics: m, BaseDomains: opts.baseDomains}
	var store *metastore.Store
	if opts.index {
		store, err = metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := store.Close(); err != nil {
				t.Error(err)
			}
		})
		cfg.Index = reconcile.NewIndexer(store, b, log)
		cfg.Lookup = indexLookup{store}
	}
	srv := gateway.NewServer(cfg)
	front := httptest.NewServer(srv)
	t.Cleanup(front.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("photogate log:\n%s", logs.String())
		}
	})
	return &stack{origin: o, direct: o.direct, backend: b, front: front, handler: srv, logs: logs, audit: audit, metrics: reg, observe: m, policy: opts.policy, index: store}
}

// indexLookup answers the gateway's lookups from the index, as the binary's does.
type indexLookup struct{ store *metastore.Store }

func (l indexLookup) Lookup(ctx context.Context, bucket, key string) (gateway.IndexedObject, bool, error) {
	rec, ok, err := l.store.Get(ctx, bucket, key)
	return gateway.IndexedObject{Size: rec.Size, Owner: rec.Owner}, ok, err
}

// eachBackend runs test as one subtest per backend, each with its own stack.
func eachBackend(t *testing.T, opts stackOptions, test func(t *testing.T, s *stack)) {
	t.Helper()
	for _, kind := range allBackends {
		t.Run(kind.name, func(t *testing.T) {
			test(t, newStack(t, kind, opts))
		})
	}
}

// client is minio-go signing as the test user, talking to photogate.
func (s *stack) client(t *testing.T) *minio.Client {
	t.Helper()
	return s.clientAs(t, userKey, userSecret)
}

func (s *stack) clientAs(t *testing.T, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.front.URL, "http://"), &minio.Options{
		// A set region spares minio-go its GetBucketLocation calls, which
		// would show in the audit log.
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), MaxRetries: 1, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bucket creates a bucket directly at the origin.
func (s *stack) bucket(t *testing.T, name string) {
	t.Helper()
	if err := s.direct.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
}

// stored reads an object straight from the origin, bypassing photogate.
func (s *stack) stored(t *testing.T, bucket, key string) ([]byte, bool) {
	t.Helper()
	obj, err := s.direct.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}
