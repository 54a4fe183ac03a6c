package metastore

import (
	"bytes"
	"container/heap"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The ordered walk reads an index that is already in result order. Index
// keys start with the S3 bucket, so each bucket is one stream in (sort key,
// key) order, and a query over several buckets merges the streams with a
// heap into (sort key, bucket, key) order. Each stream starts strictly
// after the cursor, found with one seek, so a page costs O(log n + page).

// stream iterates the keys [from, to) of one S3 bucket's part of an index
// (or of one camera's part of it, see byOrderedPath).
type stream struct {
	bucket string
	bpLen  int // the length of the prefix: where the sort key starts
	skLen  int
	desc   bool
	c      *bolt.Cursor
	from   []byte
	to     []byte
	k, v   []byte // current entry; k == nil when exhausted
}

func (st *stream) first() {
	if st.desc {
		// The last key below to: seek to the first key >= to, step back.
		if k, _ := st.c.Seek(st.to); k == nil {
			st.k, st.v = st.c.Last()
		} else {
			st.k, st.v = st.c.Prev()
		}
	} else {
		st.k, st.v = st.c.Seek(st.from)
	}
	st.clip()
}

func (st *stream) next() {
	if st.desc {
		st.k, st.v = st.c.Prev()
	} else {
		st.k, st.v = st.c.Next()
	}
	st.clip()
}

func (st *stream) clip() {
	if st.k != nil && (bytes.Compare(st.k, st.from) < 0 || bytes.Compare(st.k, st.to) >= 0) {
		st.k, st.v = nil, nil
	}
}

func (st *stream) pos() position {
	return position{
		sk:     st.k[st.bpLen : st.bpLen+st.skLen],
		bucket: st.bucket,
		key:    string(st.k[st.bpLen+st.skLen:]),
	}
}

// newStream builds the stream of one bucket for the walk: the query's own
// range of the sort index (lo, hi relative to bp; nil is unbounded),
// narrowed to what lies after the cursor. bp is the bucket prefix, or a
// longer prefix under it whose keys go on with the sort key and the object
// key as the sort index's do (bucket 0x00 make 0x00 model 0x00 for the
// camera indexes).
func newStream(ix *bolt.Bucket, sp sortSpec, bucket string, bp, lo, hi []byte, cur *position) *stream {
	st := &stream{bucket: bucket, bpLen: len(bp), skLen: sp.skLen, desc: sp.desc, c: ix.Cursor()}
	st.from = cat(bp, lo)
	st.to = prefixEnd(bp) // bp ends in 0x00 (bucket names and parts are NUL-free), so never nil
	if hi != nil {
		st.to = cat(bp, hi)
	}
	if cur == nil {
		return st
	}
	// Items after the cursor (sk, cb, ck) in this bucket b: the order is
	// (sort key, bucket, key), so the bound depends on how b compares to
	// cb. For the key order (no sort key) this reduces to "later buckets
	// entirely, the cursor's bucket after ck".
	cmpBucket := bytes.Compare([]byte(bucket), []byte(cur.bucket))
	if !sp.desc {
		var after []byte // first key of this stream after the cursor
		switch {
		case cmpBucket < 0: // same sort key comes before the cursor: need sk > csk
			next := succFixed(cur.sk)
			if next == nil {
				st.from = st.to // nothing is after
				return st
			}
			after = cat(bp, next)
		case cmpBucket == 0: // sk == csk and key > ck, or sk > csk
			after = cat(bp, cur.sk, []byte(cur.key), []byte{0})
		default: // sk >= csk
			after = cat(bp, cur.sk)
		}
		if bytes.Compare(after, st.from) > 0 {
			st.from = after
		}
		return st
	}
	var before []byte // the exclusive end of this stream's part before the cursor
	switch {
	case cmpBucket < 0: // sk <= csk
		before = st.to
		if next := succFixed(cur.sk); next != nil {
			before = cat(bp, next)
		}
	case cmpBucket == 0: // sk == csk and key < ck, or sk < csk
		before = cat(bp, cur.sk, []byte(cur.key))
	default: // sk < csk
		before = cat(bp, cur.sk)
	}
	if bytes.Compare(before, st.to) < 0 {
		st.to = before
	}
	return st
}

// merger yields the entries of several streams in result order.
type merger struct {
	sp      sortSpec
	streams []*stream
}

func (m *merger) Len() int { return len(m.streams) }
func (m *merger) Less(i, j int) bool {
	// Compares in place: pos() would allocate the key on every comparison.
	a, b := m.streams[i], m.streams[j]
	c := bytes.Compare(a.k[a.bpLen:a.bpLen+a.skLen], b.k[b.bpLen:b.bpLen+b.skLen])
	if c == 0 {
		c = strings.Compare(a.bucket, b.bucket)
	}
	if c == 0 {
		c = bytes.Compare(a.k[a.bpLen+a.skLen:], b.k[b.bpLen+b.skLen:])
	}
	if m.sp.desc {
		return c > 0
	}
	return c < 0
}
func (m *merger) Swap(i, j int) { m.streams[i], m.streams[j] = m.streams[j], m.streams[i] }
func (m *merger) Push(x any)    { m.streams = append(m.streams, x.(*stream)) }
func (m *merger) Pop() any {
	n := len(m.streams)
	st := m.streams[n-1]
	m.streams = m.streams[:n-1]
	return st
}

func newMerger(sp sortSpec, streams []*stream) *merger {
	m := &merger{sp: sp}
	for _, st := range streams {
		st.first()
		if st.k != nil {
			m.streams = append(m.streams, st)
		}
	}
	heap.Init(m)
	return m
}

// peek returns the stream holding the next entry, or nil when done.
func (m *merger) peek() *stream {
	if len(m.streams) == 0 {
		return nil
	}
	return m.streams[0]
}

// advance moves past the entry peek returned.
func (m *merger) advance() {
	st := m.streams[0]
	st.next()
	if st.k == nil {
		heap.Pop(m)
		return
	}
	heap.Fix(m, 0)
}
