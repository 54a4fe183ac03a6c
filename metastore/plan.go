package metastore

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// An access path is a set of key ranges in one secondary index whose
// entries name a superset of the records that can match the query. The
// planner counts each path's entries (stopping early, see choosePath) and
// reads the records of the cheapest; match then decides.
type accessPath struct {
	name  string
	index string
	scans []scan
	// ordered: the entries of every scan are in the result order (sort
	// key, then object key), so the scans are merged like the walk's
	// streams and read only until the page is full, instead of being read
	// whole and sorted.
	ordered bool
	// covers names the filters the path's entries stand for, so that an
	// intersection does not filter a path by one that says nothing more
	// (camera+taken by camera).
	covers []string
	// exact: the entries name exactly the records that match the query
	// (it has no filter the path does not decide), so in key order a
	// record is read only if it makes the page.
	exact bool
}

// scan is one key range of an index within one S3 bucket: the keys
// prefix+[lo, hi), hi nil meaning every key that starts with prefix. After
// the prefix an entry holds width bytes of a fixed-size value (a date, a
// size, a geohash; none for value indexes), then the object key. So the
// entries of a scan are in (fixed value, key) order, which is the result
// order when the fixed value is the sort key (or there is none and the sort
// is by key).
type scan struct {
	bucket string
	prefix []byte
	lo, hi []byte
	width  int
}

func (s *scan) from() []byte { return cat(s.prefix, s.lo) }

func (s *scan) to() []byte {
	if s.hi == nil {
		return prefixEnd(s.prefix) // prefixes end in the bucket's 0x00 or a part's: never nil
	}
	return cat(s.prefix, s.hi)
}

