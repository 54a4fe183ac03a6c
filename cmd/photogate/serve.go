package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/backend/embedded"
	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/internal/tlsutil"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/metastore/indexmetrics"
	"github.com/photogate/photogate/metastore/pgstore"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/policy"
)

// serve runs the gateway: configuration, backend, index, policy, then the
// S3 and admin servers until ctx ends or a server fails.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, log, err := loadServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	embeddedBackend := cfg.Backend.Endpoint == ""
	quickStart, stopEmbedded, err := startEmbeddedIfUnconfigured(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stopEmbedded()
	engine, err := compilePolicy(cfg)
	if err != nil {
		return err
	}
	reg, m := newMetrics()
	audit, closeAudit, err := openAudit(cfg.Log.Audit, stderr)
	if err != nil {
		return err
	}
	defer closeAudit()

	backendClient, err := openBackend(cfg.Backend, m, log)
	if err != nil {
		return err
	}
	defer backendClient.Close()
	checkBackendAtStart(ctx, backendClient, log)
	store, index, err := openIndex(ctx, cfg, backendClient, m, log)
	if err != nil {
		return err
	}
	defer store.Close()
	pol := policy.NewHolder(engine, policy.Options{Usage: indexUsage{store}, Observer: m, Shared: sharedQuotas(store)})
	if pg, ok := store.(*pgstore.Store); ok {
		fctx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
		defer stopFollowing()
		go followReplicas(fctx, pg, pol, pg.IntentLease()/3, log)
	}
	rend, err := setUpRenditions(cfg.Renditions, embeddedBackend, cfg.Backend.SecretKey, store, index, backendClient, m, log)
	if err != nil {
		return err
	}
	stopBackground := startIndex(ctx, index, recoveryInterval(store), log)
	defer stopBackground()
	stopRenditions := rend.start(ctx)
	defer stopRenditions()

	s3 := gateway.NewServer(gateway.Config{
		Backend:     backendClient,
		Policy:      pol,
		Index:       index,
		Lookup:      indexUsage{store},
		Metrics:     m,
		Audit:       audit,
		Logger:      log,
		BaseDomains: cfg.BaseDomains,
		HostID:      hostname(),
		// Hidden also when renditions are off: the bucket may hold
		// renditions from before.
		InternalBuckets: []string{rend.bucket},
	})
	var draining atomic.Bool
	admin := func(s3Addr net.Addr) (http.Handler, error) {
		gal, err := newGallery(cfg, s3, s3Addr, store, pol, rend, log)
		if err != nil {
			return nil, err
		}
		return newAdminHandler(cfg, reg, m, backendClient, store, index, pol, rend, gal, &draining, log), nil
	}
	srv, err := listenBoth(cfg, s3, admin, log)
	if err != nil {
		return err
	}
	defer srv.close()
	srv.start()
	log.Info("photogate serving", "version", versionString(), "s3", srv.s3Ln.Addr().String(),
		"admin", srv.adminLn.Addr().String(), "tls", cfg.TLS.enabled(), "backend", redactURL(cfg.Backend.Endpoint), "users", len(cfg.Users))
	if quickStart != "" {
		scheme := "http"
		if cfg.TLS.enabled() {
			scheme = "https"
		}
		printQuickStart(stdout, quickStartInfo{
			scheme: scheme, listen: srv.s3Ln.Addr().String(), adminListen: srv.adminLn.Addr().String(),
			credPath: quickStart, self: selfCommand(), gallery: cfg.Gallery.enabled(),
		})
	}
	return srv.run(ctx, shutdownPlan{drain: cfg.ShutdownDrain, grace: cfg.ShutdownTimeout, draining: &draining}, log, func() {
		reloadPolicy(args, getenv, cfg.Users, pol, log)
	})
}

// checkBackendAtStart asks the backend once, so that a wrong endpoint or
// credential is named in the log at start rather than discovered by
// clients. It does not stop the start: the backend may come up later, and
// readiness reports it until then.
func checkBackendAtStart(ctx context.Context, b *backend.Backend, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Probe(ctx); err != nil {
		log.Error("the backend is not usable yet; photogate starts anyway and /readyz reports it", "error", err)
	}
}

// loadServeConfig loads the configuration, makes its logger and creates
// the data dir.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (config, *slog.Logger, error) {
	cfg, err := loadConfigUsage(args, getenv, stderr)
	if err != nil {
		return cfg, nil, err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return cfg, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return cfg, nil, fmt.Errorf("data dir: %w", err)
	}
	return cfg, log, nil
}

