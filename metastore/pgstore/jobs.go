package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// Enqueue adds a job and returns its ID. To enqueue atomically with an
// index change, pass metastore.EnqueueJob(j) to Commit instead.
func (s *Store) Enqueue(ctx context.Context, j metastore.Job) (uint64, error) {
	j, err := metastore.PrepareJob(j, time.Now())
	if err != nil {
		return 0, fmt.Errorf("pgstore: enqueue: %w", err)
	}
	var id uint64
	err = s.write(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = insertJob(ctx, tx, j)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: enqueue %s %s/%s: %w", j.Kind, j.Bucket, j.Key, err)
	}
	return id, nil
}

func insertJob(ctx context.Context, tx pgx.Tx, j metastore.Job) (uint64, error) {
	sec, nsec := unixTime(j.NotBefore)
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO jobs (kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error)
		VALUES ($1, $2, $3, $4, 0, $5, $6, '') RETURNING id`,
		[]byte(j.Kind), []byte(j.Bucket), []byte(j.Key), []byte(j.ETag), sec, nsec).Scan(&id)
	return uint64(id), err
}

const jobColumns = "id, kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error"

func scanJob(row pgx.Row) (metastore.Job, error) {
	var (
		id                                 int64
		kind, bucket, key, etag, lastError []byte
		attempts                           int
		sec                                int64
		nsec                               int32
	)
	if err := row.Scan(&id, &kind, &bucket, &key, &etag, &attempts, &sec, &nsec, &lastError); err != nil {
		return metastore.Job{}, err
	}
	return metastore.Job{
		ID: uint64(id), Kind: string(kind), Bucket: string(bucket), Key: string(key), ETag: string(etag),
		Attempts: attempts, NotBefore: fromUnix(sec, nsec), LastError: string(lastError),
	}, nil
}

// Lease hands out the job of this kind that has been due the longest and
// hides it until now+lease. Rows other replicas hold are skipped (FOR
// UPDATE SKIP LOCKED), so concurrent workers never wait for each other or
// get the same job. A job already leased MaxJobAttempts times is dropped
// and counted instead, and the next one is considered.
func (s *Store) Lease(ctx context.Context, kind string, now time.Time, lease time.Duration) (metastore.Job, bool, error) {
	if lease <= 0 {
		return metastore.Job{}, false, fmt.Errorf("pgstore: lease %s: %w: lease must be positive", kind, metastore.ErrInvalid)
	}
	var (
		job   metastore.Job
		found bool
	)
	sec, nsec := unixTime(now)
	err := s.write(ctx, func(tx pgx.Tx) error {
		job, found = metastore.Job{}, false
		for {
			j, err := scanJob(tx.QueryRow(ctx, "SELECT "+jobColumns+` FROM jobs
				WHERE kind = $1 AND (not_before_s, not_before_ns) <= ($2, $3)
				ORDER BY kind, not_before_s, not_before_ns, id
				LIMIT 1 FOR UPDATE SKIP LOCKED`, []byte(kind), sec, nsec))
			if err == pgx.ErrNoRows {
				return nil
			}
			if err != nil {
				return err
			}
			if j.Attempts >= s.maxAttempts {
				if err := dropJob(ctx, tx, &j); err != nil {
					return err
				}
				continue
			}
			j.Attempts++
			j.NotBefore = now.Add(lease)
			nbs, nbns := unixTime(j.NotBefore)
			if _, err := tx.Exec(ctx, "UPDATE jobs SET attempts = $2, not_before_s = $3, not_before_ns = $4 WHERE id = $1",
				int64(j.ID), j.Attempts, nbs, nbns); err != nil {
				return err
			}
			job, found = j, true
			return nil
		}
	})
	if err != nil {
		return metastore.Job{}, false, fmt.Errorf("pgstore: lease %s: %w", kind, err)
	}
	return job, found, nil
}

// Finish removes a done job. A job that is gone is not an error.
func (s *Store) Finish(ctx context.Context, id uint64) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM jobs WHERE id = $1", int64(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: finish job %d: %w", id, err)
	}
	return nil
}

// Retry records a failed attempt and makes the job due again after the
// given delay; once it has been attempted MaxJobAttempts times it is
// dropped and counted instead.
func (s *Store) Retry(ctx context.Context, id uint64, cause error, after time.Duration) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	now := time.Now()
	err := s.write(ctx, func(tx pgx.Tx) error {
		j, err := scanJob(tx.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1 FOR UPDATE", int64(id)))
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if j.Attempts >= s.maxAttempts {
			return dropJob(ctx, tx, &j)
		}
		sec, nsec := unixTime(now.Add(max(after, 0)))
		_, err = tx.Exec(ctx, "UPDATE jobs SET last_error = $2, not_before_s = $3, not_before_ns = $4 WHERE id = $1",
			int64(id), []byte(msg), sec, nsec)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: retry job %d: %w", id, err)
	}
	return nil
}

func dropJob(ctx context.Context, tx pgx.Tx, j *metastore.Job) error {
	if _, err := tx.Exec(ctx, "DELETE FROM jobs WHERE id = $1", int64(j.ID)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO jobs_dropped AS t (kind, n) VALUES ($1, 1)
		ON CONFLICT (kind) DO UPDATE SET n = t.n + 1`, []byte(j.Kind))
	return err
}