// paths lists the access paths the query can use in the given S3 buckets.
// Camera paths need the transaction: they have one scan per (make, model)
// pair, found by skipping from value to value (see cameraPrefixes).
func (c *compiled) paths(t *txn, buckets []string) []accessPath {
	var out []accessPath
	keyOrder := c.sort.field == "key"
	// A scan whose entries end in the object key right after the prefix
	// can be narrowed to the query's key prefix.
	var keyLo, keyHi []byte
	if c.q.Prefix != "" {
		keyLo, keyHi = []byte(c.q.Prefix), prefixEnd([]byte(c.q.Prefix))
	}
	perBucket := func(name, index string, ordered bool, covers []string, mk func(bp []byte) scan) {
		p := accessPath{name: name, index: index, ordered: ordered, covers: covers}
		for _, b := range buckets {
			s := mk(bucketPrefix(b))
			s.bucket = b
			p.scans = append(p.scans, s)
		}
		out = append(out, p)
	}
	// valuePrefix scans bucket 0x00 part 0x00 ... for an index whose
	// entries are value parts followed by the key: in key order.
	valuePrefix := func(name, index string, parts ...string) {
		perBucket(name, index, keyOrder, []string{name}, func(bp []byte) scan {
			p := bytes.Clone(bp)
			for _, v := range parts {
				p = append(append(p, indexPart(v)...), 0)
			}
			return scan{prefix: p, lo: keyLo, hi: keyHi}
		})
	}
	if c.make != "" || c.model != "" {
		cams := cameraPrefixes(t, buckets, c.make, c.model)
		p := accessPath{name: "camera", index: bkIdxCamera, ordered: keyOrder, covers: []string{"camera"}, exact: c.cameraOnly}
		for _, cp := range cams {
			p.scans = append(p.scans, scan{bucket: cp.bucket, prefix: cp.prefix, lo: keyLo, hi: keyHi})
		}
		out = append(out, p)
		// The same pairs in idx_camera_taken: a date range of one camera
		// is one key range, in date order.
		dated := !c.q.TakenAfter.IsZero() || !c.q.TakenBefore.IsZero()
		if dated || c.sort.field == "taken" {
			p := accessPath{
				name: "camera+taken", index: bkIdxCameraTaken, ordered: c.sort.field == "taken",
				covers: []string{"camera"}, exact: c.cameraDateOnly,
			}
			var lo, hi []byte
			if dated {
				lo, hi = c.takenRange()
				p.covers = append(p.covers, "taken")
			}
			for _, cp := range cams {
				p.scans = append(p.scans, scan{bucket: cp.bucket, prefix: cp.prefix, lo: lo, hi: hi, width: takenLen})
			}
			out = append(out, p)
		}
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
		p := accessPath{name: "geo", index: bkIdxGeo, covers: []string{"geo"}}
		for _, b := range buckets {
			bp := bucketPrefix(b)
			for _, r := range ranges {
				s := scan{bucket: b, prefix: bp, lo: binary.BigEndian.AppendUint64(nil, r.lo), width: geoLen}
				if r.hi != math.MaxUint64 { // else the range ends with the bucket
					s.hi = binary.BigEndian.AppendUint64(nil, r.hi+1)
				}
				p.scans = append(p.scans, s)
			}
		}
		out = append(out, p)
	case c.q.HasGPS != nil && *c.q.HasGPS:
		perBucket("geo", bkIdxGeo, false, []string{"geo"}, func(bp []byte) scan {
			return scan{prefix: bp, width: geoLen}
		})
	}
	if c.sort.field != "taken" && (!c.q.TakenAfter.IsZero() || !c.q.TakenBefore.IsZero()) {
		lo, hi := c.takenRange()
		perBucket("taken", bkIdxTaken, false, []string{"taken"}, func(bp []byte) scan {
			return scan{prefix: bp, lo: lo, hi: hi, width: takenLen}
		})
	}
	if c.sort.field != "size" && (c.q.MinSize > 0 || c.q.MaxSize > 0) {
		lo, hi := c.sizeRange()
		perBucket("size", bkIdxSize, false, []string{"size"}, func(bp []byte) scan {
			return scan{prefix: bp, lo: lo, hi: hi, width: sizeLen}
		})
	}
	return out
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

// cameraPrefix is bucket 0x00 make 0x00 model 0x00: one camera's part of
// idx_camera and of idx_camera_taken (both have the same pairs).
type cameraPrefix struct {
	bucket string
	prefix []byte
}

// cameraPrefixes lists the (make, model) pairs a camera filter selects, one
// exact pair per scan so that each scan is in key (or date) order. A make
// without a model visits each of the make's models, a model without a make
// each make, with one seek per distinct value (see distinctParts), not one
// step per record.
func cameraPrefixes(t *txn, buckets []string, mk, model string) []cameraPrefix {
	var out []cameraPrefix
	cur := t.idx[bkIdxCamera].Cursor()
	part := func(p []byte, v string) []byte { return append(append(bytes.Clone(p), indexPart(v)...), 0) }
	for _, b := range buckets {
		bp := bucketPrefix(b)
		switch {
		case mk != "" && model != "":
			out = append(out, cameraPrefix{b, part(part(bp, mk), model)})
		case mk != "":
			p := part(bp, mk)
			for _, md := range distinctParts(cur, p) {
				out = append(out, cameraPrefix{b, cat(p, md, []byte{0})})
			}
		default:
			for _, m := range distinctParts(cur, bp) {
				out = append(out, cameraPrefix{b, part(cat(bp, m, []byte{0}), model)})
			}
		}
	}
	return out
}

// distinctParts lists the values v for which keys prefix v 0x00 ... exist,
// in order: after finding one it seeks past all of its keys (v is NUL-free,
// so they all sort below prefix v 0x01).
func distinctParts(c *bolt.Cursor, prefix []byte) [][]byte {
	var out [][]byte
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		rest := k[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			break // corrupt key; Verify reports it
		}
		v := bytes.Clone(rest[:i])
		out = append(out, v)
		k, _ = c.Seek(cat(prefix, v, []byte{1}))
	}
	return out
}

