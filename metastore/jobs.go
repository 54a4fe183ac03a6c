package metastore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Job is background work on one object: metadata re-extraction now,
// thumbnails later. Delivery is at least once: a job whose lease expires
// is handed out again, so workers must be idempotent and should check
// that the object still has ETag before working on it.
type Job struct {
	ID          uint64
	Kind        string
	Bucket, Key string
	ETag        string
	Attempts    int       // leases so far, this one included
	NotBefore   time.Time // not handed out before; while leased, the lease expiry
	LastError   string
}

// JobStats counts one kind of job.
type JobStats struct {
	Queued  int64 // waiting or leased
	Dropped int64 // given up after MaxJobAttempts
}

// Job counter names in bkJobStats.
const (
	jobQueued  = 'q'
	jobDropped = 'd'
)

// Enqueue adds a job and returns its ID. To enqueue atomically with an
// index change, pass EnqueueJob(j) to Commit instead.
func (s *Store) Enqueue(ctx context.Context, j Job) (uint64, error) {
	j, err := prepareJob(j, time.Now())
	if err != nil {
		return 0, fmt.Errorf("metastore: enqueue: %w", err)
	}
	var id uint64
	err = s.batch(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = enqueue(tx, j)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("metastore: enqueue %s %s/%s: %w", j.Kind, j.Bucket, j.Key, err)
	}
	return id, nil
}

func prepareJob(j Job, now time.Time) (Job, error) {
	if j.Kind == "" || strings.IndexByte(j.Kind, 0) >= 0 {
		return j, fmt.Errorf("%w: job kind must be non-empty and NUL-free", ErrInvalid)
	}
	if j.NotBefore.IsZero() {
		j.NotBefore = now
	}
	j.ID, j.Attempts, j.LastError = 0, 0, ""
	return j, nil
}

func enqueue(tx *bolt.Tx, j Job) (uint64, error) {
	jobs := tx.Bucket([]byte(bkJobs))
	id, err := jobs.NextSequence()
	if err != nil {
		return 0, err
	}
	j.ID = id
	if err := putJob(tx, &j); err != nil {
		return 0, err
	}
	return id, addCounter(tx.Bucket([]byte(bkJobStats)), jobCounter(jobQueued, j.Kind), 1)
}

// Lease hands out the job of this kind that has been due the longest
// (NotBefore <= now) and hides it until now+lease. A job already leased
// MaxJobAttempts times is dropped and counted instead (its worker keeps
// dying or giving up), and the next one is considered.
func (s *Store) Lease(ctx context.Context, kind string, now time.Time, lease time.Duration) (Job, bool, error) {
	if lease <= 0 {
		return Job{}, false, fmt.Errorf("metastore: lease %s: %w: lease must be positive", kind, ErrInvalid)
	}
	var (
		job   Job
		found bool
	)
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		job, found = Job{}, false
		prefix := append([]byte(kind), 0)
		due := tx.Bucket([]byte(bkJobDue))
		limit := append(append([]byte(nil), prefix...), appendTaken(nil, now)...)
		for {
			k, _ := due.Cursor().Seek(prefix)
			if k == nil || !bytes.HasPrefix(k, prefix) {
				return nil
			}
			if len(k) != len(prefix)+takenLen+8 {
				return fmt.Errorf("%w: job_due key %x", ErrCorrupt, k)
			}
			if bytes.Compare(k[:len(limit)], limit) > 0 {
				return nil // the most overdue job is not due yet
			}
			j, err := getJob(tx, binary.BigEndian.Uint64(k[len(k)-8:]))
			if err != nil {
				return err
			}
			if err := due.Delete(k); err != nil {
				return err
			}
			if j.Attempts >= s.maxAttempts {
				if err := dropJob(tx, &j); err != nil {
					return err
				}
				continue
			}
			j.Attempts++
			j.NotBefore = now.Add(lease)
			if err := putJob(tx, &j); err != nil {
				return err
			}
			job, found = j, true
			return nil
		}
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("metastore: lease %s: %w", kind, err)
	}
	return job, found, nil
}

