package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
)

// writeTemp writes r to a new temporary file in dir, synced to disk, and
// returns its path; the caller renames it into place or removes it.
func writeTemp(dir, pattern string, r io.Reader) (path string, n int64, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", 0, err
	}
	n, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", n, err
	}
	return f.Name(), n, nil
}

// backupCommand runs `photogate backup --out FILE`: it asks the running
// photogate for a consistent snapshot of its index (GET /api/v1/backup),
// and keeps it only once the copy opens as a complete, internally
// consistent index. FILE is replaced atomically, so a failed backup never
// clobbers the previous one.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs, getenv)
	out := fs.String("out", "", "file to write the backup to, or an existing directory to write photogate-index-<time>.db into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: photogate backup --out FILE [--admin-url URL]")
	}
	if st, err := os.Stat(*out); err == nil && st.IsDir() || strings.HasSuffix(*out, string(os.PathSeparator)) {
		*out = filepath.Join(*out, "photogate-index-"+time.Now().UTC().Format("20060102T150405Z")+".db")
	}
	c, err := admin.client(getenv, 2*time.Hour)
	if err != nil {
		return err
	}
	prog := startProgress(stderr, "receiving the index snapshot")
	resp, err := c.call(ctx, http.MethodGet, c.base.JoinPath("api", "v1", "backup"))
	if err != nil {
		prog.stop()
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusNotFound {
			// photogate serves no backup route when its index is in
			// PostgreSQL: the database's own tools copy it consistently.
			return fmt.Errorf("backup: this photogate keeps its index in PostgreSQL (index.url); back it up with pg_dump: %w", err)
		}
		return err
	}
	defer resp.Body.Close()
	tmp, n, err := writeTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*.tmp", io.TeeReader(resp.Body, prog))
	prog.stop()
	if err != nil {
		return fmt.Errorf("backup: receiving the snapshot: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	st, err := verifyIndexFile(ctx, tmp)
	if err != nil {
		return fmt.Errorf("backup: the snapshot received is not usable, keeping none: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "backup %s: %d bytes, %d objects (%d bytes) in %d buckets, schema %d, %d pending intents\n",
		*out, n, st.Objects, st.Bytes, len(st.Buckets), st.SchemaVersion, st.PendingIntents)
	return err
}

// restoreCommand runs `photogate restore --from FILE`: with photogate
// stopped, it replaces the index in the data dir with a verified copy of a
// backup, keeping the index it replaces next to it. On its next start
// photogate resolves the intents the backup holds; `photogate repair` then
// brings in whatever changed in the backend since the backup.
func restoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "backup file written by photogate backup (required)")
	dataDir := fs.String("data-dir", "", "photogate's data directory (default: the config's data_dir, PHOTOGATE_DATA_DIR, ./data)")
	configFile := fs.String("config", getenv("PHOTOGATE_CONFIG"), "photogate's YAML configuration, to find its data_dir (PHOTOGATE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || fs.NArg() > 0 {
		return errors.New("usage: photogate restore --from FILE [--config FILE | --data-dir DIR]")
	}
	if *dataDir == "" {
		// The same precedence as serve: defaults, file, environment.
		cfg, err := loadConfig([]string{"--config", *configFile}, getenv)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if cfg.Index.postgres() {
			return errors.New("restore: the index is in PostgreSQL (index.url): restore the database from its pg_dump with pg_restore or psql, then run photogate repair")
		}
		*dataDir = cfg.DataDir
	}
	index := filepath.Join(*dataDir, "index.db")
	// A running photogate holds the index's lock. The index may be damaged
	// (the usual reason to restore), so it is only locked, never read.
	if _, err := os.Stat(index); err == nil {
		inUse, err := indexInUse(index)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if inUse {
			return fmt.Errorf("restore: %s is in use; stop photogate first", index)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	} else if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}

	// Work on a copy in the data dir (the same file system, so the final
	// rename is atomic), and never on the backup itself: opening an older
	// backup upgrades it in place.
	src, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	tmp, _, err := writeTemp(*dataDir, ".index.db.restore.*.tmp", src)
	if err != nil {
		return fmt.Errorf("restore: copying %s: %w", *from, err)
	}
	defer os.Remove(tmp)
	st, err := verifyIndexFile(ctx, tmp)
	if err != nil {
		return fmt.Errorf("restore: %s is not a usable backup, nothing was changed: %w", *from, err)
	}
	var kept string
	if _, err := os.Stat(index); err == nil {
		kept = index + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(index, kept); err != nil {
			return fmt.Errorf("restore: keeping the current index: %w", err)
		}
	}
	if err := os.Rename(tmp, index); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(*dataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s from %s: %d objects (%d bytes) in %d buckets, %d pending intents\n",
		index, *from, st.Objects, st.Bytes, len(st.Buckets), st.PendingIntents)
	if kept != "" {
		fmt.Fprintf(stdout, "the previous index is kept as %s\n", kept)
	}
	_, err = fmt.Fprintln(stdout, "start photogate, then run photogate repair to bring in what changed in the backend since the backup")
	return err
}

// verifyIndexFile checks that path is a complete index whose every
// internal invariant holds (records, secondary indexes, counters, job
// queue), and returns its statistics. It runs in a child process
// (photogate verify-index): on some damaged files bbolt panics in a
// goroutine of its own while it rebuilds the freelist, which no recover
// can catch, and a damaged backup must be a verdict, not a crash.
func verifyIndexFile(ctx context.Context, path string) (metastore.Stats, error) {
	self, err := os.Executable()
	if err != nil {
		return metastore.Stats{}, fmt.Errorf("verify %s: %w", path, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, "verify-index", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] // a panic's first line says what; the stack does not
		}
		return metastore.Stats{}, fmt.Errorf("%w: %s (%v)", metastore.ErrCorrupt, msg, err)
	}
	var st metastore.Stats
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return metastore.Stats{}, fmt.Errorf("verify %s: %w", path, err)
	}
	return st, nil
}

// verifyIndexCommand is the child side of verifyIndexFile: it opens the
// index at args[0], verifies it and prints its statistics as JSON.
func verifyIndexCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: photogate verify-index FILE")
	}
	s, err := metastore.Open(args[0], metastore.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Verify(ctx); err != nil {
		return err
	}
	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(st)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
