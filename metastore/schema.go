package metastore

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"
)

// SchemaVersion is the layout this code reads and writes. Open refuses a file
// with a newer version (an older binary must not half-understand a newer
// index) and upgrades an older one in place.
//
// Version 4 adds idx_camera_taken, the camera index with the date taken
// before the key, so "this camera in this date range", and this camera in
// date order, are one key range; upgrading fills it from the records.
// Version 3 keeps failed jobs (job_failed, the 'f' counters) instead of
// counting dropped ones ('d', removed on upgrade), records job states, and
// indexes jobs by object (job_object, filled on upgrade); version 2 jobs
// decode as queued (see decodeJob).
// Version 2 added record owners and the per-owner counters (stat_owner).
// Version 1 records have no owner, so upgrading only creates the empty
// bucket and restamps the file.
const SchemaVersion = 4

// Top-level bbolt buckets. They are strings, not []byte variables, so that
// no package-level state can be mutated; the conversion is per transaction,
// not per key.
const (
	bkMeta    = "meta"    // schema version and other file-level facts
	bkRecords = "records" // bucket 0x00 key -> encoded Record

	// Secondary indexes. Every key starts with bucket 0x00 so one S3 bucket
	// is one contiguous range (cheap per-bucket queries, cheap DeleteBucket);
	// values are empty.
	bkIdxTaken  = "idx_taken"  // bucket 0x00 taken(12) key
	bkIdxSize   = "idx_size"   // bucket 0x00 size(8) key
	bkIdxCamera = "idx_camera" // bucket 0x00 make 0x00 model 0x00 key
	bkIdxLens   = "idx_lens"   // bucket 0x00 lens 0x00 key
	bkIdxTag    = "idx_tag"    // bucket 0x00 tagkey 0x00 tagvalue 0x00 key
	bkIdxCType  = "idx_ctype"  // bucket 0x00 mediatype 0x00 key
	bkIdxFormat = "idx_format" // bucket 0x00 format 0x00 key
	bkIdxGeo    = "idx_geo"    // bucket 0x00 zorder(8) key
	// bucket 0x00 make 0x00 model 0x00 taken(12) key: the entries of one
	// camera are in date order, so a date range of it is one key range.
	bkIdxCameraTaken = "idx_camera_taken"

	// Counters kept in the same transaction as the records.
	bkBucketStats = "stat_bucket" // bucket -> objects(8) bytes(8)
	bkOwnerStats  = "stat_owner"  // owner -> objects(8) bytes(8); records without an owner are not counted
	bkStatusStats = "stat_status" // status -> count(8)
	bkFacets      = "facets"      // field(1) bucket 0x00 normvalue -> uvarint count, display

	bkIntents   = "intents"    // id(8) -> encoded Intent
	bkJobs      = "jobs"       // id(8) -> encoded Job
	bkJobDue    = "job_due"    // kind 0x00 notbefore(12) id(8) -> empty; jobs not failed
	bkJobFailed = "job_failed" // id(8) -> empty; failed jobs
	bkJobObject = "job_object" // bucket 0x00 key 0x00 id(8) -> empty; every job
	bkJobStats  = "job_stats"  // 'q'|'f' kind -> count(8): queued (running included), failed
)

// allBuckets is what Open creates. A function, not a variable, for the same
// reason as above.
func allBuckets() []string {
	return slices.Concat(
		[]string{bkMeta, bkRecords},
		indexNames(),
		[]string{bkBucketStats, bkOwnerStats, bkStatusStats, bkFacets},
		[]string{bkIntents, bkJobs, bkJobDue, bkJobFailed, bkJobObject, bkJobStats},
	)
}

// indexNames is the one list of secondary-index buckets: Open creates (and
// on upgrade fills) them, openTxn resolves them, Verify checks them. The
// value indexes join from valueIndexes.
func indexNames() []string {
	names := []string{bkIdxTaken, bkIdxSize, bkIdxCamera, bkIdxCameraTaken, bkIdxTag, bkIdxGeo}
	for _, v := range valueIndexes() {
		names = append(names, v.index)
	}
	return names
}

