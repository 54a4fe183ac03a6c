package metastore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// txn is a transaction with the store's buckets resolved once.
type txn struct {
	tx      *bolt.Tx
	records *bolt.Bucket
	idx     map[string]*bolt.Bucket // secondary indexes by name
	bstats  *bolt.Bucket
	ostats  *bolt.Bucket
	sstats  *bolt.Bucket
	facets  *bolt.Bucket
}

func openTxn(tx *bolt.Tx) (*txn, error) {
	t := &txn{tx: tx, idx: map[string]*bolt.Bucket{}}
	get := func(name string) (*bolt.Bucket, error) {
		b := tx.Bucket([]byte(name))
		if b == nil {
			return nil, fmt.Errorf("%w: bucket %s missing", ErrCorrupt, name)
		}
		return b, nil
	}
	var err error
	if t.records, err = get(bkRecords); err != nil {
		return nil, err
	}
	for _, n := range indexNames() {
		if t.idx[n], err = get(n); err != nil {
			return nil, err
		}
	}
	if t.bstats, err = get(bkBucketStats); err != nil {
		return nil, err
	}
	if t.ostats, err = get(bkOwnerStats); err != nil {
		return nil, err
	}
	if t.sstats, err = get(bkStatusStats); err != nil {
		return nil, err
	}
	if t.facets, err = get(bkFacets); err != nil {
		return nil, err
	}
	return t, nil
}

// indexEntry is one secondary-index key of a record.
type indexEntry struct {
	index string
	key   []byte
}

// indexEntries lists every secondary-index key of r. This function is the
// single definition of what is indexed; Verify rebuilds from it too.
func indexEntries(r *Record) []indexEntry {
	bp := bucketPrefix(r.Bucket)
	key := []byte(r.Key)
	sep := []byte{0}
	out := make([]indexEntry, 0, 9+len(r.Tags))
	add := func(index string, parts ...[]byte) {
		out = append(out, indexEntry{index, cat(append(append([][]byte{bp}, parts...), key)...)})
	}
	// Every record is in the two ordering indexes so that sort=taken and
	// sort=size list everything, undated photos included.
	add(bkIdxTaken, appendTaken(nil, r.TakenAt))
	add(bkIdxSize, appendSize(nil, r.Size))
	if mk, md := fold(r.Make), fold(r.Model); mk != "" || md != "" {
		add(bkIdxCamera, []byte(indexPart(mk)), sep, []byte(indexPart(md)), sep)
		add(bkIdxCameraTaken, []byte(indexPart(mk)), sep, []byte(indexPart(md)), sep, appendTaken(nil, r.TakenAt))
	}
	for _, ix := range valueIndexes() {
		if v := ix.norm(ix.record(r)); v != "" {
			add(ix.index, []byte(indexPart(v)), sep)
		}
	}
	for k, v := range r.Tags {
		if k == "" {
			continue
		}
		add(bkIdxTag, []byte(indexPart(k)), sep, []byte(indexPart(v)), sep)
	}
	if r.GPS.valid() {
		add(bkIdxGeo, appendGeo(nil, r.GPS))
	}
	return out
}

// Facet fields, the first byte of a facets key.
const (
	facetMake   = 'm'
	facetModel  = 'o'
	facetLens   = 'l'
	facetFormat = 'f'
	facetYear   = 'y'
)

// facetValue is one facet a record counts towards: the folded value groups,
// display is what users see.
type facetValue struct {
	field   byte
	folded  string
	display string
}

func facetValues(r *Record) []facetValue {
	var out []facetValue
	add := func(field byte, raw string) {
		if f := fold(raw); f != "" {
			out = append(out, facetValue{field, indexPart(f), strings.TrimSpace(indexPart(raw))})
		}
	}
	add(facetMake, r.Make)
	add(facetModel, r.Model)
	add(facetLens, r.Lens)
	add(facetFormat, r.Format)
	if !r.TakenAt.IsZero() {
		y := strconv.Itoa(takenYear(r))
		out = append(out, facetValue{facetYear, y, y})
	}
	return out
}

func facetKey(field byte, bucket, folded string) []byte {
	k := make([]byte, 0, 2+len(bucket)+len(folded))
	k = append(k, field)
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, folded...)
}

// putRecord inserts or replaces a record with everything derived from it:
// the old record's index entries and counter contributions are removed
// first, then the new one's added, all in the caller's transaction.
func (t *txn) putRecord(r *Record) error {
	_, _, err := t.replaceRecord(r)
	return err
}

// replaceRecord is putRecord, returning the record it replaced.
//
// A record without an Owner takes the replaced record's, and one without
// a Placeholder the replaced record's if it is the same version (ETag): r
// is copied rather than changed, because bbolt may run a batch function
// twice.
func (t *txn) replaceRecord(r *Record) (prev Record, found bool, err error) {
	rk := recordKey(r.Bucket, r.Key)
	if old := t.records.Get(rk); old != nil {
		prev, err = decodeRecord(r.Bucket, r.Key, old)
		if err != nil {
			return Record{}, false, err
		}
		if err := t.unindex(&prev); err != nil {
			return Record{}, false, err
		}
		found = true
		inherited := KeepPlaceholder(r, &prev)
		if inherited.Owner == "" {
			inherited.Owner = prev.Owner
		}
		r = &inherited
	}
	if err := t.records.Put(rk, encodeRecord(r)); err != nil {
		return Record{}, false, fmt.Errorf("put record %s/%s: %w", r.Bucket, r.Key, err)
	}
	return prev, found, t.index(r)
}