// startEmbeddedIfUnconfigured starts the embedded backend when cfg names
// none, and points cfg at it. Without configured users it also makes (or
// reloads) the dev credentials, whose file it returns as quickStart.
func startEmbeddedIfUnconfigured(ctx context.Context, cfg *config, log *slog.Logger) (quickStart string, stop func(), err error) {
	if cfg.Backend.Endpoint != "" {
		return "", func() {}, nil
	}
	dir := filepath.Join(cfg.DataDir, "embedded")
	// The first log line says which backend this is: data written in
	// embedded mode lives only under the data dir, not in MinIO.
	log.Warn("no backend endpoint configured: using the embedded backend (for trying photogate out, not for production)", "dir", dir)
	eb, err := embedded.Start(ctx, embedded.Config{Dir: dir, Logger: log.With("component", "embedded")})
	if err != nil {
		return "", nil, fmt.Errorf("embedded backend: %w", err)
	}
	cfg.Backend.Endpoint = eb.Endpoint()
	// The embedded server listens on loopback only and ignores
	// signatures; these keys just satisfy the signer.
	cfg.Backend.AccessKey, cfg.Backend.SecretKey = "embedded", "embedded-backend"
	if len(cfg.Users) == 0 {
		u, path, err := devCredentials(cfg.DataDir)
		if err != nil {
			eb.Close()
			return "", nil, err
		}
		cfg.Users = []policy.UserConfig{u}
		quickStart = path
	}
	return quickStart, func() { eb.Close() }, nil
}

func newMetrics() (*prometheus.Registry, *observe.Metrics) {
	reg := prometheus.NewRegistry()
	build := observe.ReadBuildInfo(version)
	if commit != "" {
		build.Commit = commit
	}
	return reg, observe.New(reg, build)
}

// openBackend makes the one client of the backend, shared by the proxy and
// the index.
func openBackend(c backendConfig, m *observe.Metrics, log *slog.Logger) (*backend.Backend, error) {
	backendTLS, err := tlsutil.ClientConfig(c.CA, c.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	if c.InsecureSkipVerify {
		log.Warn("backend TLS certificate verification is OFF (insecure_skip_verify): anyone on the path to the backend can read and change every object; use only in test setups")
	}
	return backend.NewBackend(backend.Config{
		TLS:                 backendTLS,
		Endpoint:            c.Endpoint,
		AccessKey:           c.AccessKey,
		SecretKey:           c.SecretKey,
		Region:              c.Region,
		ResponseTimeout:     c.ResponseTimeout,
		SlowResponseTimeout: c.SlowResponseTimeout,
		BreakerFailures:     c.BreakerFailures,
		BreakerOpen:         c.BreakerOpen,
		MaxAttempts:         c.MaxAttempts,
		Metrics:             m,
	})
}

// openIndex opens the index (the bbolt file under the data dir, or the
// PostgreSQL database index.url names) and its writer, which reads the
// backend through backendClient.
func openIndex(ctx context.Context, cfg config, backendClient *backend.Backend, m *observe.Metrics, log *slog.Logger) (metastore.Index, *reconcile.Indexer, error) {
	var store metastore.Index
	if cfg.Index.postgres() {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		pg, err := pgstore.Open(octx, cfg.Index.URL, pgstore.Options{Lease: cfg.Index.Lease})
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("index: %w", err)
		}
		log.Info("index in PostgreSQL", "replica", pg.ReplicaID(), "lease", pg.IntentLease().String())
		store = pg
	} else {
		bolt, err := metastore.Open(filepath.Join(cfg.DataDir, "index.db"),
			metastore.Options{Timeout: 5 * time.Second})
		if err != nil {
			return nil, nil, fmt.Errorf("index: %w (is another photogate using %s?)", err, cfg.DataDir)
		}
		store = bolt
	}
	indexmetrics.Watch(m, store)
	m.WatchDisk(cfg.DataDir)
	index := reconcile.NewIndexer(store, backendClient, log.With("component", "index"))
	index.OnCommit = m.IndexCommit
	return store, index, nil
}

// recoveryInterval is how often the background loop resolves intents. A
// shared index also holds the intents of replicas that died, claimable
// once their lease ran out: they are looked for every lease, so that a
// dead replica's unresolved writes are indexed within about two leases.
func recoveryInterval(store metastore.Index) time.Duration {
	const interval = 30 * time.Second
	if pg, ok := store.(*pgstore.Store); ok {
		return min(interval, pg.IntentLease())
	}
	return interval
}

