package metastore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func lease(t *testing.T, s *Store, kind string, now time.Time) (Job, bool) {
	t.Helper()
	j, ok, err := s.Lease(context.Background(), kind, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return j, ok
}

// TestMaxJobAttemptsOption: Options.MaxJobAttempts replaces the default
// attempt limit (the default, and leasing in general, are the conformance
// suite's): with 2, the third lease of a job whose worker keeps dying
// gives it up as failed.
func TestMaxJobAttemptsOption(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{NoSync: true, MaxJobAttempts: 2})
	now := time.Now()
	_, _ = s.Enqueue(ctx, Job{Kind: "k", Bucket: "b", Key: "poison", NotBefore: now})
	id2, _ := s.Enqueue(ctx, Job{Kind: "k", Bucket: "b", Key: "fine", NotBefore: now.Add(4*time.Minute + time.Second)})
	// Leases at +1m and +3m go to the poison job (due at +0 and +2m);
	// its worker dies each time, so the lease just expires.
	for _, at := range []time.Duration{time.Minute, 3 * time.Minute} {
		j, ok := lease(t, s, "k", now.Add(at))
		if !ok || j.Key != "poison" {
			t.Fatalf("lease at %v: %+v %v", at, j, ok)
		}
	}
	now = now.Add(5 * time.Minute)
	// The third lease fails the poison job and hands out the next one.
	j, ok := lease(t, s, "k", now)
	if !ok || j.ID != id2 {
		t.Fatalf("after poison: %+v %v", j, ok)
	}
	st, _ := s.Stats(ctx)
	if st.Jobs["k"] != (JobStats{Queued: 1, Failed: 1}) {
		t.Fatalf("stats %+v", st.Jobs)
	}
	verify(t, s)
}

// TestLeaseOfNothingDueWritesNothing: workers ask for a job after every
// write that may have queued one; when none is due (none queued, another
// kind, or not yet due) the answer costs no write transaction.
func TestLeaseOfNothingDueWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{NoSync: true})
	now := time.Now()
	if _, err := s.Enqueue(ctx, Job{Kind: "render", Bucket: "b", Key: "later", NotBefore: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	before := s.WriteStats()
	for _, kind := range []string{"extract", "render", "renderx", "rende"} {
		if j, ok := lease(t, s, kind, now); ok {
			t.Fatalf("lease %q: got %+v, want nothing due", kind, j)
		}
	}
	if after := s.WriteStats(); after != before {
		t.Fatalf("leases that found nothing wrote: %+v, then %+v", before, after)
	}
	if j, ok := lease(t, s, "render", now.Add(2*time.Hour)); !ok || j.Key != "later" {
		t.Fatalf("the job once due: %+v %v", j, ok)
	}
}

func TestJobsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "k", ETag: "e"})
	// Enqueued atomically with an index change.
	if err := s.Commit(ctx, 0, Put(photo("b", "k2")), EnqueueJob(Job{Kind: "extract", Bucket: "b", Key: "k2"})); err != nil {
		t.Fatal(err)
	}
	if _, ok := lease(t, s, "extract", time.Now()); !ok { // leased, then "crash"
		t.Fatal("nothing to lease")
	}
	_ = s.Close()

	s = openAt(t, path, Options{})
	j, ok := lease(t, s, "extract", time.Now())
	if !ok || j.Key != "k2" {
		t.Fatalf("after reopen: %+v %v", j, ok)
	}
	j, ok = lease(t, s, "extract", time.Now().Add(time.Hour)) // the first lease expired
	if !ok || j.ID != id || j.Attempts != 2 || j.ETag != "e" {
		t.Fatalf("after expiry: %+v %v", j, ok)
	}
	verify(t, s)
}

