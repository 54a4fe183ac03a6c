package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
)

// config is everything `photogate serve` can be told. Precedence: defaults,
// then the YAML file, then PHOTOGATE_* environment variables, then flags.
type config struct {
	Listen          string        `yaml:"listen"`
	AdminListen     string        `yaml:"admin_listen"`
	DataDir         string        `yaml:"data_dir"`
	BaseDomains     []string      `yaml:"base_domains"`
	AdminToken      string        `yaml:"admin_token"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDrain is how long photogate keeps serving after SIGTERM
	// with /readyz failing, before it stops accepting connections: time
	// for load balancers (a Kubernetes Service's endpoints) to take it out
	// of rotation, so that no client is sent to a closed port. 0: stop at
	// once.
	ShutdownDrain time.Duration `yaml:"shutdown_drain"`
	// MinFreeDisk is the free space under data_dir below which /readyz
	// fails ("1GiB"; a full disk stops every index write).
	MinFreeDisk string           `yaml:"min_free_disk"`
	Log         logConfig        `yaml:"log"`
	TLS         tlsConfig        `yaml:"tls"`
	AdminTLS    tlsConfig        `yaml:"admin_tls"`
	Backend     backendConfig    `yaml:"backend"`
	Index       indexConfig      `yaml:"index"`
	Renditions  renditionsConfig `yaml:"renditions"`
	Gallery     galleryConfig    `yaml:"gallery"`
	// Users and Policy are documented in docs/policy.md.
	Users  []policy.UserConfig `yaml:"users"`
	Policy policy.PolicyConfig `yaml:"policy"`
}

type logConfig struct {
	Format string `yaml:"format"` // json or text
	Level  string `yaml:"level"`  // debug, info, warn, error
	Audit  string `yaml:"audit"`  // audit log of every mutation: a file path, "-" for stderr, "" for off
}

// tlsConfig names a PEM certificate (chain) and key. Both empty: plain HTTP.
type tlsConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

func (t tlsConfig) enabled() bool { return t.Cert != "" }

type backendConfig struct {
	Endpoint            string        `yaml:"endpoint"` // empty: embedded backend
	AccessKey           string        `yaml:"access_key"`
	SecretKey           string        `yaml:"secret_key"`
	Region              string        `yaml:"region"`
	ResponseTimeout     time.Duration `yaml:"response_timeout"`
	SlowResponseTimeout time.Duration `yaml:"slow_response_timeout"`
	BreakerFailures     uint32        `yaml:"breaker_failures"`
	BreakerOpen         time.Duration `yaml:"breaker_open"`
	MaxAttempts         int           `yaml:"max_attempts"`
	// CA is a PEM bundle trusted for an https endpoint, on top of the
	// system roots. InsecureSkipVerify turns verification off (tests only).
	CA                 string `yaml:"ca"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// indexConfig chooses the index engine. Without a URL the index is the
// bbolt file index.db in data_dir, for one process; a postgres:// URL
// puts it in that PostgreSQL database, which several replicas share.
type indexConfig struct {
	URL string `yaml:"url"`
	// Lease is how long after a replica's last heartbeat another replica
	// may resolve the write intents it left (PostgreSQL only).
	Lease time.Duration `yaml:"lease"`
}

// postgres reports whether the index is in PostgreSQL.
// galleryConfig sets up the web gallery at /gallery/ on the admin
// listener (docs/gallery.md).
type galleryConfig struct {
	// Enabled: nil means on.
	Enabled *bool `yaml:"enabled"`
	// TileURL is a map tile URL template; empty draws maps on a plain
	// graticule, with no request leaving the browser for another host.
	TileURL string `yaml:"tile_url"`
	// S3URL is where browsers reach the S3 listener, for download links;
	// empty: this listener's scheme and port on the host the browser used.
	S3URL string `yaml:"s3_url"`
	// SessionTTL is how long a sign-in lasts; 0 is 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`
}

func (g galleryConfig) enabled() bool { return g.Enabled == nil || *g.Enabled }

// renditionsConfig shapes the thumbnails and previews made after every
// indexed photo write (docs/renditions.md).
type renditionsConfig struct {
	// Enabled: nil means on when this binary has libvips (cgo).
	Enabled *bool `yaml:"enabled"`
	// Bucket in the backend that holds them; created at start, and
	// unreachable through the S3 port.
	Bucket string `yaml:"bucket"`
	// Concurrency is how many photos render at once; 0 is half the CPUs.
	Concurrency int `yaml:"concurrency"`
	// MaxPixels refuses larger images (read from the header, before
	// decoding); 0 is 100 megapixels.
	MaxPixels int64 `yaml:"max_pixels"`
	// MaxSourceBytes refuses larger files (a render holds the file in
	// memory); 0 is 256 MiB.
	MaxSourceBytes int64 `yaml:"max_source_bytes"`
}

func (c indexConfig) postgres() bool {
	return strings.HasPrefix(c.URL, "postgres://") || strings.HasPrefix(c.URL, "postgresql://")
}

func defaultConfig() config {
	return config{
		Listen:          "127.0.0.1:9080",
		AdminListen:     "127.0.0.1:9081",
		DataDir:         "./data",
		ShutdownTimeout: 30 * time.Second,
		MinFreeDisk:     "1GiB",
		Log:             logConfig{Format: "text", Level: "info"},
		Backend: backendConfig{
			Region:          "us-east-1",
			ResponseTimeout: backend.DefaultResponseTimeout,
			BreakerFailures: 5,
			BreakerOpen:     5 * time.Second,
			MaxAttempts:     3,
		},
	}
}

// loadConfig applies the file named by --config (or PHOTOGATE_CONFIG), the
// environment, then the flags in args.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	return loadConfigUsage(args, getenv, io.Discard)
}

