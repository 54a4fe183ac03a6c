package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", "../../configs/photogate.yaml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9080" || cfg.Backend.BreakerOpen != 5*time.Second {
		t.Fatalf("unexpected values: %+v", cfg)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:1\nadmin_listen: 127.0.0.1:2\ndata_dir: /file\nbackend:\n  breaker_open: 9s\n"), 0o600)
	cfg, err := loadConfig([]string{"--config", path, "--data-dir", "/flag"}, env(map[string]string{
		"PHOTOGATE_ADMIN_LISTEN": "127.0.0.1:3",
		"PHOTOGATE_DATA_DIR":     "/env",
		"PHOTOGATE_ACCESS_KEY":   "ak1", "PHOTOGATE_SECRET_KEY": "secret123",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1" || cfg.AdminListen != "127.0.0.1:3" || cfg.DataDir != "/flag" ||
		cfg.Backend.BreakerOpen != 9*time.Second || len(cfg.Users) != 1 || cfg.Users[0].AccessKey != "ak1" {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listne: typo\n"), 0o600)
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown key":      {[]string{"--config", bad}, nil, "listne"},
		"half a user":      {nil, map[string]string{"PHOTOGATE_ACCESS_KEY": "a"}, "together"},
		"backend no keys":  {[]string{"--backend-endpoint", "http://x:9000"}, nil, "backend access"},
		"bad log format":   {[]string{"--log-format", "xml"}, nil, "log format"},
		"stray argument":   {[]string{"oops"}, nil, "unexpected"},
		"bad breaker time": {nil, map[string]string{"PHOTOGATE_BACKEND_BREAKER_OPEN": "soon"}, "BREAKER_OPEN"},
		"index not pg":     {nil, map[string]string{"PHOTOGATE_INDEX_URL": "mysql://u:hunter2@db/x"}, "postgres://"},
		"bad index lease":  {nil, map[string]string{"PHOTOGATE_INDEX_LEASE": "10ms"}, "index.lease"},
	} {
		_, err := loadConfig(c.args, env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want mention of %q", name, err, c.want)
		}
	}
}

func TestDevCredentialsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	made, path, err := devCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "AWS_SECRET_ACCESS_KEY="+string(made.SecretKey)+"\n") || strings.Contains(string(raw), "REDACTED") {
		t.Fatalf("credentials file does not hold the usable secret: %q", raw)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	again, _, err := devCredentials(dir)
	if err != nil || again.AccessKey != made.AccessKey || again.SecretKey != made.SecretKey || len(again.Grants) == 0 {
		t.Fatalf("reloaded %+v, %v", again, err)
	}
}

// TestIndexURLSelectsPostgres: the environment's URL selects PostgreSQL,
// nothing selects bbolt, and a refused URL is never echoed (it may hold a
// password).
func TestIndexURLSelectsPostgres(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{
		"PHOTOGATE_INDEX_URL": "postgres://photogate:pw@db:5432/photogate", "PHOTOGATE_INDEX_LEASE": "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Index.postgres() || cfg.Index.Lease != 5*time.Second {
		t.Fatalf("index config %+v: want PostgreSQL with a 5s lease", cfg.Index)
	}
	if cfg, _ := loadConfig(nil, env(nil)); cfg.Index.postgres() || cfg.Index.URL != "" {
		t.Fatalf("default index %+v: want the bbolt file", cfg.Index)
	}
	_, err = loadConfig(nil, env(map[string]string{"PHOTOGATE_INDEX_URL": "mysql://u:hunter2@db/x"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v: want a refusal that does not show the password", err)
	}
}

// TestRestoreRefusesPostgresIndex: restore replaces a bbolt file; with the
// index in PostgreSQL it says to use the database's tools instead of
// writing a file nobody reads.
func TestRestoreRefusesPostgresIndex(t *testing.T) {
	var stdout, stderr strings.Builder
	err := restoreCommand(t.Context(), []string{"--from", filepath.Join(t.TempDir(), "backup.db")}, &stdout, &stderr,
		env(map[string]string{"PHOTOGATE_INDEX_URL": "postgres://db/photogate"}))
	if err == nil || !strings.Contains(err.Error(), "pg_restore") {
		t.Fatalf("err = %v: want the pg_dump/pg_restore advice", err)
	}
}

func TestRenditionAndDrainSettings(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{
		"PHOTOGATE_RENDITIONS": "false", "PHOTOGATE_RENDITIONS_BUCKET": "thumbs-here",
		"PHOTOGATE_RENDITIONS_CONCURRENCY": "3", "PHOTOGATE_RENDITIONS_MAX_PIXELS": "5000000",
		"PHOTOGATE_SHUTDOWN_DRAIN": "2500ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Renditions
	if r.Enabled == nil || *r.Enabled || r.Bucket != "thumbs-here" || r.Concurrency != 3 || r.MaxPixels != 5_000_000 || cfg.ShutdownDrain != 2500*time.Millisecond {
		t.Fatalf("settings not applied: %+v, drain %v", r, cfg.ShutdownDrain)
	}
	for name, e := range map[string]map[string]string{
		"bucket":      {"PHOTOGATE_RENDITIONS_BUCKET": "Not_A_Bucket"},
		"reserved":    {"PHOTOGATE_RENDITIONS_BUCKET": "minio"},
		"concurrency": {"PHOTOGATE_RENDITIONS_CONCURRENCY": "-1"},
		"enabled":     {"PHOTOGATE_RENDITIONS": "sometimes"},
		"drain":       {"PHOTOGATE_SHUTDOWN_DRAIN": "-1s"},
	} {
		if _, err := loadConfig(nil, env(e)); err == nil {
			t.Errorf("%s: %v accepted", name, e)
		}
	}
}
