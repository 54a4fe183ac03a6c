// Package pgstore is the photo index on PostgreSQL: metastore.Index for
// several photogate replicas sharing one database.
//
// It keeps metastore.Store's contracts and passes metastore/conformance.
// Records, intents, jobs and the usage and facet counters live in tables
// (see migrations); every Commit is one transaction that changes the
// records and the counters derived from them together. Searches narrow
// candidates with PostgreSQL's indexes and then apply metastore's own exact
// filter and result order (metastore.CompiledQuery), so both engines return
// the same pages and accept each other's cursors.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/photogate/photogate/metastore"
)

// Options tune Open. The zero value is right for production.
type Options struct {
	// MaxJobAttempts is how many times a job is leased before it is
	// given up as failed. Zero means 5, as for the bbolt engine.
	MaxJobAttempts int
	// MaxConns bounds the connection pool. Zero means 16: enough
	// concurrent commits for PostgreSQL to share WAL flushes between
	// them, few enough that several replicas fit in the server's default
	// max_connections of 100.
	MaxConns int32
	// Lease is how long after this replica's last heartbeat its write
	// intents become another replica's to resolve. Zero means
	// DefaultLease.
	Lease time.Duration
}

// Store is an open PostgreSQL index. All methods are safe for concurrent
// use, by any number of processes sharing the database.
type Store struct {
	pool        *pgxpool.Pool
	maxAttempts int
	replica     replica
}

var _ metastore.Index = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL) and brings its
// schema up to SchemaVersion. Migrations run under a session advisory lock,
// so replicas starting together apply each migration exactly once; a
// database migrated by a newer release is refused with an error wrapping
// metastore.ErrSchemaTooNew.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: say what is wrong, not what it is.
		return nil, fmt.Errorf("pgstore: parse index URL: %w", err)
	}
	cfg.MaxConns = 16
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, maxAttempts: opts.MaxJobAttempts, replica: replica{id: newReplicaID(), lease: opts.Lease}}
	if s.maxAttempts <= 0 {
		s.maxAttempts = 5
	}
	if s.replica.lease <= 0 {
		s.replica.lease = DefaultLease
	}
	if err := s.join(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies the missing migrations. The advisory lock is held by one
// connection for the whole run; each migration commits separately with its
// version row, so a crash leaves a consistent, resumable state.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("pgstore: migrate: take lock: %w", err)
	}
	defer func() {
		// Unlock even if ctx is done, or the session keeps the lock
		// while the pool keeps the connection.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
			conn.Conn().PgConn().Close(unlockCtx) //nolint:errcheck // closing the session frees its locks
		}
	}()
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("pgstore: migrate: read version: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("pgstore: database has schema version %d, this binary knows up to %d: %w", current, SchemaVersion, metastore.ErrSchemaTooNew)
	}
	steps := migrations()
	for v := current + 1; v <= SchemaVersion; v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, steps[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgstore: migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// Close leaves the replicas (its leftover intents become claimable at
// once) and closes the pool, waiting for connections in use to be
// returned.
func (s *Store) Close() error {
	s.leave()
	s.pool.Close()
	return nil
}

// Backup is not done by photogate for PostgreSQL: pg_dump (or the
// database service's own backups) copies a consistent snapshot of the
// whole database, and pg_restore or psql restores it.
func (s *Store) Backup(context.Context, io.Writer) (int64, error) {
	return 0, fmt.Errorf("pgstore: backup: use pg_dump on the index database: %w", metastore.ErrBackupUnsupported)
}

// maxTxAttempts bounds the retries of a transaction that lost a race: a
// deadlock between two multi-key commits, or two replicas inserting the
// same new key at once.
const maxTxAttempts = 8

// write runs fn in a transaction, retrying it when PostgreSQL aborted it
// for a conflict with a concurrent one. As with the bbolt engine, ctx is
// only checked before starting: once submitted, a write completes, because
// dropping the index update of a write the backend already confirmed would
// create drift.
//
// The isolation level is named rather than left to the server's default:
// the writes rely on READ COMMITTED, where each statement sees what
// committed before it. Reserve, for one, must see the reservation of the
// replica whose advisory lock it waited for, which a REPEATABLE READ
// snapshot taken at the lock wait would hide.
func (s *Store) write(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.retrying(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
	})
}

// retrying runs a transaction (tx) until it succeeds, fails for good, or
// has been tried maxTxAttempts times; it is not cancelled once started,
// as write is not.
func (s *Store) retrying(ctx context.Context, tx func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := 1; ; attempt++ {
		err = tx(ctx)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
}

// retryable reports the errors that mean "run the transaction again":
// serialization failure, deadlock, and a unique violation on insert (a
// concurrent transaction created the same record after this one looked).
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01", "23505":
		return true
	}
	return false
}

// read runs fn in a read-only, repeatable-read transaction: one snapshot,
// as the bbolt engine's reads are.
func (s *Store) read(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// unixTime splits t for the (seconds, nanoseconds) columns.
func unixTime(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

// fromUnix rebuilds a time as the bbolt engine decodes it: in UTC.
func fromUnix(sec int64, nsec int32) time.Time {
	return time.Unix(sec, int64(nsec)).UTC()
}