// loadConfigUsage is loadConfig writing flag errors and -h's usage to usage.
func loadConfigUsage(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	path := fs.String("config", getenv("PHOTOGATE_CONFIG"), "YAML configuration file")
	listen := fs.String("listen", "", "S3 API listen address (PHOTOGATE_LISTEN)")
	adminListen := fs.String("admin-listen", "", "admin listen address (PHOTOGATE_ADMIN_LISTEN)")
	dataDir := fs.String("data-dir", "", "data directory (PHOTOGATE_DATA_DIR)")
	endpoint := fs.String("backend-endpoint", "", "backend URL, empty for the embedded backend (PHOTOGATE_BACKEND_ENDPOINT)")
	logFormat := fs.String("log-format", "", "json or text (PHOTOGATE_LOG_FORMAT)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (PHOTOGATE_LOG_LEVEL)")
	auditLog := fs.String("audit-log", "", "audit log of every mutation: a file, - for stderr (PHOTOGATE_AUDIT_LOG)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate for HTTPS on the S3 listener (PHOTOGATE_TLS_CERT)")
	tlsKey := fs.String("tls-key", "", "PEM key for --tls-cert (PHOTOGATE_TLS_KEY)")
	backendCA := fs.String("backend-ca", "", "PEM CA bundle trusted for an https backend (PHOTOGATE_BACKEND_CA)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *path != "" {
		raw, err := os.ReadFile(*path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)                                               // a misspelt key is an error, not a silent default
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty file
			return cfg, fmt.Errorf("config %s: %w", *path, explainYAMLError(err))
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, *listen)
	set(&cfg.AdminListen, *adminListen)
	set(&cfg.DataDir, *dataDir)
	set(&cfg.Backend.Endpoint, *endpoint)
	set(&cfg.Log.Format, *logFormat)
	set(&cfg.Log.Level, *logLevel)
	set(&cfg.Log.Audit, *auditLog)
	set(&cfg.TLS.Cert, *tlsCert)
	set(&cfg.TLS.Key, *tlsKey)
	set(&cfg.Backend.CA, *backendCA)
	return cfg, cfg.validate()
}

