package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/pgstore"
)

const migrateUsage = `usage: photogate index migrate [--config FILE | --data-dir DIR | --from FILE] --to postgres://user:pass@host/db [--batch N]`

// indexCommand runs `photogate index SUBCOMMAND`. migrate is the only one.
func indexCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(migrateUsage)
	}
	switch args[0] {
	case "migrate":
		return migrateCommand(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, migrateUsage)
		return flag.ErrHelp
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", args[0], migrateUsage)
	}
}

// migrateLockWait is how long migrate waits for the bbolt file's lock. A
// stopped photogate holds none, so a longer wait would only delay saying
// that it is still running.
const migrateLockWait = time.Second

// migrateCommand runs `photogate index migrate`: it copies the bbolt index
// of a stopped photogate into an empty PostgreSQL index, through the
// engines' public APIs, and checks that both then report the same
// statistics. Only primary data is copied (records, pending intents,
// jobs); PostgreSQL derives its counters and facets in Commit.
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("index migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the bbolt index file to copy (default: index.db in the data dir)")
	dataDir := fs.String("data-dir", "", "photogate's data directory (default: the config's data_dir, PHOTOGATE_DATA_DIR, ./data)")
	configFile := fs.String("config", getenv("PHOTOGATE_CONFIG"), "photogate's YAML configuration, to find its data_dir (PHOTOGATE_CONFIG)")
	to := fs.String("to", "", "postgres:// URL of the empty PostgreSQL database to copy into (required)")
	batch := fs.Int("batch", 500, "records (and queued jobs) per PostgreSQL transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		return errors.New(migrateUsage)
	}
	if *from != "" && *dataDir != "" {
		return errors.New("migrate: give --from or --data-dir, not both")
	}
	if *batch <= 0 {
		return fmt.Errorf("migrate: --batch must be positive, not %d", *batch)
	}
	// Only URLs: a key=value DSN would put its password where redactURL
	// cannot find it.
	if u, err := url.Parse(*to); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("migrate: --to must be a postgres:// or postgresql:// URL")
	}
	target := redactURL(*to)

	path := *from
	if path == "" {
		if *dataDir == "" {
			// The same precedence as serve: defaults, file, environment.
			cfg, err := loadConfig([]string{"--config", *configFile}, getenv)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			*dataDir = cfg.DataDir
		}
		path = filepath.Join(*dataDir, "index.db")
	}
	// metastore.Open creates a missing file: an empty index copied into
	// PostgreSQL would pass every check and lose the real one.
	if st, err := os.Stat(path); err != nil {
		return fmt.Errorf("migrate: no bbolt index to copy: %w", err)
	} else if st.IsDir() {
		return fmt.Errorf("migrate: %s is a directory, not an index file", path)
	}

	// metastore.Options has no read-only mode: the file is opened as
	// photogate opens it, and nothing but Open's schema check writes it.
	src, err := metastore.Open(path, metastore.Options{Timeout: migrateLockWait})
	if errors.Is(err, metastore.ErrLocked) {
		return fmt.Errorf("migrate: %s is locked by a running photogate; stop it first, so that the index does not change while it is copied: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()

	dst, err := pgstore.Open(ctx, *to, pgstore.Options{})
	if err != nil {
		return fmt.Errorf("migrate: open %s: %w", target, err)
	}
	defer dst.Close()
	if err := checkEmpty(ctx, dst); err != nil {
		return fmt.Errorf("migrate: %s: %w", target, err)
	}

	fmt.Fprintf(stdout, "copying %s into %s\n", path, target)
	start := time.Now()
	res, err := copyIndex(ctx, src, dst, *batch, stderr)
	if err != nil {
		return fmt.Errorf("migrate: %w; %s now holds a partial copy: drop and recreate the database before running migrate again", err, target)
	}
	fmt.Fprintf(stdout, "copied in %s:\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  %d records (%s) in %d buckets\n", res.records, humanSize(res.bytes), res.buckets)
	fmt.Fprintf(stdout, "  %d jobs: %d queued, %d failed\n", res.queued+res.failed, res.queued, res.failed)
	fmt.Fprintf(stdout, "  %d pending intents", res.intents)
	if res.intents > 0 {
		fmt.Fprint(stdout, ": the replicas' recovery resolves them against the backend when they start")
	}
	fmt.Fprintln(stdout)

	if err := verifyMigration(ctx, src, dst); err != nil {
		return fmt.Errorf("migrate: the copy in %s does not match %s: %w", target, path, err)
	}
	_, err = fmt.Fprintf(stdout, "verified: objects, bytes, buckets, owners, extraction statuses and job counts agree, and the PostgreSQL index passes its own checks\n"+
		"next: set index.url (PHOTOGATE_INDEX_URL) to this database on every replica and start them; keep %s until they run\n", path)
	return err
}

// checkEmpty refuses a target that holds anything: migrate copies, it
// never merges.
func checkEmpty(ctx context.Context, dst metastore.Index) error {
	st, err := dst.Stats(ctx)
	if err != nil {
		return err
	}
	// Search reads the records themselves, not the counters.
	page, err := dst.Search(ctx, metastore.Query{Limit: 1})
	if err != nil {
		return err
	}
	jobs, err := dst.Jobs(ctx, metastore.JobQuery{Limit: 1})
	if err != nil {
		return err
	}
	if st.Objects > 0 || len(page.Items) > 0 || len(jobs) > 0 || st.PendingIntents > 0 {
		return fmt.Errorf("the PostgreSQL index is not empty (%d objects, %d jobs or more, %d pending intents): migrate copies into an empty database only and never merges",
			max(st.Objects, int64(len(page.Items))), len(jobs), st.PendingIntents)
	}
	return nil
}

// migrated counts what copyIndex copied.
type migrated struct {
	records, bytes int64
	buckets        int
	intents        int
	queued, failed int
}

// copyIndex copies the records bucket by bucket, batch to a transaction,
// then the pending intents and the jobs, in ID order. The progress bar over
// the records is drawn on w when it is a terminal.
func copyIndex(ctx context.Context, src, dst metastore.Index, batch int, w io.Writer) (migrated, error) {
	var res migrated
	st, err := src.Stats(ctx)
	if err != nil {
		return res, err
	}
	bar := newProgressBar(w, "copying records", st.Objects)
	defer bar.stop()
	muts := make([]metastore.Mutation, 0, batch)
	flush := func() error {
		if len(muts) == 0 {
			return nil
		}
		if err := dst.Commit(ctx, 0, muts...); err != nil {
			return err
		}
		muts = muts[:0]
		return nil
	}
	for _, b := range st.Buckets {
		err := src.Scan(ctx, b.Name, "", func(r metastore.Record) error {
			// Put keeps Owner, Placeholder and IndexedAt as given.
			muts = append(muts, metastore.Put(r))
			res.records++
			res.bytes += r.Size
			if len(muts) < batch {
				return nil
			}
			if err := flush(); err != nil {
				return fmt.Errorf("copy records up to %q in %s: %w", r.Key, r.Bucket, err)
			}
			bar.set(res.records)
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("copy bucket %q: %w", b.Name, err)
		}
		if err := flush(); err != nil {
			return res, fmt.Errorf("copy bucket %q: %w", b.Name, err)
		}
		bar.set(res.records)
		res.buckets++
	}
	bar.stop()

	intents, err := src.PendingIntents(ctx)
	if err != nil {
		return res, err
	}
	for _, in := range intents {
		id := in.ID
		in.ID = 0
		if _, err := dst.BeginIntent(ctx, in); err != nil {
			return res, fmt.Errorf("copy intent %d: %w", id, err)
		}
		res.intents++
	}

	// Queued jobs go in batches (EnqueueJob in one Commit); a failed one is
	// enqueued alone, for its new ID to Fail, after the batch before it,
	// so the new IDs keep the old order.
	for after := uint64(0); ; {
		page, err := src.Jobs(ctx, metastore.JobQuery{After: after, Limit: metastore.MaxJobLimit})
		if err != nil {
			return res, err
		}
		for _, j := range page {
			after = j.ID
			fresh := metastore.Job{Kind: j.Kind, Bucket: j.Bucket, Key: j.Key, ETag: j.ETag, NotBefore: j.NotBefore}
			if j.State == metastore.JobRunning {
				// Its NotBefore is the lease of a worker that stopped with
				// photogate: due now.
				fresh.NotBefore = time.Time{}
			}
			if j.State != metastore.JobFailed {
				muts = append(muts, metastore.EnqueueJob(fresh))
				res.queued++
				if len(muts) >= batch {
					if err := flush(); err != nil {
						return res, fmt.Errorf("copy jobs up to %d: %w", j.ID, err)
					}
				}
				continue
			}
			if err := flush(); err != nil {
				return res, fmt.Errorf("copy jobs before %d: %w", j.ID, err)
			}
			id, err := dst.Enqueue(ctx, fresh)
			if err != nil {
				return res, fmt.Errorf("copy job %d: %w", j.ID, err)
			}
			if err := dst.Fail(ctx, id, j.LastError); err != nil {
				return res, fmt.Errorf("copy job %d: %w", j.ID, err)
			}
			res.failed++
		}
		if len(page) < metastore.MaxJobLimit {
			break
		}
	}
	if err := flush(); err != nil {
		return res, fmt.Errorf("copy jobs: %w", err)
	}
	return res, nil
}

// verifyMigration compares what both engines report and runs the target's
// own consistency check. The error names every difference.
func verifyMigration(ctx context.Context, src, dst metastore.Index) error {
	a, err := src.Stats(ctx)
	if err != nil {
		return err
	}
	b, err := dst.Stats(ctx)
	if err != nil {
		return err
	}
	if diffs := statsDiff(a, b); len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	if err := dst.Verify(ctx); err != nil {
		return err
	}
	return nil
}

// statsDiff lists the differences between the bbolt engine's statistics a
// and the PostgreSQL engine's b. Zero counts are left out on both sides: an
// engine may keep a counter that went back to zero, or no row at all.
func statsDiff(a, b metastore.Stats) []string {
	var diffs []string
	if a.Objects != b.Objects || a.Bytes != b.Bytes {
		diffs = append(diffs, fmt.Sprintf("in total bbolt has %d objects (%d bytes), PostgreSQL %d (%d bytes)", a.Objects, a.Bytes, b.Objects, b.Bytes))
	}
	diffs = append(diffs, usageDiff("bucket", a.Buckets, b.Buckets)...)
	diffs = append(diffs, usageDiff("owner", a.Owners, b.Owners)...)
	for _, name := range unionKeys(a.Status, b.Status) {
		if x, y := a.Status[name], b.Status[name]; x != y {
			diffs = append(diffs, fmt.Sprintf("extraction status %q: bbolt %d records, PostgreSQL %d", name, x, y))
		}
	}
	for _, kind := range unionKeys(a.Jobs, b.Jobs) {
		if x, y := a.Jobs[kind], b.Jobs[kind]; x != y {
			diffs = append(diffs, fmt.Sprintf("jobs of kind %q: bbolt %d queued and %d failed, PostgreSQL %d queued and %d failed", kind, x.Queued, x.Failed, y.Queued, y.Failed))
		}
	}
	if a.PendingIntents != b.PendingIntents {
		diffs = append(diffs, fmt.Sprintf("pending intents: bbolt %d, PostgreSQL %d", a.PendingIntents, b.PendingIntents))
	}
	return diffs
}

// usageDiff compares per-bucket or per-owner counts by name (the engines
// sort names differently: bytes against the database's collation).
func usageDiff(what string, a, b []metastore.BucketStats) []string {
	byName := func(l []metastore.BucketStats) map[string]metastore.BucketStats {
		m := map[string]metastore.BucketStats{}
		for _, s := range l {
			if s.Objects != 0 || s.Bytes != 0 {
				m[s.Name] = s
			}
		}
		return m
	}
	am, bm := byName(a), byName(b)
	var diffs []string
	for _, name := range unionKeys(am, bm) {
		x, y := am[name], bm[name]
		if x.Objects != y.Objects || x.Bytes != y.Bytes {
			diffs = append(diffs, fmt.Sprintf("%s %q: bbolt %d objects (%d bytes), PostgreSQL %d (%d bytes)", what, name, x.Objects, x.Bytes, y.Objects, y.Bytes))
		}
	}
	return diffs
}

// unionKeys returns the keys of both maps, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
