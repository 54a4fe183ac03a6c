package metastore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
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
// drops it.
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
