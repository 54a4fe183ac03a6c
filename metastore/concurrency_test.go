package metastore

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitSharesTransactions runs many writers with fsync on and
// checks that group commit really batched them into shared
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

// TestGroupCommitIsolatesAFailingWriter: writers that fail or panic inside
// a shared transaction get their own error and leave nothing behind; the
// writers that shared the transaction with them are committed.
func TestGroupCommitIsolatesAFailingWriter(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{})
	const writers = 48
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			errs[g] = s.batch(ctx, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("test"))
				if err != nil {
					return err
				}
				if err := b.Put(fmt.Appendf(nil, "w%02d", g), []byte("x")); err != nil {
					return err
				}
				switch g % 6 {
				case 1:
					return fmt.Errorf("writer %d refuses", g)
				case 4:
					panic(fmt.Sprintf("writer %d panics", g))
				}
				return nil
			})
		})
	}
	wg.Wait()
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("test"))
		for g := range writers {
			stored := b != nil && b.Get(fmt.Appendf(nil, "w%02d", g)) != nil
			switch g % 6 {
			case 1:
				if errs[g] == nil || !strings.Contains(errs[g].Error(), fmt.Sprintf("writer %d refuses", g)) || stored {
					t.Errorf("writer %d: err %v, stored %v; want its own refusal and nothing stored", g, errs[g], stored)
				}
			case 4:
				if errs[g] == nil || !strings.Contains(errs[g].Error(), fmt.Sprintf("writer %d panics", g)) || stored {
					t.Errorf("writer %d: err %v, stored %v; want its own panic as an error and nothing stored", g, errs[g], stored)
				}
			default:
				if errs[g] != nil || !stored {
					t.Errorf("writer %d: err %v, stored %v; want it committed", g, errs[g], stored)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The group is free again: a lone writer commits at once.
	if err := s.batch(ctx, func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitSplitsALongQueue: while one commit runs, more writers
// queue than one group takes (maxGroup); they are all committed, in
// transactions of at most maxGroup calls.
func TestGroupCommitSplitsALongQueue(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{})
	const writers = 2*maxGroup + 500
	var (
		mu    sync.Mutex
		perTx = map[int]int{}
		wg    sync.WaitGroup
	)
	write := func(g int) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			perTx[tx.ID()]++
			mu.Unlock()
			b, err := tx.CreateBucketIfNotExists([]byte("test"))
			if err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "w%05d", g), []byte("x"))
		}
	}
	queued := func() int {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return len(s.group.queue)
	}
	release := make(chan struct{})
	wg.Go(func() {
		// The first writer holds the commit open until every other one
		// has queued behind it.
		if err := s.batch(ctx, func(*bolt.Tx) error { <-release; return nil }); err != nil {
			t.Error(err)
		}
	})
	for queued() != 0 || !s.groupCommitting() {
		runtime.Gosched()
	}
	for g := range writers {
		wg.Go(func() {
			if err := s.batch(ctx, write(g)); err != nil {
				t.Error(err)
			}
		})
	}
	for queued() < writers {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	var n int
	if err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte("test")).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != writers {
		t.Fatalf("%d of %d writes stored", n, writers)
	}
	if len(perTx) != 3 {
		t.Errorf("%d queued writers went into %d transactions, want 3", writers, len(perTx))
	}
	for id, calls := range perTx {
		if calls > maxGroup {
			t.Errorf("transaction %d carried %d calls, more than %d", id, calls, maxGroup)
		}
	}
}

func (s *Store) groupCommitting() bool {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.committing
}