// encodeJobV1 is the job encoding of schema 2, which had no state and no
// creation time.
func encodeJobV1(j *Job) []byte {
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

// TestUpgradeJobQueue opens a schema 2 file: jobs in encoding v1, no
// job_object or job_failed bucket, a dropped counter. The upgrade indexes
// the jobs by object and removes the counter; the jobs read as queued and
// keep working.
func TestUpgradeJobQueue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true})
	now := time.Now()
	id1, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "k", ETag: "e1", NotBefore: now.Add(-time.Minute)})
	id2, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "other", NotBefore: now.Add(-time.Minute)})
	if j, ok := lease(t, s, "extract", now); !ok || j.ID != id1 { // leased when the old release stopped
		t.Fatalf("lease: %+v %v", j, ok)
	}
	rewriteClosed(t, s, func(tx *bolt.Tx) error {
		jobs := tx.Bucket([]byte(bkJobs))
		var old []Job
		err := jobs.ForEach(func(k, v []byte) error {
			j, err := decodeJob(readU64(k), v)
			old = append(old, j)
			return err
		})
		if err != nil {
			return err
		}
		for _, j := range old {
			if err := jobs.Put(u64(j.ID), encodeJobV1(&j)); err != nil {
				return err
			}
		}
		for _, b := range []string{bkJobObject, bkJobFailed} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte(bkJobStats)).Put(jobCounter('d', "extract"), u64(3)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bkMeta)).Put([]byte(metaSchemaKey), []byte{0, 0, 0, 2})
	})

	s = openAt(t, path, Options{NoSync: true})
	verify(t, s)
	st, err := s.Stats(ctx)
	if err != nil || st.SchemaVersion != SchemaVersion || st.Jobs["extract"] != (JobStats{Queued: 2}) || len(st.Jobs) != 1 {
		t.Fatalf("stats after upgrade: %+v %v", st, err)
	}
	jobs, err := s.Jobs(ctx, JobQuery{Bucket: "b", Key: "k"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != id1 || jobs[0].State != JobQueued || jobs[0].Attempts != 1 ||
		!jobs[0].Created.IsZero() || jobs[0].ETag != "e1" {
		t.Fatalf("old job by object: %+v %v", jobs, err)
	}
	// The old jobs are leased, failed and retried like new ones, and
	// rewritten in the new encoding on the way.
	if j, ok := lease(t, s, "extract", now); !ok || j.ID != id2 || j.State != JobRunning {
		t.Fatalf("lease after upgrade: %+v %v", j, ok)
	}
	if err := s.Fail(ctx, id1, "broken"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Jobs(ctx, JobQuery{State: JobFailed}); len(got) != 1 || got[0].ID != id1 {
		t.Fatalf("failed after upgrade: %+v", got)
	}
	verify(t, s)
}

// TestVerifyJobIndexes: Verify notices a job missing from job_object or
// job_failed, and a failed counter that disagrees with the jobs.
func TestVerifyJobIndexes(t *testing.T) {
	ctx := context.Background()
	for name, damage := range map[string]func(tx *bolt.Tx, j *Job) error{
		"object entry": func(tx *bolt.Tx, j *Job) error { return tx.Bucket([]byte(bkJobObject)).Delete(jobObjectKey(j)) },
		"failed entry": func(tx *bolt.Tx, j *Job) error { return tx.Bucket([]byte(bkJobFailed)).Delete(u64(j.ID)) },
		"stray due":    func(tx *bolt.Tx, j *Job) error { return tx.Bucket([]byte(bkJobDue)).Put(dueKey(j), []byte{}) },
		"failed count": func(tx *bolt.Tx, j *Job) error {
			return tx.Bucket([]byte(bkJobStats)).Put(jobCounter(jobFailed, j.Kind), u64(2))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := openTest(t)
			id, _ := s.Enqueue(ctx, Job{Kind: "k", Bucket: "b", Key: "x"})
			if err := s.Fail(ctx, id, "no"); err != nil {
				t.Fatal(err)
			}
			verify(t, s)
			j, _, _ := s.GetJob(ctx, id)
			if err := s.db.Update(func(tx *bolt.Tx) error { return damage(tx, &j) }); err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(ctx); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want the damage reported", err)
			}
		})
	}
}
