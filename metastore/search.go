package metastore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Page is one page of search results.
type Page struct {
	Items      []Record
	NextCursor string // "" on the last page
	// Plan names how the page was found: "walk:<order>" for a read in
	// result order, "index:<name>" for a secondary index lookup, then
	// "&<name>" for each other index that filtered its entries. It is for
	// operators and tests; do not parse it.
	Plan string
}

// Search runs a query. Invalid queries fail with a *QueryError.
//
// Plan: if a filter has a usable secondary index (camera, camera with date
// range, lens, format, content type, tag, geo, taken range, size range)
// that is cheap enough (see choosePath), its entries are read: merged in
// result order until the page is full when they are in that order (a value
// index in key order, the camera+date index in date order), else read
// whole, filtered and sorted. Otherwise the index that is already in result
// order is walked from the cursor until the page is full. Other small
// indexes filter the entries before their records are read (semiJoins).
// Whatever the plan, every filter is applied to every record it returns,
// so the plan only changes speed, never results.
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

// hit is a matching record at its position in the result order. unread:
// the index entry alone showed that the record matches (see geoVerdict), so
// it is read only if it makes the page.
type hit struct {
	pos    position
	rec    Record
	unread bool
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
	pl := plan{choice: -1}
	if len(paths) > 0 {
		pl = choosePath(t, paths, c.limit, scope, prefix)
	}
	if s.planHook != nil {
		names := make([]string, len(paths))
		for i, p := range paths {
			names[i] = p.name
		}
		if pl.choice = s.planHook(names); pl.choice >= len(paths) {
			pl.choice = -1
		}
	}
	var sets []keySet
	if len(paths) > 0 && !s.noSemiJoin {
		sets = c.semiJoins(t, paths, pl, prefix)
	}

	var (
		hits []hit
		name string
		err  error
	)
	switch {
	case pl.choice < 0:
		name = "walk:" + c.sort.field
		hits, err = c.walk(ctx, t, buckets, sets)
	case paths[pl.choice].ordered:
		name = "index:" + paths[pl.choice].name
		hits, err = c.byOrderedPath(ctx, t, paths[pl.choice], sets)
	default:
		name = "index:" + paths[pl.choice].name
		hits, err = c.byPath(ctx, t, paths[pl.choice], prefix, sets)
	}
	if err != nil {
		return Page{}, err
	}
	for _, set := range sets {
		name += "&" + set.name
	}
	page := Page{Plan: name}
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
func (c *compiled) walk(ctx context.Context, t *txn, buckets []string, sets []keySet) ([]hit, error) {
	lo, hi := c.walkRange()
	ix := t.records
	if c.sort.index != bkRecords {
		ix = t.idx[c.sort.index]
	}
	streams := make([]*stream, len(buckets))
	for i, b := range buckets {
		streams[i] = newStream(ix, c.sort, b, bucketPrefix(b), lo, hi, c.cursor)
	}
	return c.drain(ctx, t, newMerger(c.sort, streams), c.sort.index != bkRecords, sets)
}

// byOrderedPath merges the scans of an ordered path like the walk merges
// buckets, each scan starting after the cursor, and returns up to limit+1
// matches: a page costs about the reads of the path's entries up to the
// last match, not of the whole path.
func (c *compiled) byOrderedPath(ctx context.Context, t *txn, p accessPath, sets []keySet) ([]hit, error) {
	ix := t.idx[p.index]
	streams := make([]*stream, len(p.scans))
	for i, s := range p.scans {
		streams[i] = newStream(ix, c.sort, s.bucket, s.prefix, s.lo, s.hi, c.cursor)
	}
	return c.drain(ctx, t, newMerger(c.sort, streams), true, sets)
}

// drain reads m's entries in result order until limit+1 match. fromIndex:
// the entries are index keys, and the records are read from t.records
// (else the entries are the records). An entry whose key misses the
// query's prefix or a semi-join set is skipped without reading its record.
func (c *compiled) drain(ctx context.Context, t *txn, m *merger, fromIndex bool, sets []keySet) ([]hit, error) {
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
		if fromIndex || len(sets) > 0 {
			rk := recordKey(p.bucket, p.key)
			switch {
			case !strings.HasPrefix(p.key, c.q.Prefix) || !inAll(sets, rk):
				v = nil
			case fromIndex:
				v = t.records.Get(rk)
			}
		}
		if v != nil { // an index entry without a record would be a bug; Verify reports it
			r, err := decodeRecord(p.bucket, p.key, v)
			if err != nil {
				return nil, err
			}
			if c.match(&r) {
				p.sk = append([]byte(nil), p.sk...) // st.k dies with the transaction
				hits = append(hits, hit{pos: p, rec: r})
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
//
// In key order an entry's position is known before its record is read, so
// an entry before the cursor, or after the last of the limit+1 best hits
// so far, is skipped unread; and an entry the index alone shows to match
// (an exact path's, or a geo entry clearly inside the query's area when
// that is the only filter) is a hit whose record is read only if it makes
// the page. A geo entry clearly outside the area is skipped unread in any
// order.
func (c *compiled) byPath(ctx context.Context, t *txn, p accessPath, prefix []byte, sets []keySet) ([]hit, error) {
	var (
		err   error
		steps int
		worst *hit // the last of the best keep hits so far; nil until there are keep
	)
	keyOrder := c.sort.field == "key"
	keep := c.limit + 1
	// Pointers, so sorting swaps words rather than whole records.
	hits := make([]*hit, 0, 2*keep)
	order := func(a, b *hit) int { return c.sort.cmp(a.pos, b.pos) }
	var rk []byte // reused: Get does not keep its key
	eachEntry(t, p, prefix, func(s *scan, fixed, key []byte) bool {
		if steps++; steps%checkEvery == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		verdict := verdictUnsure
		switch {
		case p.index == bkIdxGeo:
			if verdict = c.geoVerdict(fixed); verdict == verdictFail {
				return true
			} else if !c.geoOnly {
				verdict = verdictUnsure
			}
		case p.exact:
			verdict = verdictMatch
		}
		if keyOrder && ((c.cursor != nil && c.sort.cmpEntry(s.bucket, key, *c.cursor) <= 0) ||
			(worst != nil && c.sort.cmpEntry(s.bucket, key, worst.pos) >= 0)) {
			return true
		}
		rk = append(append(append(rk[:0], s.bucket...), 0), key...)
		if !inAll(sets, rk) {
			return true
		}
		var h *hit
		if keyOrder && verdict == verdictMatch {
			h = &hit{pos: position{bucket: s.bucket, key: string(key)}, unread: true}
		} else {
			v := t.records.Get(rk)
			if v == nil {
				return true
			}
			var r Record
			if r, err = decodeRecord(s.bucket, string(key), v); err != nil {
				return false
			}
			if !c.match(&r) {
				return true
			}
			pos := position{sk: c.sort.sortKey(&r), bucket: r.Bucket, key: r.Key}
			if c.cursor != nil && c.sort.cmp(pos, *c.cursor) <= 0 {
				return true
			}
			h = &hit{pos: pos, rec: r}
		}
		hits = append(hits, h)
		if len(hits) == cap(hits) {
			slices.SortFunc(hits, order)
			clear(hits[keep:])
			hits = hits[:keep]
			worst = hits[keep-1]
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hits, order)
	out := make([]hit, 0, min(len(hits), keep))
	for _, h := range hits[:min(len(hits), keep)] {
		if h.unread {
			v := t.records.Get(recordKey(h.pos.bucket, h.pos.key))
			if v == nil {
				continue // an entry without a record; Verify reports it
			}
			if h.rec, err = decodeRecord(h.pos.bucket, h.pos.key, v); err != nil {
				return nil, err
			}
		}
		out = append(out, *h)
	}
	return out, nil
}
