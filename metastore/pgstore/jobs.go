package pgstore

import (
	"context"
	"fmt"
	"strings"
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

// insertJob adds a prepared job.
func insertJob(ctx context.Context, tx pgx.Tx, j metastore.Job) (uint64, error) {
	sec, nsec := unixTime(j.NotBefore)
	csec, cnsec := unixTime(j.Created)
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO jobs (kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error, state, created_s, created_ns)
		VALUES ($1, $2, $3, $4, 0, $5, $6, '', 'queued', $7, $8) RETURNING id`,
		[]byte(j.Kind), []byte(j.Bucket), []byte(j.Key), []byte(j.ETag), sec, nsec, csec, cnsec).Scan(&id)
	return uint64(id), err
}

const jobColumns = "id, kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error, state, created_s, created_ns"

// scanJob reads a row of jobColumns. State is the stored one; callers
// that return the job apply metastore.JobStateAt.
func scanJob(row pgx.Row) (metastore.Job, error) {
	var (
		id                                 int64
		kind, bucket, key, etag, lastError []byte
		attempts                           int
		sec                                int64
		nsec                               int32
		state                              string
		csec                               *int64
		cnsec                              *int32
	)
	if err := row.Scan(&id, &kind, &bucket, &key, &etag, &attempts, &sec, &nsec, &lastError, &state, &csec, &cnsec); err != nil {
		return metastore.Job{}, err
	}
	j := metastore.Job{
		ID: uint64(id), Kind: string(kind), Bucket: string(bucket), Key: string(key), ETag: string(etag),
		State: metastore.JobState(state), Attempts: attempts, NotBefore: fromUnix(sec, nsec), LastError: string(lastError),
	}
	if csec != nil && cnsec != nil {
		j.Created = fromUnix(*csec, *cnsec)
	}
	return j, nil
}

// Lease hands out the job of this kind that has been due the longest and
// hides it until now+lease. Rows other replicas hold are skipped (FOR
// UPDATE SKIP LOCKED), so concurrent workers never wait for each other or
// get the same job. A job already leased MaxJobAttempts times becomes
// failed instead, and the next one is considered. Failed jobs are not in
// the partial index the query reads (jobs_live_due).
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
				WHERE kind = $1 AND state <> 'failed' AND (not_before_s, not_before_ns) <= ($2, $3)
				ORDER BY kind, not_before_s, not_before_ns, id
				LIMIT 1 FOR UPDATE SKIP LOCKED`, []byte(kind), sec, nsec))
			if err == pgx.ErrNoRows {
				return nil
			}
			if err != nil {
				return err
			}
			if j.Attempts >= s.maxAttempts {
				if j.LastError == "" {
					j.LastError = fmt.Sprintf("gave up after %d attempts", j.Attempts)
				}
				if _, err := tx.Exec(ctx, "UPDATE jobs SET state = 'failed', last_error = $2 WHERE id = $1",
					int64(j.ID), []byte(j.LastError)); err != nil {
					return err
				}
				continue
			}
			j.Attempts++
			j.NotBefore = now.Add(lease)
			j.State = metastore.JobRunning
			nbs, nbns := unixTime(j.NotBefore)
			if _, err := tx.Exec(ctx, "UPDATE jobs SET attempts = $2, not_before_s = $3, not_before_ns = $4, state = 'running' WHERE id = $1",
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

// Finish removes a done job, whatever its state. A job that is gone is
// not an error.
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
// given delay; once it has been attempted MaxJobAttempts times it becomes
// failed instead, with cause as the reason. A gone or failed job is left
// as it is.
func (s *Store) Retry(ctx context.Context, id uint64, cause error, after time.Duration) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	now := time.Now()
	err := s.write(ctx, func(tx pgx.Tx) error {
		j, err := scanJob(tx.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1 FOR UPDATE", int64(id)))
		if err == pgx.ErrNoRows || (err == nil && j.State == metastore.JobFailed) {
			return nil
		}
		if err != nil {
			return err
		}
		if j.Attempts >= s.maxAttempts {
			_, err := tx.Exec(ctx, "UPDATE jobs SET state = 'failed', last_error = $2 WHERE id = $1", int64(id), []byte(msg))
			return err
		}
		sec, nsec := unixTime(now.Add(max(after, 0)))
		_, err = tx.Exec(ctx, "UPDATE jobs SET state = 'queued', last_error = $2, not_before_s = $3, not_before_ns = $4 WHERE id = $1",
			int64(id), []byte(msg), sec, nsec)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: retry job %d: %w", id, err)
	}
	return nil
}

// Fail gives a job up for good with reason as its LastError; it is not
// leased again until RetryFailed. A gone job is not an error.
func (s *Store) Fail(ctx context.Context, id uint64, reason string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE jobs SET state = 'failed', last_error = $2 WHERE id = $1", int64(id), []byte(reason))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: fail job %d: %w", id, err)
	}
	return nil
}

