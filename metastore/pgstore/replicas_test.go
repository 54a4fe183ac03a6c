package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// stopHeartbeat makes s look like a replica killed with SIGKILL: its
// heartbeat stops and it never says goodbye.
func stopHeartbeat(s *Store) {
	s.replica.stop()
	<-s.replica.done
	s.replica.stop = nil // Close then only closes the pool
}

// TestIntentLeases: a live replica's intents are its own; once its
// heartbeat stops for longer than its lease, exactly one of the replicas
// racing to claim them gets each, and they are then that replica's.
func TestIntentLeases(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "leases")
	const lease = time.Second
	open := func() *Store {
		s, err := Open(ctx, dsn, Options{Lease: lease})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	dying, b, c := open(), open(), open()
	if n, err := b.LiveReplicas(ctx); err != nil || n != 3 {
		t.Fatalf("live replicas = %d, %v; want 3", n, err)
	}
	const intents = 200
	var want []uint64
	for i := range intents {
		id, err := dying.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "photos", Keys: []string{fmt.Sprintf("k%03d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	// Alive, even past several leases: nobody else may take them.
	time.Sleep(2 * lease)
	for _, s := range []*Store{b, c} {
		got, err := s.ClaimIntents(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("claimed %d intents of a live replica (%v)", len(got), err)
		}
	}
	if own, err := dying.ClaimIntents(ctx); err != nil || len(own) != intents {
		t.Fatalf("the owner lists %d of its %d intents (%v)", len(own), intents, err)
	}

	stopHeartbeat(dying)
	time.Sleep(lease + 200*time.Millisecond)
	var (
		wg      sync.WaitGroup
		claimed [2][]metastore.Intent
		errs    [2]error
	)
	for i, s := range []*Store{b, c} {
		wg.Go(func() { claimed[i], errs[i] = s.ClaimIntents(ctx) })
	}
	wg.Wait()
	var got []uint64
	for i := range claimed {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, in := range claimed[i] {
			got = append(got, in.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %d intents in all (%d and %d), want each of the %d exactly once", len(got), len(claimed[0]), len(claimed[1]), intents)
	}
	// A second round changes nothing: the claimers are alive.
	for i, s := range []*Store{b, c} {
		again, err := s.ClaimIntents(ctx)
		if err != nil || len(again) != len(claimed[i]) {
			t.Fatalf("replica %d owns %d intents on the second round, claimed %d (%v)", i, len(again), len(claimed[i]), err)
		}
	}
	if n, err := b.LiveReplicas(ctx); err != nil || n != 2 {
		t.Fatalf("live replicas = %d, %v; want 2", n, err)
	}
}

// TestCloseReleasesIntentsAtOnce: a replica that shuts down cleanly leaves
// the replicas table, so what it could not resolve is claimable without
// waiting for its lease.
func TestCloseReleasesIntentsAtOnce(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "leave")
	a, err := Open(ctx, dsn, Options{Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, dsn, Options{Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	id, err := a.BeginIntent(ctx, metastore.Intent{Op: "DeleteObject", Bucket: "photos", Keys: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.ClaimIntents(ctx); len(got) != 0 {
		t.Fatalf("claimed a live replica's intent")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := b.ClaimIntents(ctx)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("after a clean close, claimed %v (%v), want intent %d", got, err, id)
	}
}
