package metastore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Index is the photo index as the rest of photogate uses it, whatever
// engine holds it: the embedded bbolt Store (the zero-configuration
// default) or a shared database that several replicas write at once
// (metastore/pgstore). Every engine passes metastore/conformance, so
// search, facets, stats, usage, intents and the job queue return the same
// results on each; Page.Plan and Stats.SchemaVersion are the only fields
// that name the engine.
//
// The methods keep Store's contracts, documented on Store: Commit is
// idempotent and applies its mutations atomically with clearing the
// intent; cursors are keyset positions that stay valid across writes;
// usage counters change in the same transaction as the records.
type Index interface {
	BeginIntent(ctx context.Context, in Intent) (uint64, error)
	Commit(ctx context.Context, intentID uint64, muts ...Mutation) error
	Abandon(ctx context.Context, intentID uint64) error
	PendingIntents(ctx context.Context) ([]Intent, error)

	Enqueue(ctx context.Context, j Job) (uint64, error)
	Lease(ctx context.Context, kind string, now time.Time, lease time.Duration) (Job, bool, error)
	Finish(ctx context.Context, id uint64) error
	Retry(ctx context.Context, id uint64, cause error, after time.Duration) error
	Fail(ctx context.Context, id uint64, reason string) error
	RetryFailed(ctx context.Context, kind string, id uint64) (int, error)
	GetJob(ctx context.Context, id uint64) (Job, bool, error)
	Jobs(ctx context.Context, q JobQuery) ([]Job, error)

	Get(ctx context.Context, bucket, key string) (Record, bool, error)
	Scan(ctx context.Context, bucket, prefix string, fn func(Record) error) error
	Search(ctx context.Context, q Query) (Page, error)
	Facets(ctx context.Context, field, bucket string) ([]Facet, error)
	// TakenMonths counts bucket's photos taken in each month of year, the
	// months in UTC, as the TakenAfter/TakenBefore filters of those months
	// select them. It reads the date index only.
	TakenMonths(ctx context.Context, bucket string, year int) ([12]int64, error)
	Stats(ctx context.Context) (Stats, error)
	BucketUsage(ctx context.Context, bucket string) (objects, bytes int64, err error)
	OwnerUsage(ctx context.Context, owner string) (objects, bytes int64, err error)

	// Backup writes a snapshot that the same engine can restore, or
	// fails with an error wrapping ErrBackupUnsupported when the engine
	// has its own tools for that (pg_dump for PostgreSQL).
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Verify checks that the derived data (counters, indexes, the job
	// queue's bookkeeping) agrees with the records; a disagreement wraps
	// ErrCorrupt.
	Verify(ctx context.Context) error
	Close() error
}

var _ Index = (*Store)(nil)

// ErrBackupUnsupported is wrapped by Backup on engines whose data is backed
// up with the database's own tools.
var ErrBackupUnsupported = errors.New("metastore: this index engine is backed up with its database's own tools")
