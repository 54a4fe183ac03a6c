package metastore

import (
	"bytes"
	"encoding/binary"
	"math"
)

// An access path is a set of key ranges in one secondary index whose
// entries name a superset of the records that can match the query. The
// planner counts each path's entries (stopping early, see choosePath) and
// reads the records of the smallest; match then decides.
type accessPath struct {
	name  string
	index string
	scans []scan
}

// scan is one key range [from, to) of an index, within one S3 bucket. The
// object key of an entry is what follows the first skip bytes and then
// parts NUL-terminated value parts (a make-only camera scan skips the
// model that follows the make).
type scan struct {
	bucket   string
	from, to []byte
	skip     int
	parts    int
}

// prefixScan is the range of all keys starting with p.
func prefixScan(bucket string, p []byte) scan {
	return scan{bucket: bucket, from: p, to: prefixEnd(p), skip: len(p)}
}

// paths lists the access paths the query can use in the given S3 buckets.
// camera needs the transaction: a model without a make is answered by
// skipping from make to make (see modelScans).
func (c *compiled) paths(t *txn, buckets []string) []accessPath {
	var out []accessPath
	perBucket := func(name, index string, mk func(bp []byte) scan) {
		p := accessPath{name: name, index: index}
		for _, b := range buckets {
			s := mk(bucketPrefix(b))
			s.bucket = b
			p.scans = append(p.scans, s)
		}
		out = append(out, p)
	}
	// valuePrefix scans bucket 0x00 part 0x00 ... for an index whose
	// entries are value parts followed by the key.
	valuePrefix := func(name, index string, parts ...string) {
		perBucket(name, index, func(bp []byte) scan {
			p := bytes.Clone(bp)
			for _, v := range parts {
				p = append(append(p, indexPart(v)...), 0)
			}
			return prefixScan("", p)
		})
	}
	switch {
	case c.make != "" && c.model != "":
		valuePrefix("camera", bkIdxCamera, c.make, c.model)
	case c.make != "":
		valuePrefix("camera", bkIdxCamera, c.make)
		for i := range out[len(out)-1].scans {
			out[len(out)-1].scans[i].parts = 1 // the model
		}
	case c.model != "":
		p := accessPath{name: "camera", index: bkIdxCamera}
		for _, b := range buckets {
			p.scans = append(p.scans, modelScans(t, b, c.model)...)
		}
		out = append(out, p)
	}
	for i, ix := range c.valueIdx {
		if c.values[i] != "" {
			valuePrefix(ix.param, ix.index, c.values[i])
		}
	}
	for _, tg := range c.tags {
		valuePrefix("tag:"+tg.k, bkIdxTag, tg.k, tg.v)
	}
	switch {
	case c.geoBoxes != nil:
		ranges := cover(c.geoBoxes)
		p := accessPath{name: "geo", index: bkIdxGeo}
		for _, b := range buckets {
			bp := bucketPrefix(b)
			for _, r := range ranges {
				to := prefixEnd(bp) // r.hi is the last geohash of all
				if r.hi != math.MaxUint64 {
					to = binary.BigEndian.AppendUint64(bytes.Clone(bp), r.hi+1)
				}
				p.scans = append(p.scans, scan{
					bucket: b,
					from:   binary.BigEndian.AppendUint64(bytes.Clone(bp), r.lo),
					to:     to,
					skip:   len(bp) + geoLen,
				})
			}
		}
		out = append(out, p)
	case c.q.HasGPS != nil && *c.q.HasGPS:
		perBucket("geo", bkIdxGeo, func(bp []byte) scan {
			s := prefixScan("", bp)
			s.skip += geoLen
			return s
		})
	}
	if c.sort.field != "taken" && (!c.q.TakenAfter.IsZero() || !c.q.TakenBefore.IsZero()) {
		lo, hi := c.takenRange()
		perBucket("taken", bkIdxTaken, func(bp []byte) scan { return rangeScan(bp, lo, hi, takenLen) })
	}
	if c.sort.field != "size" && (c.q.MinSize > 0 || c.q.MaxSize > 0) {
		lo, hi := c.sizeRange()
		perBucket("size", bkIdxSize, func(bp []byte) scan { return rangeScan(bp, lo, hi, sizeLen) })
	}
	return out
}