func applyEnv(cfg *config, getenv func(string) string) error {
	str := map[string]*string{
		"PHOTOGATE_LISTEN":             &cfg.Listen,
		"PHOTOGATE_ADMIN_LISTEN":       &cfg.AdminListen,
		"PHOTOGATE_DATA_DIR":           &cfg.DataDir,
		"PHOTOGATE_ADMIN_TOKEN":        &cfg.AdminToken,
		"PHOTOGATE_LOG_FORMAT":         &cfg.Log.Format,
		"PHOTOGATE_LOG_LEVEL":          &cfg.Log.Level,
		"PHOTOGATE_AUDIT_LOG":          &cfg.Log.Audit,
		"PHOTOGATE_MIN_FREE_DISK":      &cfg.MinFreeDisk,
		"PHOTOGATE_BACKEND_ENDPOINT":   &cfg.Backend.Endpoint,
		"PHOTOGATE_BACKEND_ACCESS_KEY": &cfg.Backend.AccessKey,
		"PHOTOGATE_BACKEND_SECRET_KEY": &cfg.Backend.SecretKey,
		"PHOTOGATE_BACKEND_REGION":     &cfg.Backend.Region,
		"PHOTOGATE_BACKEND_CA":         &cfg.Backend.CA,
		"PHOTOGATE_TLS_CERT":           &cfg.TLS.Cert,
		"PHOTOGATE_TLS_KEY":            &cfg.TLS.Key,
		"PHOTOGATE_ADMIN_TLS_CERT":     &cfg.AdminTLS.Cert,
		"PHOTOGATE_ADMIN_TLS_KEY":      &cfg.AdminTLS.Key,
		"PHOTOGATE_INDEX_URL":          &cfg.Index.URL,
		"PHOTOGATE_RENDITIONS_BUCKET":  &cfg.Renditions.Bucket,
		"PHOTOGATE_GALLERY_TILE_URL":   &cfg.Gallery.TileURL,
		"PHOTOGATE_GALLERY_S3_URL":     &cfg.Gallery.S3URL,
	}
	for name, dst := range str {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("PHOTOGATE_BASE_DOMAINS"); v != "" {
		cfg.BaseDomains = strings.Split(v, ",")
	}
	if v := getenv("PHOTOGATE_BACKEND_INSECURE_SKIP_VERIFY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_BACKEND_INSECURE_SKIP_VERIFY: %w", err)
		}
		cfg.Backend.InsecureSkipVerify = b
	}
	if v := getenv("PHOTOGATE_BACKEND_BREAKER_OPEN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_BACKEND_BREAKER_OPEN: %w", err)
		}
		cfg.Backend.BreakerOpen = d
	}
	if v := getenv("PHOTOGATE_INDEX_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_INDEX_LEASE: %w", err)
		}
		cfg.Index.Lease = d
	}
	if v := getenv("PHOTOGATE_SHUTDOWN_DRAIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_SHUTDOWN_DRAIN: %w", err)
		}
		cfg.ShutdownDrain = d
	}
	if v := getenv("PHOTOGATE_RENDITIONS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_RENDITIONS: %w", err)
		}
		cfg.Renditions.Enabled = &b
	}
	if v := getenv("PHOTOGATE_GALLERY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_GALLERY: %w", err)
		}
		cfg.Gallery.Enabled = &b
	}
	if v := getenv("PHOTOGATE_RENDITIONS_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_RENDITIONS_CONCURRENCY: %w", err)
		}
		cfg.Renditions.Concurrency = n
	}
	if v := getenv("PHOTOGATE_RENDITIONS_MAX_PIXELS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_RENDITIONS_MAX_PIXELS: %w", err)
		}
		cfg.Renditions.MaxPixels = n
	}
	if v := getenv("PHOTOGATE_BACKEND_BREAKER_FAILURES"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("PHOTOGATE_BACKEND_BREAKER_FAILURES: %w", err)
		}
		cfg.Backend.BreakerFailures = uint32(n)
	}
	ak, sk := getenv("PHOTOGATE_ACCESS_KEY"), getenv("PHOTOGATE_SECRET_KEY")
	switch {
	case ak != "" && sk != "":
		// The environment's user replaces a file user with the same key and
		// comes last otherwise, so that an error about users[i] names the
		// i-th user of the file.
		env := policy.UserConfig{Name: "env", AccessKey: ak, SecretKey: policy.Secret(sk), Grants: policy.FullAccess()}
		replaced := false
		for i, u := range cfg.Users {
			if u.AccessKey == ak {
				cfg.Users[i], replaced = env, true
			}
		}
		if !replaced {
			cfg.Users = append(cfg.Users, env)
		}
	case ak != "" || sk != "":
		return errors.New("PHOTOGATE_ACCESS_KEY and PHOTOGATE_SECRET_KEY must be set together")
	}
	return nil
}

func (c config) validate() error {
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("log format %q: want json or text", c.Log.Format)
	}
	if _, err := policy.ParseSize(c.MinFreeDisk); err != nil {
		return fmt.Errorf("min_free_disk: %w", err)
	}
	if c.Listen == "" || c.AdminListen == "" {
		return errors.New("listen and admin_listen must be set")
	}
	for name, t := range map[string]tlsConfig{"tls": c.TLS, "admin_tls": c.AdminTLS} {
		if (t.Cert == "") != (t.Key == "") {
			return fmt.Errorf("%s: cert and key must be set together", name)
		}
	}
	if c.Index.URL != "" && !c.Index.postgres() {
		// Never echo the URL: it may hold the database password.
		return errors.New("index.url (PHOTOGATE_INDEX_URL) must be a postgres:// URL, or empty for the bbolt index in data_dir")
	}
	if c.Index.Lease < 0 || c.Index.Lease > 0 && c.Index.Lease < time.Second {
		return fmt.Errorf("index.lease %v: want at least 1s (or 0 for the default)", c.Index.Lease)
	}
	if c.ShutdownDrain < 0 {
		return errors.New("shutdown_drain must not be negative")
	}
	if c.Renditions.Concurrency < 0 || c.Renditions.MaxPixels < 0 || c.Renditions.MaxSourceBytes < 0 {
		return errors.New("renditions: concurrency, max_pixels and max_source_bytes must not be negative (0 is the default)")
	}
	if c.Renditions.Bucket != "" {
		if err := classify.ValidBucket(c.Renditions.Bucket); err != nil {
			return fmt.Errorf("renditions.bucket: %w", err)
		}
	}
	if c.Gallery.SessionTTL < 0 {
		return errors.New("gallery.session_ttl must not be negative (0 is the default, 12h)")
	}
	if c.Backend.Endpoint != "" && (c.Backend.AccessKey == "" || c.Backend.SecretKey == "") {
		return errors.New("a backend endpoint needs backend access and secret keys (PHOTOGATE_BACKEND_ACCESS_KEY, PHOTOGATE_BACKEND_SECRET_KEY)")
	}
	return nil
}