// Planner limits. A path is counted only up to the bound of choosePath,
// which candidateCap caps; a path is read whole only if it is smaller.
// semiJoinRatio: another path is turned into a key set that filters the
// chosen one's entries before their records are read (see semiJoins) if
// it has at most semiJoinRatio entries per record the plan expects to
// read: an entry costs a cursor step and a map insert, a record a B+tree
// lookup and a decode, more than semiJoinRatio times as much.
const (
	candidateCap  = 50_000
	semiJoinRatio = 8
)

// plan is the outcome of choosePath: the path to read (-1 for the walk),
// the entry count of every path it counted (capped at the bound) and
// whether that count is exact, and the reads the choice is expected to
// cost.
type plan struct {
	choice  int
	counted []bool
	counts  []int64
	exact   []bool
	cost    float64
}

// choosePath picks the access path for a query, or -1 for the ordered
// walk, by expected record reads:
//   - an unordered path reads all its n entries' records;
//   - an ordered path (or the walk, which is an ordered path over the whole
//     scope) reads records in result order until limit+1 match: if a
//     fraction f of its entries match, about (limit+1)/f. f is estimated as
//     m/n, m the matches expected by treating the paths' filters as
//     independent (and at most the smallest path).
//
// A path another one dominates (see dominates) is not counted. An ordered
// path left alone is chosen without counting: it never reads
// more records than the walk. Otherwise each path is counted only up to
// bound = sqrt((limit+1)*scope): a path that long loses to the walk even
// alone (n*n >= (limit+1)*scope), so planning never reads much more than
// the chosen plan will.
func choosePath(t *txn, paths []accessPath, limit int, scope int64, prefix []byte) plan {
	pl := plan{
		choice:  -1,
		counted: make([]bool, len(paths)),
		counts:  make([]int64, len(paths)),
		exact:   make([]bool, len(paths)),
	}
	var live []int
	for i, p := range paths {
		if !slices.ContainsFunc(paths, func(q accessPath) bool { return dominates(q, p) }) {
			live = append(live, i)
		}
	}
	k := float64(limit + 1)
	if len(live) == 1 && paths[live[0]].ordered {
		pl.choice, pl.cost = live[0], k
		return pl
	}
	bound := int64(math.Sqrt(k * float64(scope)))
	bound = min(max(bound, int64(limit+1)), candidateCap)
	for _, i := range live {
		pl.counted[i] = true
		pl.counts[i] = countPath(t, paths[i], bound, prefix)
		pl.exact[i] = pl.counts[i] < bound
	}
	m := expectedMatches(paths, pl, scope)
	pl.cost = math.Min(float64(scope), k*float64(scope)/m) // the walk
	for _, i := range live {
		n := float64(pl.counts[i])
		cost := n
		if paths[i].ordered {
			// Plus one seek per scan, which is about a record read.
			cost = math.Min(n, k*n/m) + float64(len(paths[i].scans))
		}
		if cost < pl.cost {
			pl.choice, pl.cost = i, cost
		}
	}
	return pl
}

// dominates reports whether a makes b pointless: a covers b's filters, so
// its entries are a subset of b's, and either covers more and reads no
// worse, or covers the same and is ordered where b is not (camera+taken
// over camera in date order).
func dominates(a, b accessPath) bool {
	if !hasAll(a.covers, b.covers) {
		return false
	}
	if len(a.covers) > len(b.covers) {
		return a.ordered || !b.ordered
	}
	return a.ordered && !b.ordered
}

// hasAll reports whether every filter of b is in a.
func hasAll(a, b []string) bool {
	return !slices.ContainsFunc(b, func(f string) bool { return !slices.Contains(a, f) })
}

// expectedMatches estimates how many records match: the scope times the
// fractions of paths with disjoint filters, smallest first (so camera+taken
// is not counted again as camera and as taken), at most the smallest path
// and at least 1.
func expectedMatches(paths []accessPath, pl plan, scope int64) float64 {
	if scope <= 0 {
		return 1
	}
	counts := pl.counts
	var idx []int
	for i := range paths {
		if pl.counted[i] {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(counts[a] - counts[b]) })
	m := float64(scope)
	var used []string
	for _, i := range idx {
		if overlaps(used, paths[i].covers) {
			continue
		}
		used = append(used, paths[i].covers...)
		m *= float64(counts[i]) / float64(scope)
	}
	if len(idx) > 0 {
		m = math.Min(m, float64(counts[idx[0]]))
	}
	return math.Max(m, 1)
}