// valueIndex is a secondary index on one string field that a query matches
// exactly after normalising both sides. Its entries are
// bucket 0x00 norm(value) 0x00 key; a record with an empty value has none.
// One row in valueIndexes makes a field searchable: indexEntries writes the
// entries, the planner scans them, match filters on them.
type valueIndex struct {
	param  string // the query parameter; also the access path's name
	index  string // the bbolt bucket
	norm   func(string) string
	record func(*Record) string // the raw value of a record
	query  func(*Query) string  // the raw value a query asks for; "" = unset
}

// valueIndexes lists the exact-match indexes. A function, not a variable,
// for the same reason as the bucket names.
func valueIndexes() []valueIndex {
	return []valueIndex{
		{"lens", bkIdxLens, fold, func(r *Record) string { return r.Lens }, func(q *Query) string { return q.Lens }},
		{"format", bkIdxFormat, fold, func(r *Record) string { return r.Format }, func(q *Query) string { return q.Format }},
		{"content_type", bkIdxCType, mediaType, func(r *Record) string { return r.ContentType }, func(q *Query) string { return q.ContentType }},
	}
}

// metaSchemaKey holds SchemaVersion as a big-endian uint32 in bkMeta.
const metaSchemaKey = "schema_version"

// Widths of the fixed-size sort keys inside index keys.
const (
	takenLen = 12 // see appendTaken
	sizeLen  = 8
	geoLen   = 8
)

// bucketPrefix is the key prefix of everything that belongs to one S3
// bucket. S3 bucket names cannot contain 0x00, so the first 0x00 in any key
// ends the bucket name and whatever follows is unambiguous.
func bucketPrefix(bucket string) []byte {
	b := make([]byte, 0, len(bucket)+1)
	b = append(b, bucket...)
	return append(b, 0)
}

// recordKey is the primary key: bucket 0x00 key. Its byte order is the S3
// listing order within a bucket, which is what sort=key returns.
func recordKey(bucket, key string) []byte {
	b := make([]byte, 0, len(bucket)+1+len(key))
	b = append(b, bucket...)
	b = append(b, 0)
	return append(b, key...)
}

// splitRecordKey undoes recordKey.
func splitRecordKey(k []byte) (bucket, key string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// appendTaken appends a 12-byte key that sorts like the instant t: the Unix
// seconds with the sign bit flipped (so negative seconds sort first), then
// the nanoseconds, both big-endian. The zero time ("no date taken") is
// encoded as 12 zero bytes, which is below every real instant: undated
// photos sort as the oldest. Seconds rather than UnixNano because UnixNano
// overflows outside 1678..2262 and EXIF dates can be anything.
func appendTaken(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, make([]byte, takenLen)...)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

// firstDated is the smallest taken key of a dated photo: one above the
// undated encoding. A range that filters on the date starts here so that
// undated photos never match a date filter.
func firstDated() []byte {
	b := make([]byte, takenLen)
	b[takenLen-1] = 1
	return b
}

// appendSize appends a size as a sortable 8-byte big-endian number.
func appendSize(dst []byte, size int64) []byte {
	if size < 0 {
		size = 0
	}
	return binary.BigEndian.AppendUint64(dst, uint64(size))
}

// u64 encodes ids and counters.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// readU64 decodes u64; anything not 8 bytes long reads as 0.
func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// cat concatenates byte slices into a fresh slice. bbolt keeps a reference
// to values until the transaction commits, so keys and values are never
// built in reused buffers.
func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// succFixed returns the next byte string of the same length (big-endian
// increment), or nil if b is all 0xFF. For fixed-width sort keys it is "the
// smallest key strictly greater than every key starting with b".
func succFixed(b []byte) []byte {
	out := bytes.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out
		}
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is empty or all 0xFF).
func prefixEnd(p []byte) []byte {
	out := bytes.Clone(p)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] != 0xFF {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}