// Finish removes a done job. A job that is gone (finished by a worker whose
// lease had expired, or dropped) is not an error.
func (s *Store) Finish(ctx context.Context, id uint64) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		j, ok, err := lookupJob(tx, id)
		if err != nil || !ok {
			return err
		}
		return removeJob(tx, &j)
	})
	if err != nil {
		return fmt.Errorf("metastore: finish job %d: %w", id, err)
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
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		j, ok, err := lookupJob(tx, id)
		if err != nil || !ok {
			return err
		}
		if err := tx.Bucket([]byte(bkJobDue)).Delete(dueKey(&j)); err != nil {
			return err
		}
		j.LastError = msg
		if j.Attempts >= s.maxAttempts {
			return dropJob(tx, &j)
		}
		j.NotBefore = now.Add(max(after, 0))
		return putJob(tx, &j)
	})
	if err != nil {
		return fmt.Errorf("metastore: retry job %d: %w", id, err)
	}
	return nil
}

// putJob stores j and its due-index entry. The caller has removed the old
// due entry if NotBefore changed.
func putJob(tx *bolt.Tx, j *Job) error {
	if err := tx.Bucket([]byte(bkJobs)).Put(u64(j.ID), encodeJob(j)); err != nil {
		return err
	}
	return tx.Bucket([]byte(bkJobDue)).Put(dueKey(j), []byte{})
}

// removeJob deletes j, its due entry and its queued count.
func removeJob(tx *bolt.Tx, j *Job) error {
	if err := tx.Bucket([]byte(bkJobs)).Delete(u64(j.ID)); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bkJobDue)).Delete(dueKey(j)); err != nil {
		return err
	}
	return addCounter(tx.Bucket([]byte(bkJobStats)), jobCounter(jobQueued, j.Kind), -1)
}

func dropJob(tx *bolt.Tx, j *Job) error {
	if err := removeJob(tx, j); err != nil {
		return err
	}
	return addCounter(tx.Bucket([]byte(bkJobStats)), jobCounter(jobDropped, j.Kind), 1)
}

func lookupJob(tx *bolt.Tx, id uint64) (Job, bool, error) {
	v := tx.Bucket([]byte(bkJobs)).Get(u64(id))
	if v == nil {
		return Job{}, false, nil
	}
	j, err := decodeJob(id, v)
	return j, err == nil, err
}

func getJob(tx *bolt.Tx, id uint64) (Job, error) {
	j, ok, err := lookupJob(tx, id)
	if err == nil && !ok {
		err = fmt.Errorf("%w: job_due names missing job %d", ErrCorrupt, id)
	}
	return j, err
}

// dueKey orders jobs of a kind by due time, then by ID (FIFO among equals).
func dueKey(j *Job) []byte {
	k := make([]byte, 0, len(j.Kind)+1+takenLen+8)
	k = append(k, j.Kind...)
	k = append(k, 0)
	k = appendTaken(k, j.NotBefore)
	return binary.BigEndian.AppendUint64(k, j.ID)
}

func jobCounter(which byte, kind string) []byte {
	return append([]byte{which}, kind...)
}

const jobV1 = 1

func encodeJob(j *Job) []byte {
	e := encoder{}
	e.byte1(jobV1)
	e.str(j.Kind)
	e.str(j.Bucket)
	e.str(j.Key)
	e.str(j.ETag)
	e.varint(int64(j.Attempts))
	e.time(j.NotBefore)
	e.str(j.LastError)
	return e.b
}

func decodeJob(id uint64, v []byte) (Job, error) {
	j := Job{ID: id}
	d := decoder{b: v}
	if ver := d.byte1(); d.err == nil && ver != jobV1 {
		return Job{}, fmt.Errorf("%w: job %d: unknown encoding version %d", ErrCorrupt, id, ver)
	}
	j.Kind = d.str()
	j.Bucket = d.str()
	j.Key = d.str()
	j.ETag = d.str()
	j.Attempts = d.int()
	j.NotBefore = d.time()
	j.LastError = d.str()
	if err := d.done(); err != nil {
		return Job{}, fmt.Errorf("%w: job %d: %v", ErrCorrupt, id, err)
	}
	return j, nil
}
