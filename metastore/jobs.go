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

// Job is background work on one object: metadata re-extraction, renditions,
// deleting a replaced object's renditions. Delivery is at least once: a job
// whose lease expires is handed out again, so workers must be idempotent
// and should check that the object still has ETag before working on it.
type Job struct {
	ID          uint64
	Kind        string
	Bucket, Key string
	ETag        string
	State       JobState  // as of the read; see JobState
	Attempts    int       // leases so far, this one included
	NotBefore   time.Time // not handed out before; while leased, the lease expiry
	Created     time.Time // set by Enqueue and EnqueueJob; zero for jobs queued before it was recorded
	LastError   string    // the last Retry's cause; for a failed job, why it was given up
}

// JobState is where a job is in its life. Only a failed job is kept out of
// the queue; queued and running differ by whether a lease is held.
type JobState string

// Job states.
const (
	// JobQueued is a job waiting for NotBefore or due now, including a
	// leased job whose lease (NotBefore) has expired: its worker died and
	// the next Lease hands it out again.
	JobQueued JobState = "queued"
	// JobRunning is a leased job whose lease has not expired; NotBefore
	// is the lease expiry.
	JobRunning JobState = "running"
	// JobFailed is a job given up for good, by Fail or after
	// MaxJobAttempts leases. It is kept, with the reason in LastError,
	// until RetryFailed queues it again or Finish removes it.
	JobFailed JobState = "failed"
)

// valid reports a state a query may ask for.
func (s JobState) valid() bool {
	return s == JobQueued || s == JobRunning || s == JobFailed
}

// stateAt is the state a stored job has at now: a running job whose lease
// expired reads as queued.
func (j *Job) stateAt(now time.Time) JobState {
	if j.State == JobRunning && !j.NotBefore.After(now) {
		return JobQueued
	}
	return j.State
}

// JobStats counts one kind of job.
type JobStats struct {
	Queued int64 // waiting or leased (not failed)
	Failed int64 // failed jobs currently kept
}

// JobQuery selects jobs for Jobs. The zero value lists the first 100 jobs.
type JobQuery struct {
	Kind        string   // "" all kinds
	State       JobState // "" all states; otherwise as of the read (see JobState)
	Bucket, Key string   // both set: only jobs on that exact object (served by an index); otherwise ignored
	After       uint64   // only IDs > After: the last ID of the previous page
	Limit       int      // <= 0 means DefaultJobLimit; capped at MaxJobLimit
}

// Page sizes of Jobs.
const (
	DefaultJobLimit = 100
	MaxJobLimit     = 1000
)

// prepareJobQuery validates q and applies the limit defaults.
func prepareJobQuery(q JobQuery) (JobQuery, error) {
	if q.State != "" && !q.State.valid() {
		return q, fmt.Errorf("%w: unknown job state %q", ErrInvalid, q.State)
	}
	if q.Bucket == "" || q.Key == "" {
		q.Bucket, q.Key = "", ""
	}
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultJobLimit
	case q.Limit > MaxJobLimit:
		q.Limit = MaxJobLimit
	}
	return q, nil
}

// matches applies q's filters to a job read at now (the cursor and the
// object are the caller's).
func (q *JobQuery) matches(j *Job, now time.Time) bool {
	if q.Kind != "" && j.Kind != q.Kind {
		return false
	}
	if q.Bucket != "" && (j.Bucket != q.Bucket || j.Key != q.Key) {
		return false
	}
	return q.State == "" || j.stateAt(now) == q.State
}

// Job counter names in bkJobStats. 'd' (dropped) was schema 2's count of
// jobs deleted after MaxJobAttempts; the upgrade to 3 removes it.
const (
	jobQueued = 'q'
	jobFailed = 'f'
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
	j.State, j.Created = JobQueued, now
	return j, nil
}

func enqueue(tx *bolt.Tx, j Job) (uint64, error) {
	jobs := tx.Bucket([]byte(bkJobs))
	id, err := jobs.NextSequence()
	if err != nil {
		return 0, err
	}
	j.ID = id
	return id, saveJob(tx, nil, &j)
}