func overlaps(a, b []string) bool {
	for _, v := range b {
		if slices.Contains(a, v) {
			return true
		}
	}
	return false
}

// keySet is the set of recordKey strings of the entries of one path.
type keySet struct {
	name string
	keys map[string]struct{}
}

// semiJoins turns the other paths that are small enough into key sets that
// the chosen plan checks before reading a record: a record missing from any
// of them cannot match. This is how one query intersects several indexes
// (camera and date range, and place) without reading the records of one
// index's entries only to drop them. A path is used only if its count is
// exact, it is at most semiJoinRatio times the plan's expected reads, it
// adds a filter neither the chosen path nor a set already has, and all
// sets together stay within candidateCap keys.
func (c *compiled) semiJoins(t *txn, paths []accessPath, pl plan, prefix []byte) []keySet {
	var used []string
	if pl.choice >= 0 {
		used = slices.Clone(paths[pl.choice].covers)
	}
	idx := make([]int, 0, len(paths))
	for i := range paths {
		if i != pl.choice && pl.exact[i] && float64(pl.counts[i]) <= semiJoinRatio*pl.cost {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(pl.counts[a] - pl.counts[b]) })
	var (
		sets  []keySet
		total int64
	)
	for _, i := range idx {
		p := paths[i]
		if hasAll(used, p.covers) {
			continue
		}
		if total += pl.counts[i]; total > candidateCap {
			break
		}
		used = append(used, p.covers...)
		set := keySet{name: p.name, keys: make(map[string]struct{}, pl.counts[i])}
		eachEntry(t, p, prefix, func(s *scan, fixed, key []byte) bool {
			if p.index == bkIdxGeo && c.geoVerdict(fixed) == verdictFail {
				return true
			}
			set.keys[s.bucket+"\x00"+string(key)] = struct{}{} // recordKey, in one allocation
			return true
		})
		sets = append(sets, set)
	}
	return sets
}

// inAll reports whether the record key is in every set.
func inAll(sets []keySet, rk []byte) bool {
	for _, s := range sets {
		if _, ok := s.keys[string(rk)]; !ok {
			return false
		}
	}
	return true
}

// countPath counts the entries of p whose key has the prefix, stopping at
// limit.
func countPath(t *txn, p accessPath, limit int64, prefix []byte) int64 {
	var n int64
	eachEntry(t, p, prefix, func(*scan, []byte, []byte) bool {
		n++
		return n < limit
	})
	return n
}

// eachEntry calls fn(scan, fixed, key) for every entry of p whose object
// key starts with prefix, until fn returns false. fixed is the entry's
// fixed-width value (see scan).
func eachEntry(t *txn, p accessPath, prefix []byte, fn func(s *scan, fixed, key []byte) bool) bool {
	c := t.idx[p.index].Cursor()
	for i := range p.scans {
		s := &p.scans[i]
		to := s.to()
		for k, _ := c.Seek(s.from()); k != nil && bytes.Compare(k, to) < 0; k, _ = c.Next() {
			key, ok := entryKey(k, s)
			if !ok {
				continue // corrupt; Verify reports it
			}
			if !bytes.HasPrefix(key, prefix) {
				continue
			}
			if !fn(s, k[len(s.prefix):len(s.prefix)+s.width], key) {
				return false
			}
		}
	}
	return true
}

// entryKey extracts the object key from an index key of scan s.
func entryKey(k []byte, s *scan) ([]byte, bool) {
	skip := len(s.prefix) + s.width
	if len(k) < skip {
		return nil, false
	}
	return k[skip:], true
}
