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

func TestJobLeaseFinish(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	id1, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "1", ETag: "e1", NotBefore: now.Add(-time.Second)})
	id2, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "2", NotBefore: now.Add(-time.Second)})
	id3, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "later", NotBefore: now.Add(time.Hour)})
	_, _ = s.Enqueue(ctx, Job{Kind: "thumb", Bucket: "b", Key: "1"})

	// Due jobs come out oldest-due first, FIFO among equals, one kind only.
	j, ok := lease(t, s, "extract", now)
	if !ok || j.ID != id1 || j.Attempts != 1 || j.ETag != "e1" || j.Key != "1" {
		t.Fatalf("first lease: %+v %v", j, ok)
	}
	j2, ok := lease(t, s, "extract", now)
	if !ok || j2.ID != id2 {
		t.Fatalf("second lease: %+v %v", j2, ok)
	}
	// Leased jobs are hidden; the future job is not due yet.
	if j, ok := lease(t, s, "extract", now); ok {
		t.Fatalf("leased a hidden or future job: %+v", j)
	}
	// After the lease expires the job is visible again, before the future one.
	j, ok = lease(t, s, "extract", now.Add(2*time.Minute))
	if !ok || j.ID != id1 || j.Attempts != 2 {
		t.Fatalf("after expiry: %+v %v", j, ok)
	}
	if err := s.Finish(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, id1); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := s.Finish(ctx, id2); err != nil {
		t.Fatal(err)
	}
	j, ok = lease(t, s, "extract", now.Add(2*time.Hour))
	if !ok || j.ID != id3 {
		t.Fatalf("future job: %+v %v", j, ok)
	}
	st, _ := s.Stats(ctx)
	if st.Jobs["extract"].Queued != 1 || st.Jobs["thumb"].Queued != 1 {
		t.Fatalf("job stats %+v", st.Jobs)
	}
	verify(t, s)

	if _, _, err := s.Lease(ctx, "extract", now, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero lease: %v", err)
	}
}

func TestJobRetryAndDrop(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true, MaxJobAttempts: 3})
	id, _ := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "b", Key: "k"})
	for attempt := 1; attempt <= 3; attempt++ {
		// Retry delays from the real clock, so each lease looks far enough
		// ahead of it for the previous delay to have passed.
		at := time.Now().Add(time.Duration(attempt-1) * 2 * time.Hour)
		j, ok := lease(t, s, "extract", at)
		if !ok || j.ID != id || j.Attempts != attempt {
			t.Fatalf("attempt %d: %+v %v", attempt, j, ok)
		}
		if err := s.Retry(ctx, id, errors.New("backend 503"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if attempt < 3 {
			// Hidden for the back-off, with the error recorded.
			if _, ok := lease(t, s, "extract", time.Now().Add(30*time.Minute)); ok {
				t.Fatal("retried job visible before its delay")
			}
			var found bool
			_ = s.view(ctx, func(tx *bolt.Tx) error {
				j, found, _ = lookupJob(tx, id)
				return nil
			})
			if !found || j.LastError != "backend 503" {
				t.Fatalf("after retry: %+v", j)
			}
		}
	}
	// The third failure dropped it.
	if _, ok := lease(t, s, "extract", time.Now().Add(24*time.Hour)); ok {
		t.Fatal("dropped job leased")
	}
	st, _ := s.Stats(ctx)
	if js := st.Jobs["extract"]; js.Queued != 0 || js.Dropped != 1 {
		t.Fatalf("job stats %+v", js)
	}
	if err := s.Retry(ctx, id, nil, 0); err != nil { // gone: no error
		t.Fatal(err)
	}
	verify(t, s)
}

// TestJobLeaseExpiryCountsAttempts: a worker that dies without Finish or
// Retry must not get the job forever.
func TestJobLeaseExpiryCountsAttempts(t *testing.T) {
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
	// The third lease drops the poison job and hands out the next one.
	j, ok := lease(t, s, "k", now)
	if !ok || j.ID != id2 {
		t.Fatalf("after poison: %+v %v", j, ok)
	}
	st, _ := s.Stats(ctx)
	if st.Jobs["k"].Dropped != 1 {
		t.Fatalf("stats %+v", st.Jobs)
	}
	verify(t, s)
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