// startIndex resolves the intents a crash left behind, before clients are
// served, then starts the background loop (which also retries what the
// backend, down now, left unresolved). stop ends the loop.
func startIndex(ctx context.Context, index *reconcile.Indexer, interval time.Duration, log *slog.Logger) (stop func()) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	if n, err := index.Recover(rctx); err != nil {
		log.Warn("resolving leftover intents; will retry in the background", "resolved", n, "error", err)
	} else if n > 0 {
		log.Info("resolved leftover intents", "resolved", n)
	}
	cancel()
	bgctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	go index.Run(bgctx, interval)
	return stopBackground
}

func hostname() string {
	name, _ := os.Hostname()
	return name
}

// newAdminHandler serves metrics, readiness and the admin API.
func newAdminHandler(cfg config, reg *prometheus.Registry, m *observe.Metrics, backendClient *backend.Backend,
	store metastore.Index, index *reconcile.Indexer, pol *policy.Holder, rend *renditionsSetup, gal http.Handler, draining *atomic.Bool, log *slog.Logger) http.Handler {
	if cfg.AdminToken == "" {
		log.Info("admin API /api/ accepts only SigV4-signed requests of users with the admin grant on every bucket; set PHOTOGATE_ADMIN_TOKEN for token access")
	}
	minFree, _ := policy.ParseSize(cfg.MinFreeDisk) // validated with the config
	disk := observe.DiskFree(cfg.DataDir, uint64(minFree), 0.05)
	// A full data dir breaks every upload when the index is in it; with
	// PostgreSQL the index probe reports the database's own space.
	disk.Required = !cfg.Index.postgres()
	var backup api.Backup
	if !cfg.Index.postgres() {
		backup = store.Backup // PostgreSQL: pg_dump, so no /api/v1/backup route
	}
	return gateway.NewAdmin(gateway.AdminConfig{
		Gatherer: reg,
		Ready: m.Ready([]observe.Check{
			observe.BackendProbe(backendClient.Probe),
			observe.IndexProbe(func(ctx context.Context) error {
				if _, err := store.Stats(ctx); err != nil {
					return err
				}
				return store.Commit(ctx, 0) // an empty commit: one real fsynced write
			}),
			disk,
			{Name: "serving", Required: true, Run: func(context.Context) error {
				if draining.Load() {
					return errors.New("shutting down: draining connections")
				}
				return nil
			}},
		}, 2*time.Second),
		API: api.New(api.Config{
			Index: indexmetrics.InstrumentSearcher(m, store), Token: cfg.AdminToken, Logger: log.With("component", "api"),
			Checker:    rend.checker(index),
			Signed:     gateway.SignedAdmin(pol),
			Backup:     backup,
			Jobs:       store,
			Renditions: rend.api(),
			URLKey:     rend.urlKey,
		}),
		Gallery: gal,
	})
}

// servers are the S3 and admin servers on their listeners.
type servers struct {
	s3Srv, adminSrv *http.Server
	s3Ln, adminLn   net.Listener
	reloaders       []*tlsutil.Reloader // TLS certificates to reload on SIGHUP
	hup             chan os.Signal
	errc            chan error // what a server's Serve returned
}

// listenBoth opens the S3 and admin listeners; the admin one shares the S3
// certificate unless it has its own. The admin handler is made once the S3
// listener's address is known (the gallery links to it).
func listenBoth(cfg config, s3 http.Handler, newAdmin func(s3Addr net.Addr) (http.Handler, error), log *slog.Logger) (*servers, error) {
	s3Ln, s3Reload, err := listen(cfg.Listen, cfg.TLS, log)
	if err != nil {
		return nil, err
	}
	adminTLS := cfg.AdminTLS
	if !adminTLS.enabled() {
		adminTLS = cfg.TLS
	}
	adminLn, adminReload, err := listen(cfg.AdminListen, adminTLS, log)
	if err != nil {
		s3Ln.Close()
		return nil, err
	}
	admin, err := newAdmin(s3Ln.Addr())
	if err != nil {
		s3Ln.Close()
		adminLn.Close()
		return nil, err
	}
	srv := &servers{s3Srv: newHTTPServer(s3, log), adminSrv: newHTTPServer(admin, log), s3Ln: s3Ln, adminLn: adminLn}
	for _, r := range []*tlsutil.Reloader{s3Reload, adminReload} {
		if r != nil {
			srv.reloaders = append(srv.reloaders, r)
		}
	}
	return srv, nil
}