// Lease hands out the job of this kind that has been due the longest
// (NotBefore <= now) and hides it until now+lease. A job already leased
// MaxJobAttempts times (its worker keeps dying) becomes failed instead,
// and the next one is considered. Failed jobs are not in the due index,
// so they cost a lease nothing.
func (s *Store) Lease(ctx context.Context, kind string, now time.Time, lease time.Duration) (Job, bool, error) {
	if lease <= 0 {
		return Job{}, false, fmt.Errorf("metastore: lease %s: %w: lease must be positive", kind, ErrInvalid)
	}
	prefix := append([]byte(kind), 0)
	limit := append(append([]byte(nil), prefix...), appendTaken(nil, now)...)
	// Workers look for jobs after every write that may have queued one,
	// and mostly find none: a read says so without a write transaction,
	// which would cost a meta page and an fsync for nothing.
	var anyDue bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		k, err := mostOverdue(tx, prefix, limit)
		anyDue = k != nil
		return err
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("metastore: lease %s: %w", kind, err)
	}
	if !anyDue {
		return Job{}, false, nil
	}
	var (
		job   Job
		found bool
	)
	err = s.batch(ctx, func(tx *bolt.Tx) error {
		job, found = Job{}, false
		for {
			k, err := mostOverdue(tx, prefix, limit)
			if k == nil || err != nil {
				return err
			}
			j, err := getJob(tx, binary.BigEndian.Uint64(k[len(k)-8:]))
			if err != nil {
				return err
			}
			prev := j
			if j.Attempts >= s.maxAttempts {
				j.State = JobFailed
				if j.LastError == "" {
					j.LastError = fmt.Sprintf("gave up after %d attempts", j.Attempts)
				}
				if err := saveJob(tx, &prev, &j); err != nil {
					return err
				}
				continue
			}
			j.Attempts++
			j.NotBefore = now.Add(lease)
			j.State = JobRunning
			if err := saveJob(tx, &prev, &j); err != nil {
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

// mostOverdue is the due-index key of the job of a kind (prefix) that has
// been due the longest, if it is due by limit; nil if none is.
func mostOverdue(tx *bolt.Tx, prefix, limit []byte) ([]byte, error) {
	k, _ := tx.Bucket([]byte(bkJobDue)).Cursor().Seek(prefix)
	switch {
	case k == nil || !bytes.HasPrefix(k, prefix):
		return nil, nil
	case len(k) != len(prefix)+takenLen+8:
		return nil, fmt.Errorf("%w: job_due key %x", ErrCorrupt, k)
	case bytes.Compare(k[:len(limit)], limit) > 0:
		return nil, nil // the most overdue job is not due yet
	}
	return k, nil
}

// Finish removes a done job, whatever its state. A job that is gone
// (finished by a worker whose lease had expired) is not an error.
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
// given delay; once it has been attempted MaxJobAttempts times it becomes
// failed instead, with cause as the reason. A gone or failed job is left
// as it is.
func (s *Store) Retry(ctx context.Context, id uint64, cause error, after time.Duration) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	now := time.Now()
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		j, ok, err := lookupJob(tx, id)
		if err != nil || !ok || j.State == JobFailed {
			// A failed job stays failed: the worker retrying it held
			// a lease that expired before another Lease gave it up.
			return err
		}
		prev := j
		j.LastError = msg
		if j.Attempts >= s.maxAttempts {
			j.State = JobFailed
		} else {
			j.State = JobQueued
			j.NotBefore = now.Add(max(after, 0))
		}
		return saveJob(tx, &prev, &j)
	})
	if err != nil {
		return fmt.Errorf("metastore: retry job %d: %w", id, err)
	}
	return nil
}

// Fail gives a job up for good: it becomes failed with reason as its
// LastError and is not leased again until RetryFailed. For work that can
// never succeed (an object that is not a photo), where Retry would only
// waste attempts. A gone job is not an error.
func (s *Store) Fail(ctx context.Context, id uint64, reason string) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		j, ok, err := lookupJob(tx, id)
		if err != nil || !ok {
			return err
		}
		prev := j
		j.State, j.LastError = JobFailed, reason
		return saveJob(tx, &prev, &j)
	})
	if err != nil {
		return fmt.Errorf("metastore: fail job %d: %w", id, err)
	}
	return nil
}

