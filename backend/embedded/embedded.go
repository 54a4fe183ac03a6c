// Package embedded is photogate's zero-configuration backend: an in-process
// S3 server (gofakes3 on its s3afero filesystem backend) that photogate
// starts when no backend endpoint is configured and then talks to over
// loopback HTTP exactly as it would to MinIO.
//
// gofakes3 ignores request signatures. That is acceptable here only because
// the server listens on 127.0.0.1 and photogate, which authenticates
// clients, is the only party meant to talk to it.
//
// Everything lives under Config.Dir:
//
//	objects/buckets/<bucket>/<key>    object bytes (s3afero layout)
//	objects/metadata/<bucket>/...     object metadata (s3afero layout)
//	multipart/<uploadID>/             in-progress multipart uploads
//	tmp/                              bodies being received; emptied at Start
//
// Dir must be a single filesystem: finished files are renamed into place.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Config configures the embedded backend.
type Config struct {
	Dir    string // data directory; everything lives under it
	Logger *slog.Logger
}

// Backend is a running embedded S3 server.
type Backend struct {
	srv      *http.Server
	endpoint string
	log      *slog.Logger

	served    chan struct{} // closed when Serve returns
	serveErr  error         // Serve's error, read after served is closed
	closeOnce sync.Once
	closeErr  error
}

const (
	// photogate stamps x-amz-date itself just before sending, on this same
	// machine, so only a stalled request could be skewed; it has already
	// checked its client's clock. gofakes3's default of 15 minutes would
	// only turn such a stall into a spurious 403.
	timeSkewLimit = 24 * time.Hour

	// shutdownGrace is how long Close lets in-flight requests finish.
	shutdownGrace = 30 * time.Second
)

// tuning holds knobs tests turn; production uses defaultTuning.
type tuning struct {
	keepaliveAfter time.Duration // see handler.keepaliveAfter
	keepaliveEvery time.Duration
}

func defaultTuning() tuning {
	return tuning{keepaliveAfter: 10 * time.Second, keepaliveEvery: 10 * time.Second}
}

// Start listens on 127.0.0.1:0 and serves until Close. ctx bounds start-up
// only; cancelling it later does not stop the server.
func Start(ctx context.Context, cfg Config) (*Backend, error) {
	return start(ctx, cfg, defaultTuning())
}

func start(ctx context.Context, cfg Config, tune tuning) (*Backend, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded backend: Config.Dir is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded backend: data directory %q: %w", cfg.Dir, err)
	}
	objDir := filepath.Join(dir, "objects")
	mpDir := filepath.Join(dir, "multipart")
	tmpDir := filepath.Join(dir, "tmp")
	for _, d := range []string{objDir, mpDir, tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("embedded backend: create %s: %w", d, err)
		}
	}
	if err := clearDir(ctx, tmpDir); err != nil {
		return nil, fmt.Errorf("embedded backend: %w", err)
	}
	uploads, err := sweepUploads(ctx, mpDir)
	if err != nil {
		return nil, fmt.Errorf("embedded backend: %w", err)
	}

	st, err := newStore(objDir, tmpDir, log)
	if err != nil {
		return nil, fmt.Errorf("embedded backend: %w", err)
	}
	mp := newMultipart(mpDir, tmpDir, st, log)
	fake := gofakes3.New(st,
		gofakes3.WithHostBucket(false), // photogate addresses its backend path-style
		gofakes3.WithAutoBucket(false), // a missing bucket is NoSuchBucket, as on MinIO
		gofakes3.WithTimeSkewLimit(timeSkewLimit),
		// gofakes3 counts every X-Amz-* request header against its 2000-byte
		// limit, so signing headers alone could trip it; the front handler
		// enforces S3's 2 KB limit on x-amz-meta-* instead.
		gofakes3.WithMetadataSizeLimit(0),
		gofakes3.WithLogger(fakesLogger{log}),
	)
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("embedded backend: seed request IDs: %w", err)
	}
	h := newHandler(fake.Server(), st, mp, log, binary.BigEndian.Uint64(seed[:]), tune)

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded backend: listen: %w", err)
	}
	b := &Backend{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		endpoint: "http://" + ln.Addr().String(),
		log:      log,
		served:   make(chan struct{}),
	}
	go func() {
		defer close(b.served)
		if err := b.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			b.serveErr = err
			log.Error("embedded backend stopped serving", "err", err)
		}
	}()

	log.Info("embedded S3 backend started", "endpoint", b.endpoint, "dir", dir, "multipart_uploads", uploads)
	return b, nil
}

// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
func (b *Backend) Endpoint() string { return b.endpoint }

// Close stops accepting requests, lets in-flight ones finish (up to
// shutdownGrace, then cuts them off) and returns once the server is down.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := b.srv.Shutdown(ctx); err != nil {
			b.srv.Close()
			b.closeErr = fmt.Errorf("embedded backend: shutdown: %w", err)
		}
		<-b.served
		if b.closeErr == nil && b.serveErr != nil {
			b.closeErr = fmt.Errorf("embedded backend: serve: %w", b.serveErr)
		}
		b.log.Info("embedded S3 backend stopped", "endpoint", b.endpoint)
	})
	return b.closeErr
}

// clearDir empties dir: spool files left by a crash are incomplete bodies
// nobody will finish.
func clearDir(ctx context.Context, dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
			return fmt.Errorf("clean %s: %w", dir, err)
		}
	}
	return nil
}

// sweepUploads removes upload directories without upload.json, which a
// crash during CreateMultipartUpload, completion or abort leaves behind
// (none of them is an upload), and counts the real ones.
func sweepUploads(ctx context.Context, dir string) (int, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", dir, err)
	}
	n := 0
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		p := filepath.Join(dir, de.Name())
		if _, err := os.Stat(filepath.Join(p, "upload.json")); err == nil {
			n++
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return 0, fmt.Errorf("remove stale upload %s: %w", p, err)
		}
	}
	return n, nil
}

// fakesLogger adapts gofakes3's logger to slog. gofakes3 logs every request
// at its Info level; that becomes Debug so the backend stays quiet unless
// asked.
type fakesLogger struct{ log *slog.Logger }

func (l fakesLogger) Print(level gofakes3.LogLevel, v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok && errors.As(err, new(suppressedError)) {
			// gofakes3 reports our deliberate stop of a body nobody receives
			// (see condWriter) as an internal error.
			return
		}
	}
	lvl := slog.LevelDebug
	switch level {
	case gofakes3.LogErr:
		lvl = slog.LevelError
	case gofakes3.LogWarn:
		lvl = slog.LevelWarn
	}
	ctx := context.Background()
	if !l.log.Enabled(ctx, lvl) {
		return
	}
	l.log.Log(ctx, lvl, "gofakes3: "+strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
