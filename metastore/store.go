package metastore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrSchemaTooNew is wrapped by Open when the file was written by a newer
// photogate. Upgrade the binary, or rebuild the index from the backend.
var ErrSchemaTooNew = errors.New("metastore: index written by a newer schema version")

// ErrLocked is wrapped by Open when another process (a running photogate)
// holds the file's lock for longer than Options.Timeout.
var ErrLocked = errors.New("metastore: file is locked by another process")

// Options tune Open. The zero value is right for production.
type Options struct {
	// NoSync skips fsync on commit. Only for tests and bulk rebuilds: a crash
	// can then lose acknowledged writes, which breaks the store's guarantee.
	NoSync bool
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means 5s; a second photogate on the same data dir should fail
	// fast, not hang.
	Timeout time.Duration
	// MaxJobAttempts is how many times a job is leased before it is
	// given up as failed (kept until RetryFailed or Finish). Zero means 5.
	MaxJobAttempts int
}

// Store is an open index. All methods are safe for concurrent use.
type Store struct {
	db          *bolt.DB
	maxAttempts int

	group groupCommit
	// Group-commit accounting (see WriteStats).
	calls, txs atomic.Uint64

	// planHook, when set (by tests), picks the access path of a search:
	// it receives the usable index names and returns one's position, or -1
	// for the ordered walk. It proves every plan returns the same result.
	planHook func(paths []string) int
	// noSemiJoin, when set (by tests), keeps other indexes from filtering
	// the chosen plan's entries, so that both ways are compared.
	noSemiJoin bool
}

// Open opens or creates the index at path. It creates missing buckets,
// stamps a new file with SchemaVersion, and refuses a file stamped with a
// newer one.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	if err := checkLength(path); err != nil {
		return nil, fmt.Errorf("metastore: open %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout: timeout,
		NoSync:  opts.NoSync,
		// The hashmap freelist stays fast when a large index fragments, and
		// not syncing the freelist makes every commit write less; bbolt
		// rebuilds it by scanning on open, which is what etcd does too.
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("metastore: open %s (waited %v): %w: %w", path, timeout, ErrLocked, err)
		}
		return nil, fmt.Errorf("metastore: open %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("metastore: open %s: %w", path, err)
	}
	s := &Store{db: db, maxAttempts: opts.MaxJobAttempts}
	if s.maxAttempts <= 0 {
		s.maxAttempts = 5
	}
	return s, nil
}

// openBolt is bolt.Open, with the panics bbolt raises on some damaged files
// (while it scans the pages to rebuild the freelist) turned into ErrCorrupt,
// so that a damaged index or backup is an error a caller can report.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: bbolt: %v", ErrCorrupt, p)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// initSchema creates what is missing and checks the version stamp.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket([]byte(bkMeta))
	if meta == nil {
		// A file without the stamp is either new or not ours. Refuse
		// the latter rather than scribble into someone else's database.
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return errors.New("file is a bbolt database without a metastore schema stamp")
		}
	}
	var added []string
	for _, name := range allBuckets() {
		if tx.Bucket([]byte(name)) == nil {
			added = append(added, name)
		}
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta = tx.Bucket([]byte(bkMeta))
	v := meta.Get([]byte(metaSchemaKey))
	switch {
	case v == nil:
		return meta.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, SchemaVersion))
	case len(v) != 4:
		return fmt.Errorf("%w: schema version stamp of %d bytes", ErrCorrupt, len(v))
	case binary.BigEndian.Uint32(v) > SchemaVersion:
		return fmt.Errorf("%w: file has version %d, this binary reads up to %d", ErrSchemaTooNew, binary.BigEndian.Uint32(v), SchemaVersion)
	case binary.BigEndian.Uint32(v) < SchemaVersion:
		// Upgrades add buckets, created above in this same transaction;
		// a new secondary index is filled from the records here too, and
		// the job queue's bookkeeping is converted, so restamping
		// completes the upgrade.
		if err := fillIndexes(tx, added); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(v) < 3 {
			if err := upgradeJobsV3(tx); err != nil {
				return fmt.Errorf("upgrade job queue: %w", err)
			}
		}
		return meta.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, SchemaVersion))
	}
	return nil
}

// fillIndexes writes every record's entries in those of the named buckets
// that are secondary indexes, so an index added by a newer schema covers
// the records written before it. It runs inside Open's transaction: the
// upgrade is all or nothing.
func fillIndexes(tx *bolt.Tx, names []string) error {
	fill := map[string]*bolt.Bucket{}
	for _, name := range names {
		if slices.Contains(indexNames(), name) {
			fill[name] = tx.Bucket([]byte(name))
		}
	}
	if len(fill) == 0 {
		return nil
	}
	return tx.Bucket([]byte(bkRecords)).ForEach(func(k, v []byte) error {
		r, err := decodeRecordKV(k, v)
		if err != nil {
			// Left for Verify to report and repair to rewrite, as the
			// record's other entries are: refusing to open would make
			// the whole index unusable over one record.
			return nil
		}
		for _, e := range indexEntries(&r) {
			if b := fill[e.index]; b != nil {
				if err := b.Put(e.key, []byte{}); err != nil {
					return fmt.Errorf("fill index %s with %s/%s: %w", e.index, r.Bucket, r.Key, err)
				}
			}
		}
		return nil
	})
}

// upgradeJobsV3 converts a schema 2 job queue: every job gets its
// job_object entry, and the 'd' counters of dropped jobs go (those jobs
// were deleted; schema 3 keeps failed ones instead, counted by 'f'). The
// jobs themselves stay in encoding v1, which decodes as queued.
func upgradeJobsV3(tx *bolt.Tx) error {
	objects := tx.Bucket([]byte(bkJobObject))
	err := tx.Bucket([]byte(bkJobs)).ForEach(func(k, v []byte) error {
		j, err := decodeJob(readU64(k), v)
		if err != nil {
			return nil // left for Verify to report, as fillIndexes does
		}
		return objects.Put(jobObjectKey(&j), []byte{})
	})
	if err != nil {
		return err
	}
	stats := tx.Bucket([]byte(bkJobStats))
	var dropped [][]byte
	err = stats.ForEach(func(k, _ []byte) error {
		if len(k) > 0 && k[0] == 'd' {
			dropped = append(dropped, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dropped {
		if err := stats.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Close waits for running transactions and closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("metastore: close: %w", err)
	}
	return nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// WriteStats counts group commit: Calls is how many write requests
// (intents, commits, jobs) were submitted, Transactions how many fsynced
// transactions carried them. Calls/Transactions is the batching factor.
type WriteStats struct {
	Calls, Transactions uint64
}

// WriteStats reports group-commit effectiveness since Open.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Calls: s.calls.Load(), Transactions: s.txs.Load()}
}

// view runs fn in a read transaction after checking ctx.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// checkEvery is how many items long loops process between ctx checks.
const checkEvery = 1024