// RetryFailed queues failed jobs again, due now, with Attempts reset and
// LastError kept (it says why the job failed last time). kind "" means
// every kind; id != 0 only that job. It returns how many jobs it queued.
func (s *Store) RetryFailed(ctx context.Context, kind string, id uint64) (int, error) {
	now := time.Now()
	var n int
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		n = 0
		var ids []uint64
		if id != 0 {
			ids = []uint64{id}
		} else {
			// Collect, then change: changing under a live cursor
			// skips entries.
			err := tx.Bucket([]byte(bkJobFailed)).ForEach(func(k, _ []byte) error {
				ids = append(ids, readU64(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, id := range ids {
			j, ok, err := lookupJob(tx, id)
			if err != nil {
				return err
			}
			if !ok || j.State != JobFailed || (kind != "" && j.Kind != kind) {
				continue
			}
			prev := j
			j.State, j.Attempts, j.NotBefore = JobQueued, 0, now
			if err := saveJob(tx, &prev, &j); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("metastore: retry failed jobs %q %d: %w", kind, id, err)
	}
	return n, nil
}

// GetJob returns the job with this ID, its State as of now.
func (s *Store) GetJob(ctx context.Context, id uint64) (Job, bool, error) {
	var (
		j  Job
		ok bool
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		j, ok, err = lookupJob(tx, id)
		return err
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("metastore: get job %d: %w", id, err)
	}
	j.State = j.stateAt(time.Now())
	return j, ok, nil
}

// Jobs lists the jobs q selects in ascending ID order, their State as of
// now. Jobs of one object are found through the job_object index and
// failed jobs through job_failed, so neither walks the whole queue;
// other filters walk the jobs in ID order from the cursor.
func (s *Store) Jobs(ctx context.Context, q JobQuery) ([]Job, error) {
	q, err := prepareJobQuery(q)
	if err != nil {
		return nil, fmt.Errorf("metastore: jobs: %w", err)
	}
	now := time.Now()
	var out []Job
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		add := func(j Job) bool {
			if q.matches(&j, now) {
				j.State = j.stateAt(now)
				out = append(out, j)
			}
			return len(out) < q.Limit
		}
		switch {
		case q.Bucket != "":
			return jobsOfObject(tx, q.Bucket, q.Key, q.After, func(j Job) (bool, error) { return add(j), nil })
		case q.State == JobFailed:
			return walkJobIDs(ctx, tx, bkJobFailed, q.After, add)
		default:
			return walkJobs(ctx, tx, q.After, add)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("metastore: jobs: %w", err)
	}
	return out, nil
}

// jobsOfObject calls fn with the jobs on bucket/key with IDs above after,
// in ID order, while it returns true.
func jobsOfObject(tx *bolt.Tx, bucket, key string, after uint64, fn func(Job) (bool, error)) error {
	if after == ^uint64(0) {
		return nil
	}
	prefix := jobObjectPrefix(bucket, key)
	c := tx.Bucket([]byte(bkJobObject)).Cursor()
	for k, _ := c.Seek(append(bytes.Clone(prefix), u64(after+1)...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		// A key containing NUL can share the prefix; only the exact
		// object's entries are the prefix and an ID.
		if len(k) != len(prefix)+8 {
			continue
		}
		j, err := getJob(tx, binary.BigEndian.Uint64(k[len(prefix):]))
		if err != nil {
			return err
		}
		if j.Bucket != bucket || j.Key != key {
			continue // a bucket containing NUL can collide the same way
		}
		more, err := fn(j)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// walkJobIDs calls fn with the jobs named by the IDs in an id(8)-keyed
// index bucket, above after, while it returns true.
func walkJobIDs(ctx context.Context, tx *bolt.Tx, index string, after uint64, fn func(Job) bool) error {
	if after == ^uint64(0) {
		return nil
	}
	c := tx.Bucket([]byte(index)).Cursor()
	n := 0
	for k, _ := c.Seek(u64(after + 1)); k != nil; k, _ = c.Next() {
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		j, err := getJob(tx, readU64(k))
		if err != nil {
			return err
		}
		if !fn(j) {
			return nil
		}
	}
	return nil
}

// walkJobs calls fn with the jobs above after in ID order while it
// returns true.
func walkJobs(ctx context.Context, tx *bolt.Tx, after uint64, fn func(Job) bool) error {
	if after == ^uint64(0) {
		return nil
	}
	c := tx.Bucket([]byte(bkJobs)).Cursor()
	n := 0
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		j, err := decodeJob(readU64(k), v)
		if err != nil {
			return err
		}
		if !fn(j) {
			return nil
		}
	}
	return nil
}

// saveJob stores j with its index entries and counts, replacing prev (nil
// for a new job): prev's due or failed entry and count are removed first.
// Every change of a stored job goes through here or removeJob, which keeps
// jobs, job_due, job_failed, job_object and job_stats in step.
func saveJob(tx *bolt.Tx, prev, j *Job) error {
	if prev != nil {
		if err := unindexJob(tx, prev); err != nil {
			return err
		}
	}
	if err := tx.Bucket([]byte(bkJobs)).Put(u64(j.ID), encodeJob(j)); err != nil {
		return err
	}
	if j.State == JobFailed {
		if err := tx.Bucket([]byte(bkJobFailed)).Put(u64(j.ID), []byte{}); err != nil {
			return err
		}
	} else if err := tx.Bucket([]byte(bkJobDue)).Put(dueKey(j), []byte{}); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bkJobObject)).Put(jobObjectKey(j), []byte{}); err != nil {
		return err
	}
	return addCounter(tx.Bucket([]byte(bkJobStats)), jobCounterOf(j), 1)
}

// removeJob deletes j with its entries and count.
func removeJob(tx *bolt.Tx, j *Job) error {
	if err := unindexJob(tx, j); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bkJobObject)).Delete(jobObjectKey(j)); err != nil {
		return err
	}
	return tx.Bucket([]byte(bkJobs)).Delete(u64(j.ID))
}

// unindexJob removes j's due or failed entry and its count; the object
// entry does not depend on the state and stays.
func unindexJob(tx *bolt.Tx, j *Job) error {
	var err error
	if j.State == JobFailed {
		err = tx.Bucket([]byte(bkJobFailed)).Delete(u64(j.ID))
	} else {
		err = tx.Bucket([]byte(bkJobDue)).Delete(dueKey(j))
	}
	if err != nil {
		return err
	}
	return addCounter(tx.Bucket([]byte(bkJobStats)), jobCounterOf(j), -1)
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
		err = fmt.Errorf("%w: a job index names missing job %d", ErrCorrupt, id)
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

// jobObjectPrefix is the start of every job_object key of bucket/key.
func jobObjectPrefix(bucket, key string) []byte {
	k := make([]byte, 0, len(bucket)+len(key)+2+8)
	k = append(k, bucket...)
	k = append(k, 0)
	k = append(k, key...)
	return append(k, 0)
}

// jobObjectKey lists a job under its object: bucket 0x00 key 0x00 id(8).
func jobObjectKey(j *Job) []byte {
	return binary.BigEndian.AppendUint64(jobObjectPrefix(j.Bucket, j.Key), j.ID)
}

func jobCounter(which byte, kind string) []byte {
	return append([]byte{which}, kind...)
}

// jobCounterOf is the counter j counts in: failed, or queued (which
// includes running).
func jobCounterOf(j *Job) []byte {
	if j.State == JobFailed {
		return jobCounter(jobFailed, j.Kind)
	}
	return jobCounter(jobQueued, j.Kind)
}

// Job encodings. V2 appends the state and the creation time. A v1 job
// (schema 2) decodes as queued with no creation time: it can only be
// read after Open upgraded the file, and only one process opens a file,
// so no lease taken before the upgrade is still held by a live worker.
const (
	jobV1 = 1
	jobV2 = 2
)

// Stored job states.
const (
	jobStQueued  = 'q'
	jobStRunning = 'r'
	jobStFailed  = 'f'
)

func encodeJob(j *Job) []byte {
	e := encoder{}
	e.byte1(jobV2)
	e.str(j.Kind)
	e.str(j.Bucket)
	e.str(j.Key)
	e.str(j.ETag)
	e.varint(int64(j.Attempts))
	e.time(j.NotBefore)
	e.str(j.LastError)
	switch j.State {
	case JobRunning:
		e.byte1(jobStRunning)
	case JobFailed:
		e.byte1(jobStFailed)
	default:
		e.byte1(jobStQueued)
	}
	e.time(j.Created)
	return e.b
}

func decodeJob(id uint64, v []byte) (Job, error) {
	j := Job{ID: id, State: JobQueued}
	d := decoder{b: v}
	ver := d.byte1()
	if d.err == nil && ver != jobV1 && ver != jobV2 {
		return Job{}, fmt.Errorf("%w: job %d: unknown encoding version %d", ErrCorrupt, id, ver)
	}
	j.Kind = d.str()
	j.Bucket = d.str()
	j.Key = d.str()
	j.ETag = d.str()
	j.Attempts = d.int()
	j.NotBefore = d.time()
	j.LastError = d.str()
	if ver >= jobV2 {
		switch d.byte1() {
		case jobStQueued:
		case jobStRunning:
			j.State = JobRunning
		case jobStFailed:
			j.State = JobFailed
		default:
			d.fail()
		}
		j.Created = d.time()
	}
	if err := d.done(); err != nil {
		return Job{}, fmt.Errorf("%w: job %d: %v", ErrCorrupt, id, err)
	}
	return j, nil
}
