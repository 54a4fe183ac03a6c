package metastore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestConcurrentCommits runs the gateway's write path (intent, then commit)
// from many goroutines with fsync on, next to readers and job workers, and
// checks that everything landed, nothing is left pending, every invariant
// holds, and that group commit really shared transactions.
func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{})
	const (
		writers = 64
		perG    = 15
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				key := fmt.Sprintf("g%02d/%03d", g, i)
				id, err := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "b", Keys: []string{key}})
				if err != nil {
					errs <- err
					return
				}
				muts := []Mutation{Put(photo("b", key, func(r *Record) { r.Size = int64(i) }))}
				if i%5 == 4 { // and delete an earlier one in the same commit
					muts = append(muts, Delete("b", fmt.Sprintf("g%02d/%03d", g, i-1)))
				}
				if i%3 == 0 {
					muts = append(muts, EnqueueJob(Job{Kind: "extract", Bucket: "b", Key: key}))
				}
				if err := s.Commit(ctx, id, muts...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Readers and a worker run alongside.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Search(ctx, Query{Make: "canon", Sort: "-size", Limit: 10}); err != nil {
				errs <- err
				return
			}
			if _, err := s.Stats(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	finished := 0
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			j, ok, err := s.Lease(ctx, "extract", time.Now(), time.Minute)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				if err := s.Finish(ctx, j.ID); err != nil {
					errs <- err
					return
				}
				finished++
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantObjects := int64(writers * (perG - perG/5))
	if st.Objects != wantObjects || st.PendingIntents != 0 {
		t.Fatalf("objects %d (want %d), pending intents %d", st.Objects, wantObjects, st.PendingIntents)
	}
	if got := int64(finished) + st.Jobs["extract"].Queued; got != writers*5 {
		t.Fatalf("jobs: %d finished + %d queued, want %d", finished, st.Jobs["extract"].Queued, writers*5)
	}
	verify(t, s)

	ws := s.WriteStats()
	t.Logf("group commit: %d calls in %d transactions (%.1f per fsync)", ws.Calls, ws.Transactions, float64(ws.Calls)/float64(ws.Transactions))
	if ws.Transactions == 0 || ws.Transactions*2 > ws.Calls {
		t.Fatalf("batching did not share transactions: %+v", ws)
	}
}