// rangeScan is the range of a fixed-width sort key within one S3 bucket:
// [bp+lo, bp+hi), with nil meaning unbounded.
func rangeScan(bp, lo, hi []byte, width int) scan {
	s := scan{from: cat(bp, lo), to: prefixEnd(bp), skip: len(bp) + width}
	if hi != nil {
		s.to = cat(bp, hi)
	}
	return s
}

// takenRange is the sort-key range of the date filter. Any date filter
// starts at firstDated, so undated photos are outside it.
func (c *compiled) takenRange() (lo, hi []byte) {
	lo = firstDated()
	if !c.q.TakenAfter.IsZero() {
		lo = appendTaken(nil, c.q.TakenAfter)
	}
	if !c.q.TakenBefore.IsZero() {
		hi = appendTaken(nil, c.q.TakenBefore)
	}
	return lo, hi
}

// sizeRange is the sort-key range of the size filter.
func (c *compiled) sizeRange() (lo, hi []byte) {
	if c.q.MinSize > 0 {
		lo = appendSize(nil, c.q.MinSize)
	}
	if c.q.MaxSize > 0 {
		hi = succFixed(appendSize(nil, c.q.MaxSize))
	}
	return lo, hi
}

// modelScans finds a model whatever its make: the camera index is ordered
// by make first, so it visits each distinct make once (a seek past all of
// that make's keys) and scans make 0x00 model 0x00 under it. The cost is
// one seek per distinct make, not one step per record.
func modelScans(t *txn, bucket, model string) []scan {
	bp := bucketPrefix(bucket)
	var out []scan
	c := t.idx[bkIdxCamera].Cursor()
	for k, _ := c.Seek(bp); k != nil && bytes.HasPrefix(k, bp); {
		rest := k[len(bp):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			break // corrupt key; Verify reports it
		}
		mk := rest[:i]
		p := cat(bp, mk, []byte{0}, []byte(indexPart(model)), []byte{0})
		out = append(out, prefixScan(bucket, p))
		k, _ = c.Seek(cat(bp, mk, []byte{1}))
	}
	return out
}

// Planner limits. A path is read into memory and sorted, so it must stay
// small; beyond candidateCap the ordered walk is used whatever the counts.
const candidateCap = 50_000

// choosePath picks the access path for a query, or -1 for the ordered
// walk. The walk reads records in result order and stops after limit+1
// matches, so if a fraction f of the scope matches it reads about
// limit/f records; a path with n entries reads n records. Estimating
// f as n/scope, the path wins when n*n < limit*scope. So each path is
// counted only up to that bound (and the best so far): planning never
// reads more index keys than the chosen plan will read records.
func choosePath(t *txn, paths []accessPath, limit int, scope int64, prefix []byte) int {
	bound := int64(math.Sqrt(float64(limit+1) * float64(scope)))
	bound = min(max(bound, int64(limit+1)), candidateCap)
	best, bestN := -1, bound
	for i, p := range paths {
		n := countPath(t, p, bestN, prefix)
		if n < bestN {
			best, bestN = i, n
		}
	}
	return best
}

// countPath counts the entries of p whose key has the prefix, stopping at
// limit.
func countPath(t *txn, p accessPath, limit int64, prefix []byte) int64 {
	var n int64
	eachEntry(t, p, prefix, func(string, []byte) bool {
		n++
		return n < limit
	})
	return n
}

// eachEntry calls fn(bucket, key) for every entry of p whose key starts
// with prefix, until fn returns false.
func eachEntry(t *txn, p accessPath, prefix []byte, fn func(bucket string, key []byte) bool) bool {
	c := t.idx[p.index].Cursor()
	for _, s := range p.scans {
		for k, _ := c.Seek(s.from); k != nil && (s.to == nil || bytes.Compare(k, s.to) < 0); k, _ = c.Next() {
			key, ok := entryKey(k, s)
			if !ok {
				continue // corrupt; Verify reports it
			}
			if !bytes.HasPrefix(key, prefix) {
				continue
			}
			if !fn(s.bucket, key) {
				return false
			}
		}
	}
	return true
}

// entryKey extracts the object key from an index key of scan s.
func entryKey(k []byte, s scan) ([]byte, bool) {
	if len(k) < s.skip {
		return nil, false
	}
	k = k[s.skip:]
	for range s.parts {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return nil, false
		}
		k = k[i+1:]
	}
	return k, true
}
