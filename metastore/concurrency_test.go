package metastore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestGroupCommitSharesTransactions runs many writers with fsync on and
// checks that bbolt's group commit really batched them into shared
// transactions without losing any. (Concurrent writes next to readers,
// intents and job workers are the conformance suite's ConcurrentCommits.)
func TestGroupCommitSharesTransactions(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{})
	const (
		writers = 64
		perG    = 15
	)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perG {
				r := photo("b", fmt.Sprintf("g%02d/%03d", g, i), func(r *Record) { r.Size = int64(i) })
				if err := s.Commit(ctx, 0, Put(r)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != writers*perG {
		t.Fatalf("objects %d, want %d", st.Objects, writers*perG)
	}
	verify(t, s)

	ws := s.WriteStats()
	t.Logf("group commit: %d calls in %d transactions (%.1f per fsync)", ws.Calls, ws.Transactions, float64(ws.Calls)/float64(ws.Transactions))
	if ws.Calls != writers*perG {
		t.Fatalf("write stats count %d calls, want %d", ws.Calls, writers*perG)
	}
	if ws.Transactions == 0 || ws.Transactions*2 > ws.Calls {
		t.Fatalf("batching did not share transactions: %+v", ws)
	}
}