// start catches SIGHUP (from now on it no longer kills the process) and
// starts serving.
func (s *servers) start() {
	s.hup = make(chan os.Signal, 1)
	signal.Notify(s.hup, syscall.SIGHUP)
	s.errc = make(chan error, 2)
	go func() { s.errc <- s.s3Srv.Serve(s.s3Ln) }()
	go func() { s.errc <- s.adminSrv.Serve(s.adminLn) }()
}

func (s *servers) close() {
	if s.hup != nil {
		signal.Stop(s.hup)
	}
	s.adminLn.Close()
	s.s3Ln.Close()
}

// shutdownPlan is how photogate stops on SIGTERM: /readyz fails at once
// (draining), the servers keep serving for drain, then stop accepting and
// give requests in flight up to grace to finish.
type shutdownPlan struct {
	drain, grace time.Duration
	draining     *atomic.Bool
}

// run waits until ctx ends (then shuts down as plan says) or a server
// fails. SIGHUP reloads the TLS certificates and calls reload.
func (s *servers) run(ctx context.Context, plan shutdownPlan, log *slog.Logger, reload func()) error {
	for {
		select {
		case <-ctx.Done():
			if plan.drain > 0 {
				plan.draining.Store(true)
				log.Info("draining: /readyz fails, requests are still served", "drain", plan.drain.String())
				select {
				case <-time.After(plan.drain):
				case err := <-s.errc:
					return fmt.Errorf("server stopped while draining: %w", err)
				}
			}
			return s.shutdown(plan.grace, log)
		case err := <-s.errc:
			return fmt.Errorf("server stopped: %w", err)
		case <-s.hup:
			for _, r := range s.reloaders {
				if err := r.Reload(); err != nil {
					log.Error("SIGHUP: TLS certificate not reloaded; keeping the old one", "error", err)
				}
			}
			reload()
		}
	}
}

func (s *servers) shutdown(grace time.Duration, log *slog.Logger) error {
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := errors.Join(s.s3Srv.Shutdown(sctx), s.adminSrv.Shutdown(sctx))
	log.Info("stopped")
	return err
}

// listen opens addr, with TLS when t names a certificate.
func listen(addr string, t tlsConfig, log *slog.Logger) (net.Listener, *tlsutil.Reloader, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if !t.enabled() {
		return ln, nil, nil
	}
	r, err := tlsutil.NewReloader(t.Cert, t.Key, log)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return tls.NewListener(ln, tlsutil.ServerConfig(r.GetCertificate)), r, nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		// No ReadTimeout/WriteTimeout: a multi-gigabyte object may take
		// longer than any fixed bound. Idle connections are still reaped.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

func newLogger(c logConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// openAudit opens the audit log: a file (appended, 0600), "-" for w, or
// nothing for "".
func openAudit(dest string, w io.Writer) (*observe.Audit, func(), error) {
	switch dest {
	case "":
		return nil, func() {}, nil
	case "-":
		return observe.NewAuditLogger(w), func() {}, nil
	}
	f, err := os.OpenFile(dest, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	return observe.NewAuditLogger(f), func() { f.Close() }, nil
}

// devCredentials loads or creates the key pair used when photogate runs with
// no configuration at all. The secret goes to a 0600 file, never to the log.
func devCredentials(dataDir string) (policy.UserConfig, string, error) {
	path := filepath.Join(dataDir, "credentials.env")
	if raw, err := os.ReadFile(path); err == nil {
		u := policy.UserConfig{Name: "dev", Grants: policy.FullAccess()}
		for _, line := range strings.Split(string(raw), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "AWS_ACCESS_KEY_ID":
				u.AccessKey = v
			case "AWS_SECRET_ACCESS_KEY":
				u.SecretKey = policy.Secret(v)
			}
		}
		if u.AccessKey != "" && u.SecretKey != "" {
			return u, path, nil
		}
		return u, path, fmt.Errorf("%s: missing AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY", path)
	}
	secret := randomHex(20)
	u := policy.UserConfig{Name: "dev", AccessKey: "PG" + strings.ToUpper(randomHex(9)), SecretKey: policy.Secret(secret), Grants: policy.FullAccess()}
	// The plain string: policy.Secret prints as [REDACTED] by design.
	content := fmt.Sprintf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", u.AccessKey, secret)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return u, path, fmt.Errorf("write dev credentials: %w", err)
	}
	return u, path, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quickStartInfo is what the zero-config start prints examples with.
type quickStartInfo struct {
	scheme, listen, adminListen string
	credPath                    string // the dev credentials file
	self                        string // how to run this binary from the same shell
	gallery                     bool   // the web gallery is on
}

// selfCommand is how the user started photogate ("./bin/photogate" under
// make run), so that the printed search example runs as printed.
func selfCommand() string {
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		return os.Args[0]
	}
	return "photogate"
}

func printQuickStart(w io.Writer, q quickStartInfo) {
	url := q.scheme + "://" + q.listen
	cred := q.credPath
	if !filepath.IsAbs(cred) && !strings.HasPrefix(cred, ".") {
		cred = "." + string(filepath.Separator) + cred // "." of a bare name searches PATH
	}
	search := q.self + " search --bucket photos"
	if adminURL := q.scheme + "://" + q.adminListen; adminURL != "http://127.0.0.1:9081" {
		search += " --admin-url " + adminURL
	}
	if q.scheme == "https" {
		search += " --ca-cert ./data/tls/ca.pem"
	}
	gallery := ""
	if q.gallery {
		gallery = fmt.Sprintf("\nGallery: open %s://%s/gallery/ in a browser and sign in with the\nAWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in %s.\n", q.scheme, q.adminListen, cred)
	}
	fmt.Fprintf(w, `
photogate is running on its embedded backend. In another terminal:

  set -a; . %s; set +a
  aws --endpoint-url %s s3 mb s3://photos
  aws --endpoint-url %s s3 cp ./some-photo.jpg s3://photos/
  aws --endpoint-url %s s3 ls s3://photos/
  %s

(search signs with the keys in %s, which have admin on every bucket.)
%s
For local HTTPS: photogate dev-cert --dir ./data/tls, then serve with
--tls-cert ./data/tls/cert.pem --tls-key ./data/tls/key.pem and give clients
AWS_CA_BUNDLE=./data/tls/ca.pem.

`, cred, url, url, url, search, cred, gallery)
}

// redactURL drops any userinfo so credentials in an endpoint never reach logs.
func redactURL(raw string) string {
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "REDACTED@" + raw[i+1:]
		}
	}
	return raw
}

