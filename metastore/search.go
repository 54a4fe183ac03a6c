package metastore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Page is one page of search results.
type Page struct {
	Items      []Record
	NextCursor string // "" on the last page
	// Plan names how the page was found: "walk:<order>" for a read in
	// result order, "index:<name>" for a secondary index lookup. It is for
	// operators and tests; do not parse it.
	Plan string
}

// Search runs a query. Invalid queries fail with a *QueryError.
//
// Plan: if a filter has a usable secondary index (camera, lens, format,
// content type, tag, geo, taken range, size range) whose entry count is
// small enough (see choosePath), the records it names are read, filtered
// and sorted; otherwise the index that is already in result order is walked
// from the cursor until the page is full. Either way every filter is
// applied to every record, so the plan only changes speed, never results.
//
// Pagination is keyset-based: NextCursor is the position of the last item,
// and the next page starts strictly after it, in a new read transaction. An
// item that exists, unchanged in its sort key, for the whole pagination is
// returned exactly once, whatever else is written meanwhile.
func (s *Store) Search(ctx context.Context, q Query) (Page, error) {
	c, err := compile(q)
	if err != nil {
		return Page{}, err
	}
	var page Page
	err = s.view(ctx, func(tx *bolt.Tx) error {
		t, err := openTxn(tx)
		if err != nil {
			return err
		}
		page, err = s.search(ctx, t, c)
		return err
	})
	if err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			return Page{}, err
		}
		return Page{}, fmt.Errorf("metastore: search: %w", err)
	}
	return page, nil
}

// hit is a matching record at its position in the result order.
type hit struct {
	pos position
	rec Record
}

func (s *Store) search(ctx context.Context, t *txn, c *compiled) (Page, error) {
	buckets := []string{c.q.Bucket}
	var scope int64
	if c.q.Bucket == "" {
		buckets = listBuckets(t.tx)
	}
	for _, b := range buckets {
		objects, _ := decodeBucketStat(t.bstats.Get([]byte(b)))
		scope += objects
	}

	paths := c.paths(t, buckets)
	prefix := []byte(c.q.Prefix)
	choice := -1
	if s.planHook != nil {
		names := make([]string, len(paths))
		for i, p := range paths {
			names[i] = p.name
		}
		if choice = s.planHook(names); choice >= len(paths) {
			choice = -1
		}
	} else if len(paths) > 0 {
		choice = choosePath(t, paths, c.limit, scope, prefix)
	}

	var (
		hits []hit
		plan string
		err  error
	)
	if choice >= 0 {
		plan = "index:" + paths[choice].name
		hits, err = c.byPath(ctx, t, paths[choice], prefix)
	} else {
		plan = "walk:" + c.sort.field
		hits, err = c.walk(ctx, t, buckets)
	}
	if err != nil {
		return Page{}, err
	}
	page := Page{Plan: plan}
	if len(hits) > c.limit {
		hits = hits[:c.limit]
		page.NextCursor = encodeCursor(c.sort, c.hash, hits[len(hits)-1].pos)
	}
	page.Items = make([]Record, len(hits))
	for i := range hits {
		page.Items[i] = hits[i].rec
	}
	return page, nil
}

// walk reads the sort index in result order from the cursor and returns
// up to limit+1 matches (one more than a page, to know whether there is a
// next page).
func (c *compiled) walk(ctx context.Context, t *txn, buckets []string) ([]hit, error) {
	lo, hi := c.walkRange()
	ix := t.records
	if c.sort.index != bkRecords {
		ix = t.idx[c.sort.index]
	}
	streams := make([]*stream, len(buckets))
	for i, b := range buckets {
		streams[i] = newStream(ix, c.sort, b, lo, hi, c.cursor)
	}
	m := newMerger(c.sort, streams)
	var hits []hit
	for steps := 0; len(hits) <= c.limit; steps++ {
		st := m.peek()
		if st == nil {
			break
		}
		if steps%checkEvery == checkEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p := st.pos()
		v := st.v
		if c.sort.index != bkRecords {
			v = t.records.Get(recordKey(p.bucket, p.key))
		}
		if v != nil { // an index entry without a record would be a bug; Verify reports it
			r, err := decodeRecord(p.bucket, p.key, v)
			if err != nil {
				return nil, err
			}
			if c.match(&r) {
				p.sk = append([]byte(nil), p.sk...) // st.k dies with the transaction
				hits = append(hits, hit{p, r})
			}
		}
		m.advance()
	}
	return hits, nil
}

// walkRange is the part of the sort index the filters allow, relative to
// each bucket's prefix: the key prefix for key order, the date range for
// taken order, the size range for size order.
func (c *compiled) walkRange() (lo, hi []byte) {
	switch c.sort.field {
	case "taken":
		if !c.q.TakenAfter.IsZero() || !c.q.TakenBefore.IsZero() {
			return c.takenRange()
		}
	case "size":
		return c.sizeRange()
	default:
		if c.q.Prefix != "" {
			return []byte(c.q.Prefix), prefixEnd([]byte(c.q.Prefix))
		}
	}
	return nil, nil
}

// byPath reads the records an access path names, keeps the matches after
// the cursor and returns the first limit+1 of them in result order. Only
// about 2*(limit+1) hits are held at a time, however long the path.
func (c *compiled) byPath(ctx context.Context, t *txn, p accessPath, prefix []byte) ([]hit, error) {
	var (
		err   error
		steps int
	)
	keep := c.limit + 1
	// Pointers, so sorting swaps words rather than whole records.
	hits := make([]*hit, 0, 2*keep)
	order := func(a, b *hit) int { return c.sort.cmp(a.pos, b.pos) }
	eachEntry(t, p, prefix, func(bucket string, key []byte) bool {
		if steps++; steps%checkEvery == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		v := t.records.Get(recordKey(bucket, string(key)))
		if v == nil {
			return true
		}
		h := &hit{}
		if h.rec, err = decodeRecord(bucket, string(key), v); err != nil {
			return false
		}
		if !c.match(&h.rec) {
			return true
		}
		h.pos = position{sk: c.sort.sortKey(&h.rec), bucket: h.rec.Bucket, key: h.rec.Key}
		if c.cursor != nil && c.sort.cmp(h.pos, *c.cursor) <= 0 {
			return true
		}
		hits = append(hits, h)
		if len(hits) == cap(hits) {
			slices.SortFunc(hits, order)
			clear(hits[keep:])
			hits = hits[:keep]
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hits, order)
	out := make([]hit, min(len(hits), keep))
	for i := range out {
		out[i] = *hits[i]
	}
	return out, nil
}