// deleteRecord removes a record and everything derived from it. A missing
// record is not an error: deleting is idempotent, as in S3.
func (t *txn) deleteRecord(bucket, key string) error {
	_, _, err := t.removeRecord(bucket, key)
	return err
}

// removeRecord is deleteRecord, returning the record it removed.
func (t *txn) removeRecord(bucket, key string) (prev Record, found bool, err error) {
	rk := recordKey(bucket, key)
	old := t.records.Get(rk)
	if old == nil {
		return Record{}, false, nil
	}
	prev, err = decodeRecord(bucket, key, old)
	if err != nil {
		return Record{}, false, err
	}
	if err := t.unindex(&prev); err != nil {
		return Record{}, false, err
	}
	if err := t.records.Delete(rk); err != nil {
		return Record{}, false, fmt.Errorf("delete record %s/%s: %w", bucket, key, err)
	}
	return prev, true, nil
}

// deleteBucket removes every record of an S3 bucket. S3 only deletes empty
// buckets, so this normally finds nothing; it exists so that drift (objects
// the index missed a delete for) cannot outlive the bucket.
func (t *txn) deleteBucket(bucket string) error {
	bp := bucketPrefix(bucket)
	for {
		// Collect, then delete: deleting under a live bbolt cursor skips
		// entries. Re-seeking from the prefix picks up where the last
		// round ended because the deleted keys are gone.
		var keys []string
		c := t.records.Cursor()
		for k, _ := c.Seek(bp); k != nil && bytes.HasPrefix(k, bp) && len(keys) < 1000; k, _ = c.Next() {
			keys = append(keys, string(k[len(bp):]))
		}
		if len(keys) == 0 {
			return nil
		}
		for _, key := range keys {
			if err := t.deleteRecord(bucket, key); err != nil {
				return err
			}
		}
	}
}

func (t *txn) index(r *Record) error {
	for _, e := range indexEntries(r) {
		if err := t.idx[e.index].Put(e.key, []byte{}); err != nil {
			return fmt.Errorf("index %s/%s in %s: %w", r.Bucket, r.Key, e.index, err)
		}
	}
	return t.count(r, 1)
}

func (t *txn) unindex(r *Record) error {
	for _, e := range indexEntries(r) {
		if err := t.idx[e.index].Delete(e.key); err != nil {
			return fmt.Errorf("unindex %s/%s in %s: %w", r.Bucket, r.Key, e.index, err)
		}
	}
	return t.count(r, -1)
}

// count adds (delta 1) or removes (delta -1) a record's contribution to the
// per-bucket, per-status and facet counters. Counters that reach zero are
// deleted, so the stats buckets list exactly the buckets, statuses and
// facet values that exist; search uses stat_bucket as the list of buckets.
func (t *txn) count(r *Record, delta int64) error {
	if err := addUsage(t.bstats, r.Bucket, delta, r.Size); err != nil {
		return fmt.Errorf("bucket stats %s: %w", r.Bucket, err)
	}
	if r.Owner != "" {
		if err := addUsage(t.ostats, r.Owner, delta, r.Size); err != nil {
			return fmt.Errorf("owner stats %s: %w", r.Owner, err)
		}
	}
	if err := addCounter(t.sstats, []byte(r.Status), delta); err != nil {
		return fmt.Errorf("status stats: %w", err)
	}
	for _, f := range facetValues(r) {
		if err := t.addFacet(facetKey(f.field, r.Bucket, f.folded), f.display, delta); err != nil {
			return err
		}
	}
	return nil
}

// addFacet adjusts one facet counter. The display form is the one of the
// first record that created the value, kept while the count is above zero.
func (t *txn) addFacet(k []byte, display string, delta int64) error {
	n, shown := decodeFacet(t.facets.Get(k))
	n += delta
	if n <= 0 {
		return t.facets.Delete(k)
	}
	if shown == "" {
		shown = display
	}
	return t.facets.Put(k, encodeFacet(n, shown))
}

// addUsage adds (delta 1) or removes (delta -1) one object of size bytes
// to the objects/bytes counter of name, deleting it when no object is left.
func addUsage(b *bolt.Bucket, name string, delta, size int64) error {
	k := []byte(name)
	objects, bytes := decodeBucketStat(b.Get(k))
	objects += delta
	bytes += delta * size
	if objects <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, encodeBucketStat(objects, bytes))
}

func encodeBucketStat(objects, size int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(objects))
	return binary.BigEndian.AppendUint64(b, uint64(size))
}

func decodeBucketStat(v []byte) (objects, size int64) {
	if len(v) != 16 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
}

func encodeFacet(n int64, display string) []byte {
	b := binary.AppendUvarint(nil, uint64(n))
	return append(b, display...)
}

func decodeFacet(v []byte) (int64, string) {
	n, w := binary.Uvarint(v)
	if w <= 0 {
		return 0, ""
	}
	return int64(n), string(v[w:])
}

// addCounter adjusts a big-endian uint64 counter and deletes it at zero.
// bbolt rejects empty keys, so the empty name is stored as a single 0x00.
func addCounter(b *bolt.Bucket, name []byte, delta int64) error {
	if len(name) == 0 {
		name = []byte{0}
	}
	n := int64(readU64(b.Get(name))) + delta
	if n <= 0 {
		return b.Delete(name)
	}
	return b.Put(name, u64(uint64(n)))
}

// counterName undoes addCounter's encoding of the empty name.
func counterName(k []byte) string {
	if len(k) == 1 && k[0] == 0 {
		return ""
	}
	return string(k)
}