// compilePolicy turns the users and rules of cfg into a policy engine.
func compilePolicy(cfg config) (*policy.Engine, error) {
	if len(cfg.Users) == 0 {
		return nil, errors.New("no users configured: set PHOTOGATE_ACCESS_KEY and PHOTOGATE_SECRET_KEY or list users in the config file")
	}
	e, err := policy.Compile(policy.Config{Users: cfg.Users, Policy: cfg.Policy}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return e, nil
}

// reloadPolicy re-reads the configuration on SIGHUP and swaps in the new
// users and rules; a configuration that does not load leaves the old one in
// force. The zero-config dev user (not in any file) is kept.
func reloadPolicy(args []string, getenv func(string) string, current []policy.UserConfig, pol *policy.Holder, log *slog.Logger) {
	next, err := loadConfig(args, getenv)
	if err == nil && len(next.Users) == 0 {
		next.Users = current
	}
	var e *policy.Engine
	if err == nil {
		e, err = compilePolicy(next)
	}
	if err != nil {
		log.Error("SIGHUP: configuration rejected; keeping the current users and policy", "error", err)
		return
	}
	pol.Swap(e)
	log.Info("SIGHUP: users and policy reloaded", "users", len(next.Users))
}

// indexUsage answers policy's usage questions from the index, which counts
// objects and bytes per bucket and per owner exactly, in the transactions
// that change them, and survives restarts.
//
// Nothing here is cached per process: every question is a read of the
// index, so with a shared (PostgreSQL) index a write that one replica
// acknowledged is what every other replica's next lookup sees.
type indexUsage struct{ store metastore.Index }

func (u indexUsage) BucketUsage(ctx context.Context, bucket string) (int64, int64, error) {
	return u.store.BucketUsage(ctx, bucket)
}

func (u indexUsage) UserUsage(ctx context.Context, user string) (int64, int64, error) {
	return u.store.OwnerUsage(ctx, user)
}

func (u indexUsage) Lookup(ctx context.Context, bucket, key string) (gateway.IndexedObject, bool, error) {
	rec, ok, err := u.store.Get(ctx, bucket, key)
	return gateway.IndexedObject{Size: rec.Size, Owner: rec.Owner}, ok, err
}
