package metastore

import (
	"bytes"
	"strings"
)

// sortSpec describes one result order. Every order is total: (sort key,
// bucket, key), ascending or entirely reversed.
type sortSpec struct {
	code  byte   // stored in cursors
	field string // key, taken, size
	index string // the bbolt bucket that is already in this order per S3 bucket
	skLen int    // width of the sort key inside that index's keys (0 for key order)
	desc  bool
}

func parseSort(s string) (sortSpec, bool) {
	desc := strings.HasPrefix(s, "-")
	var sp sortSpec
	switch strings.TrimPrefix(s, "-") {
	case "", "key":
		sp = sortSpec{code: 'k', field: "key", index: bkRecords}
	case "taken":
		sp = sortSpec{code: 't', field: "taken", index: bkIdxTaken, skLen: takenLen}
	case "size":
		sp = sortSpec{code: 's', field: "size", index: bkIdxSize, skLen: sizeLen}
	default:
		return sortSpec{}, false
	}
	if s == "-" {
		return sortSpec{}, false
	}
	sp.desc = desc
	if desc {
		sp.code -= 'a' - 'A' // upper case marks descending
	}
	return sp, true
}

// sortKey is a record's sort key in this order: the same bytes its index
// entry carries.
func (sp sortSpec) sortKey(r *Record) []byte {
	switch sp.field {
	case "taken":
		return appendTaken(nil, r.TakenAt)
	case "size":
		return appendSize(nil, r.Size)
	}
	return nil
}

// position is a place in a result order.
type position struct {
	sk          []byte
	bucket, key string
}

// compare orders positions ascending; callers flip it for descending sorts.
func (a position) compare(b position) int {
	if c := bytes.Compare(a.sk, b.sk); c != 0 {
		return c
	}
	if c := strings.Compare(a.bucket, b.bucket); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// cmp orders positions in this sort's direction.
func (sp sortSpec) cmp(a, b position) int {
	if sp.desc {
		return b.compare(a)
	}
	return a.compare(b)
}

// cmpEntry is cmp for the key order (no sort key) of a position given as
// an index entry's bucket and key bytes, without allocating the key.
func (sp sortSpec) cmpEntry(bucket string, key []byte, p position) int {
	c := strings.Compare(bucket, p.bucket)
	if c == 0 {
		switch {
		case string(key) < p.key:
			c = -1
		case string(key) > p.key:
			c = 1
		}
	}
	if sp.desc {
		return -c
	}
	return c
}