// RetryFailed queues failed jobs again, due now, with Attempts reset and
// LastError kept. kind "" means every kind; id != 0 only that job. It
// returns how many jobs it queued.
func (s *Store) RetryFailed(ctx context.Context, kind string, id uint64) (int, error) {
	sec, nsec := unixTime(time.Now())
	w := where{}
	w.add("state = 'failed'")
	if kind != "" {
		w.add("kind = $", []byte(kind))
	}
	if id != 0 {
		w.add("id = $", int64(id))
	}
	cond := strings.Join(w.conds, " AND ")
	var n int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		// The SET clause's $1 and $2 come after the conditions' numbers.
		tag, err := tx.Exec(ctx, fmt.Sprintf("UPDATE jobs SET state = 'queued', attempts = 0, not_before_s = $%d, not_before_ns = $%d WHERE %s",
			len(w.args)+1, len(w.args)+2, cond), append(w.args, sec, nsec)...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: retry failed jobs %q %d: %w", kind, id, err)
	}
	return int(n), nil
}

// GetJob returns the job with this ID, its State as of now.
func (s *Store) GetJob(ctx context.Context, id uint64) (metastore.Job, bool, error) {
	now := time.Now()
	var (
		j     metastore.Job
		found bool
	)
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1", int64(id)))
		if err == pgx.ErrNoRows {
			j, found = metastore.Job{}, false
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return metastore.Job{}, false, fmt.Errorf("pgstore: get job %d: %w", id, err)
	}
	j.State = metastore.JobStateAt(&j, now)
	return j, found, nil
}

// Jobs lists the jobs q selects in ascending ID order, their State as of
// now. One object's jobs come from jobs_object, failed ones from
// jobs_failed; other filters read the primary key from the cursor on.
func (s *Store) Jobs(ctx context.Context, q metastore.JobQuery) ([]metastore.Job, error) {
	q, err := metastore.PrepareJobQuery(q)
	if err != nil {
		return nil, fmt.Errorf("pgstore: jobs: %w", err)
	}
	now := time.Now()
	sec, nsec := unixTime(now)
	w := where{}
	w.add("id > $", int64(min(q.After, 1<<63-1)))
	if q.Kind != "" {
		w.add("kind = $", []byte(q.Kind))
	}
	if q.Bucket != "" {
		w.add("bucket = $", []byte(q.Bucket))
		w.add("key = $", []byte(q.Key))
	}
	switch q.State {
	case metastore.JobFailed:
		w.add("state = 'failed'")
	case metastore.JobRunning:
		w.add("state = 'running' AND (not_before_s, not_before_ns) > ($, $)", sec, nsec)
	case metastore.JobQueued:
		w.add("(state = 'queued' OR state = 'running' AND (not_before_s, not_before_ns) <= ($, $))", sec, nsec)
	}
	var out []metastore.Job
	err = s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, "SELECT "+jobColumns+" FROM jobs"+w.sql()+fmt.Sprintf(" ORDER BY id LIMIT %d", q.Limit), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			j.State = metastore.JobStateAt(&j, now)
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: jobs: %w", err)
	}
	return out, nil
}
