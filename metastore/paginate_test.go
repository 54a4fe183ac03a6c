package metastore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stable returns the records that exist for the whole of a pagination
// test: three buckets, with many ties in taken time and size.
func stable(n int) []Record {
	var out []Record
	for i := range n {
		out = append(out, photo(fmt.Sprintf("b%d", i%3), fmt.Sprintf("s/%05d", i), func(r *Record) {
			r.TakenAt = base.Add(time.Duration(i%17) * time.Hour)
			if i%11 == 0 {
				r.TakenAt = time.Time{}
			}
			r.Size = int64(i % 13)
			if i%2 == 0 {
				r.Lens = "L-even"
			}
		}))
	}
	return out
}

func TestPaginationWalksAllPages(t *testing.T) {
	s := openTest(t)
	recs := stable(500)
	var muts []Mutation
	for _, r := range recs {
		muts = append(muts, Put(r))
	}
	commit(t, s, muts...)
	for _, sortBy := range allSorts {
		want := expectOrder(recs, sortBy)
		for _, limit := range []int{1, 7, 100, 499, 500, 1000} {
			got := searchAll(t, s, Query{Sort: sortBy, Limit: limit})
			if !slices.Equal(got, want) {
				t.Fatalf("sort %q limit %d: %d items, order differs", sortBy, limit, len(got))
			}
		}
		// One bucket only.
		var inB1 []Record
		for _, r := range recs {
			if r.Bucket == "b1" {
				inB1 = append(inB1, r)
			}
		}
		if got := searchAll(t, s, Query{Bucket: "b1", Sort: sortBy, Limit: 13}); !slices.Equal(got, expectOrder(inB1, sortBy)) {
			t.Fatalf("sort %q in one bucket: order differs", sortBy)
		}
	}
	// The last page has no cursor, and an exact multiple does not produce
	// an empty extra page.
	p := search(t, s, Query{Limit: 500})
	if len(p.Items) != 500 || p.NextCursor != "" {
		t.Fatalf("exact page: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
}

// TestPaginationUnderConcurrentWrites pages through queries while another
// goroutine inserts and deletes other keys (in every bucket, with sort keys
// all over the range, so they land before, on and after every page
// boundary). Every key that exists throughout must be returned exactly
// once, in every order and with both plan kinds.
func TestPaginationUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	recs := stable(300)
	var muts []Mutation
	for _, r := range recs {
		muts = append(muts, Put(r))
	}
	commit(t, s, muts...)

	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 8))
		live := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			bucket := fmt.Sprintf("b%d", rng.IntN(4)) // b3 appears and disappears
			key := fmt.Sprintf("s/%05d-churn%d", rng.IntN(300), rng.IntN(3))
			var m Mutation
			if live[bucket+key] {
				m = Delete(bucket, key)
				delete(live, bucket+key)
			} else {
				m = Put(photo(bucket, key, func(r *Record) {
					r.TakenAt = base.Add(time.Duration(rng.IntN(17)) * time.Hour)
					r.Size = int64(rng.IntN(13))
					r.Lens = "L-even"
				}))
				live[bucket+key] = true
			}
			if err := s.Commit(ctx, 0, m); err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
			// Pace the writer: the point is interleaving with the pages,
			// not starving the reader of CPU.
			time.Sleep(time.Millisecond)
		}
	}()

	for _, sortBy := range allSorts {
		for _, q := range []Query{
			{Sort: sortBy, Limit: 7},                                      // ordered walk
			{Sort: sortBy, Limit: 7, Lens: "l-even"},                      // index path (forced below)
			{Sort: sortBy, Limit: 7, TakenAfter: base.Add(3 * time.Hour)}, // range
		} {
			for _, forced := range []int{-1, 0} {
				if forced == 0 && q.Lens == "" && q.TakenAfter.IsZero() {
					continue
				}
				s.planHook = nil
				if forced == 0 {
					s.planHook = func([]string) int { return 0 }
				}
				seen := map[string]int{}
				for _, n := range searchAll(t, s, q) {
					seen[n]++
				}
				for _, r := range recs {
					n := r.Bucket + "/" + r.Key
					want := 1
					if !newMatcher(t, q).match(&r) {
						want = 0
					}
					if seen[n] != want {
						t.Fatalf("query %+v plan %d: %s seen %d times, want %d", q, forced, n, seen[n], want)
					}
				}
			}
		}
	}
	s.planHook = nil
	close(stop)
	wg.Wait()
	if writes.Load() < 50 {
		t.Fatalf("only %d concurrent writes happened; the test proves little", writes.Load())
	}
	t.Logf("%d concurrent writes during pagination", writes.Load())
	verify(t, s)
}

func newMatcher(t *testing.T, q Query) *compiled {
	q.Cursor = ""
	c, err := compile(q)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
