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
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/policy"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(args, getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	quickStart := "" // the dev credentials file, when photogate made one
	if cfg.Backend.Endpoint == "" {
		dir := filepath.Join(cfg.DataDir, "embedded")
		// The first log line says which backend this is: data written in
		// embedded mode lives only under the data dir, not in MinIO.
		log.Warn("no backend endpoint configured: using the embedded backend (for trying photogate out, not for production)", "dir", dir)
		eb, err := embedded.Start(ctx, embedded.Config{Dir: dir, Logger: log.With("component", "embedded")})
		if err != nil {
			return fmt.Errorf("embedded backend: %w", err)
		}
		defer eb.Close()
		cfg.Backend.Endpoint = eb.Endpoint()
		// The embedded server listens on loopback only and ignores
		// signatures; these keys just satisfy the signer.
		cfg.Backend.AccessKey, cfg.Backend.SecretKey = "embedded", "embedded-backend"
		if len(cfg.Users) == 0 {
			u, path, err := devCredentials(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.Users = []policy.UserConfig{u}
			quickStart = path
		}
	}
	if len(cfg.Users) == 0 {
		return errors.New("no users configured: set PHOTOGATE_ACCESS_KEY and PHOTOGATE_SECRET_KEY or list users in the config file")
	}

	engine, err := compilePolicy(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	build := observe.ReadBuildInfo(version)
	if commit != "" {
		build.Commit = commit
	}
	m := observe.New(reg, build)
	audit, closeAudit, err := openAudit(cfg.Log.Audit, stderr)
	if err != nil {
		return err
	}
	defer closeAudit()

	backendTLS, err := tlsutil.ClientConfig(cfg.Backend.CA, cfg.Backend.InsecureSkipVerify)
	if err != nil {
		return err
	}
	if cfg.Backend.InsecureSkipVerify {
		log.Warn("backend TLS certificate verification is OFF (insecure_skip_verify): anyone on the path to the backend can read and change every object; use only in test setups")
	}
	backend, err := backend.NewBackend(backend.Config{
		TLS:             backendTLS,
		Endpoint:        cfg.Backend.Endpoint,
		AccessKey:       cfg.Backend.AccessKey,
		SecretKey:       cfg.Backend.SecretKey,
		Region:          cfg.Backend.Region,
		ResponseTimeout: cfg.Backend.ResponseTimeout,
		BreakerFailures: cfg.Backend.BreakerFailures,
		BreakerOpen:     cfg.Backend.BreakerOpen,
		MaxAttempts:     cfg.Backend.MaxAttempts,
		Metrics:         m,
	})
	if err != nil {
		return err
	}
	defer backend.Close()

	// Every mutation commits twice (intent, then record), and clients wait
	// for both: bbolt's default 10 ms batch window would dominate their
	// latency. 1 ms still lets concurrent requests share one fsync.
	store, err := metastore.Open(filepath.Join(cfg.DataDir, "index.db"),
		metastore.Options{Timeout: 5 * time.Second, MaxBatchDelay: time.Millisecond})
	if err != nil {
		return fmt.Errorf("index: %w (is another photogate using %s?)", err, cfg.DataDir)
	}
	defer store.Close()
	reader, err := reconcile.NewMinIO(cfg.Backend.Endpoint, cfg.Backend.AccessKey, cfg.Backend.SecretKey,
		cfg.Backend.Region, &http.Transport{TLSClientConfig: backendTLS, Proxy: nil})
	if err != nil {
		return err
	}
	indexmetrics.Watch(m, store)
	m.WatchDisk(cfg.DataDir)
	index := reconcile.NewIndexer(store, reader, log.With("component", "index"))
	index.OnCommit = m.IndexCommit
	pol := policy.NewHolder(engine, policy.Options{Usage: indexUsage{store}, Observer: m})
	// Intents a crash left behind are resolved before clients are served;
	// a backend that is down now is retried by the background loop.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	if n, err := index.Recover(rctx); err != nil {
		log.Warn("resolving leftover intents; will retry in the background", "resolved", n, "error", err)
	} else if n > 0 {
		log.Info("resolved leftover intents", "resolved", n)
	}
	cancel()
	bgctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go index.Run(bgctx, 30*time.Second)

	hostname, _ := os.Hostname()
	s3 := gateway.NewServer(gateway.Config{
		Backend:     backend,
		Policy:      pol,
		Index:       index,
		Lookup:      indexUsage{store},
		Metrics:     m,
		Audit:       audit,
		Logger:      log,
		BaseDomains: cfg.BaseDomains,
		HostID:      hostname,
	})
	if cfg.AdminToken == "" {
		log.Info("admin API /api/ accepts only SigV4-signed requests of users with the admin grant on every bucket; set PHOTOGATE_ADMIN_TOKEN for token access")
	}
	minFree, _ := policy.ParseSize(cfg.MinFreeDisk) // validated with the config
	disk := observe.DiskFree(cfg.DataDir, uint64(minFree), 0.05)
	disk.Required = true // a full data dir breaks every upload (the index cannot commit)
	admin := gateway.NewAdmin(gateway.AdminConfig{
		Gatherer: reg,
		Ready: m.Ready([]observe.Check{
			observe.BackendProbe(backend.Probe),
			observe.IndexProbe(func(ctx context.Context) error {
				if _, err := store.Stats(ctx); err != nil {
					return err
				}
				return store.Commit(ctx, 0) // an empty commit: one real fsynced write
			}),
			disk,
		}, 2*time.Second),
		API: api.New(api.Config{
			Index: indexmetrics.InstrumentSearcher(m, store), Token: cfg.AdminToken, Logger: log.With("component", "api"),
			Checker: func(ctx context.Context, repair bool) (any, error) { return index.Check(ctx, repair) },
			Signed:  gateway.SignedAdmin(pol),
			Backup:  store.Backup,
		}),
	})

	s3Srv := newHTTPServer(s3, log)
	adminSrv := newHTTPServer(admin, log)
	var reloaders []*tlsutil.Reloader
	s3Ln, s3Reload, err := listen(cfg.Listen, cfg.TLS, log)
	if err != nil {
		return err
	}
	defer s3Ln.Close()
	adminTLS := cfg.AdminTLS
	if !adminTLS.enabled() {
		adminTLS = cfg.TLS // the admin listener shares the S3 certificate unless it has its own
	}
	adminLn, adminReload, err := listen(cfg.AdminListen, adminTLS, log)
	if err != nil {
		return err
	}
	defer adminLn.Close()
	for _, r := range []*tlsutil.Reloader{s3Reload, adminReload} {
		if r != nil {
			reloaders = append(reloaders, r)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 2)
	go func() { errc <- s3Srv.Serve(s3Ln) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	log.Info("photogate serving", "version", versionString(), "s3", s3Ln.Addr().String(),
		"admin", adminLn.Addr().String(), "tls", cfg.TLS.enabled(), "backend", redactURL(cfg.Backend.Endpoint), "users", len(cfg.Users))
	if quickStart != "" {
		scheme := "http"
		if cfg.TLS.enabled() {
			scheme = "https"
		}
		printQuickStart(stdout, scheme, s3Ln.Addr().String(), quickStart)
	}

wait:
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	case <-hup:
		for _, r := range reloaders {
			if err := r.Reload(); err != nil {
				log.Error("SIGHUP: TLS certificate not reloaded; keeping the old one", "error", err)
			}
		}
		reloadPolicy(args, getenv, cfg.Users, pol, log)
		goto wait
	}
	log.Info("shutting down", "grace", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = errors.Join(s3Srv.Shutdown(sctx), adminSrv.Shutdown(sctx))
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

func printQuickStart(w io.Writer, scheme, listen, credPath string) {
	url := scheme + "://" + listen
	fmt.Fprintf(w, `
photogate is running on its embedded backend. In another terminal:

  set -a; . %s; set +a
  aws --endpoint-url %s s3 mb s3://photos
  aws --endpoint-url %s s3 cp ./some-photo.jpg s3://photos/
  aws --endpoint-url %s s3 ls s3://photos/

For local HTTPS: photogate dev-cert --dir ./data/tls, then serve with
--tls-cert ./data/tls/cert.pem --tls-key ./data/tls/key.pem and give clients
AWS_CA_BUNDLE=./data/tls/ca.pem.

`, credPath, url, url, url)
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
type indexUsage struct{ store *metastore.Store }

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
