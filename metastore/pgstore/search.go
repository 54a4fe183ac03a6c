package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// Get returns the record of bucket/key, and false if there is none.
func (s *Store) Get(ctx context.Context, bucket, key string) (metastore.Record, bool, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT rec FROM records WHERE bucket = $1 AND key = $2", []byte(bucket), []byte(key)).Scan(&v)
	if err == pgx.ErrNoRows {
		return metastore.Record{}, false, nil
	}
	if err != nil {
		return metastore.Record{}, false, fmt.Errorf("pgstore: get %s/%s: %w", bucket, key, err)
	}
	r, err := metastore.DecodeRecord(bucket, key, v)
	if err != nil {
		return metastore.Record{}, false, fmt.Errorf("pgstore: get %s/%s: %w", bucket, key, err)
	}
	return r, true, nil
}

// scanChunk is how many records Scan reads per query.
const scanChunk = 512

// Scan calls fn for every record of bucket ("" = every bucket, in bucket
// order) whose key starts with prefix, in key order. As with the bbolt
// engine it reads in chunks, each its own statement, and runs fn outside
// any transaction: fn may call the store, and the scan is not a snapshot.
func (s *Store) Scan(ctx context.Context, bucket, prefix string, fn func(metastore.Record) error) error {
	buckets := []string{bucket}
	if bucket == "" {
		var err error
		if buckets, err = s.bucketNames(ctx); err != nil {
			return fmt.Errorf("pgstore: scan: %w", err)
		}
	}
	for _, b := range buckets {
		after := []byte(nil) // last key read; nil before the first chunk
		for {
			w := where{}
			w.add("bucket = $", []byte(b))
			w.keyPrefix(prefix)
			if after != nil {
				w.add("key > $", after)
			}
			chunk, err := selectRecords(ctx, s.pool, "SELECT bucket, key, rec FROM records"+w.sql()+
				" ORDER BY key LIMIT "+strconv.Itoa(scanChunk), w.args)
			if err != nil {
				return fmt.Errorf("pgstore: scan %s/%s: %w", b, prefix, err)
			}
			for _, r := range chunk {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := fn(r); err != nil {
					return err
				}
			}
			if len(chunk) < scanChunk {
				break
			}
			after = []byte(chunk[len(chunk)-1].Key)
		}
	}
	return nil
}

// bucketNames lists the buckets with at least one record, in byte order.
func (s *Store) bucketNames(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT DISTINCT bucket FROM bucket_usage ORDER BY bucket")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var b []byte
		err := row.Scan(&b)
		return string(b), err
	})
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// selectRecords runs a query returning (bucket, key, rec) rows.
func selectRecords(ctx context.Context, q querier, sql string, args []any) ([]metastore.Record, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (metastore.Record, error) {
		var bucket, key, v []byte
		if err := row.Scan(&bucket, &key, &v); err != nil {
			return metastore.Record{}, err
		}
		return metastore.DecodeRecord(string(bucket), string(key), v)
	})
}

// where builds a conjunction with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each "$" in cond takes the next of args.
func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, w.expr(cond, args...))
}

// expr numbers the parameters of cond like add, appending args to w's,
// and returns it without adding it to the conjunction.
func (w *where) expr(cond string, args ...any) string {
	var b strings.Builder
	i := 0
	for _, part := range strings.SplitAfter(cond, "$") {
		b.WriteString(part)
		if strings.HasSuffix(part, "$") {
			w.args = append(w.args, args[i])
			i++
			b.WriteString(strconv.Itoa(len(w.args)))
		}
	}
	return b.String()
}

// keyPrefix restricts key to those starting with prefix: a range, so the
// (bucket, key) index serves it.
func (w *where) keyPrefix(prefix string) {
	if prefix == "" {
		return
	}
	w.add("key >= $", []byte(prefix))
	if end := prefixEnd([]byte(prefix)); end != nil {
		w.add("key < $", end)
	}
}

func (w *where) sql() string { return whereSQL(w.conds) }

func whereSQL(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// prefixEnd returns the smallest byte string greater than every string
// with prefix p, or nil if there is none.
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

// Search runs a query. Invalid queries fail with a *metastore.QueryError.
//
// The SQL selects, in the result order and from the cursor on, the rows
// that satisfy the filters PostgreSQL can index; every filter there is a
// superset of the exact one, which metastore.CompiledQuery.Match then
// applies to each row. When Match rejects rows, the next rows are fetched
// after the last one read until the page (and one more item, to know
// whether there is a next page) is full. So pages, their order and their
// cursors are the bbolt engine's, whichever index PostgreSQL chooses.
func (s *Store) Search(ctx context.Context, q metastore.Query) (metastore.Page, error) {
	cq, err := metastore.CompileQuery(q)
	if err != nil {
		return metastore.Page{}, err
	}
	var page metastore.Page
	err = s.read(ctx, func(tx pgx.Tx) error {
		var err error
		page, err = search(ctx, tx, cq)
		return err
	})
	if err != nil {
		var qe *metastore.QueryError
		if errors.As(err, &qe) {
			return metastore.Page{}, err
		}
		return metastore.Page{}, fmt.Errorf("pgstore: search: %w", err)
	}
	return page, nil
}

// maxFetch bounds one round of candidate rows.
const maxFetch = 4096

func search(ctx context.Context, tx pgx.Tx, cq *metastore.CompiledQuery) (metastore.Page, error) {
	filters, boxes := filterSQL(cq)
	want := cq.Limit() + 1
	fetch := want
	var (
		hits []metastore.Record
		from *position
	)
	if sk, b, k, ok := cq.After(); ok {
		from = &position{sk: sk, bucket: b, key: k}
	}
	for len(hits) < want {
		sql, args, err := roundSQL(cq, filters, boxes, from, fetch)
		if err != nil {
			return metastore.Page{}, err
		}
		rows, err := selectRecords(ctx, tx, sql, args)
		if err != nil {
			return metastore.Page{}, err
		}
		for i := range rows {
			if cq.Match(&rows[i]) {
				hits = append(hits, rows[i])
				if len(hits) == want {
					break
				}
			}
		}
		if len(rows) < fetch {
			break
		}
		last := &rows[len(rows)-1]
		from = &position{sk: cq.SortKey(last), bucket: last.Bucket, key: last.Key}
		fetch = min(fetch*4, maxFetch)
	}
	page := metastore.Page{Plan: "sql:" + cq.SortField()}
	if len(hits) > cq.Limit() {
		hits = hits[:cq.Limit()]
		page.NextCursor = cq.CursorAfter(&hits[len(hits)-1])
	}
	page.Items = hits
	if page.Items == nil {
		page.Items = []metastore.Record{}
	}
	return page, nil
}

// roundSQL is the statement of one round of candidates: the rows after
// from (nil: from the start, or the cursor) in result order, that are in
// one of boxes (none: anywhere) and satisfy filters.
//
// When PostgreSQL has to sort the candidates (see twoStep), it has two
// steps. The inner query picks the round's candidates by their bucket, key
// and sort key alone, which the indexes a search is served from hold, so
// that PostgreSQL can filter and order the candidates in the index (an
// index-only scan) without visiting the table row of each one the page
// does not keep: a place or a camera in a year has thousands of photos
// scattered through the table. The outer query then reads the records of
// the few chosen, by primary key.
//
// Several boxes (a bbox across the antimeridian) are one branch each,
// which a GiST index answers as a range, where an OR of boxes would only
// be a bitmap scan, which reads the table; UNION drops a row that two
// overlapping boxes both return.
func roundSQL(cq *metastore.CompiledQuery, filters where, boxes []metastore.BBox, from *position, fetch int) (string, []any, error) {
	w := where{conds: slices.Clone(filters.conds), args: slices.Clone(filters.args)}
	if from != nil {
		if err := w.after(cq, *from); err != nil {
			return "", nil, err
		}
	}
	if !twoStep(cq, boxes) {
		return "SELECT bucket, key, rec FROM records" + w.sql() + orderBy(cq, "") + " LIMIT " + strconv.Itoa(fetch), w.args, nil
	}
	cols := strings.Join(orderColumns(cq), ", ")
	tail := orderBy(cq, "") + " LIMIT " + strconv.Itoa(fetch)
	branch := func(conds []string) string {
		return "SELECT " + cols + " FROM records" + whereSQL(conds) + tail
	}
	var inner string
	switch len(boxes) {
	case 0:
		inner = branch(w.conds)
	case 1:
		inner = branch(append(w.conds, w.expr(boxSQL, boxArgs(boxes[0])...)))
	default:
		parts := make([]string, len(boxes))
		for i, b := range boxes {
			parts[i] = "(" + branch(append(slices.Clone(w.conds), w.expr(boxSQL, boxArgs(b)...))) + ")"
		}
		inner = "SELECT " + cols + " FROM (" + strings.Join(parts, " UNION ") + ") u" + tail
	}
	return "SELECT r.bucket, r.key, r.rec FROM (" + inner + ") c JOIN records r ON r.bucket = c.bucket AND r.key = c.key" +
		orderBy(cq, "r."), w.args, nil
}

// twoStep reports whether a round should choose its candidates in an
// index before reading their records. That pays when the indexes that
// narrow the candidates do not hold them in result order, so that
// PostgreSQL reads them all to sort them: a place's (the geo index is an
// R-tree), or a date or size range's in another order (records_taken and
// records_size hold the ranges in their own order). Otherwise, with an
// index in result order (a camera in key order, a date range in date
// order), or a filter whose index carries no order columns (tags, whose
// GIN index only finds rows), the page's rows are read straight away: a
// second step would only add a primary key lookup per row.
func twoStep(cq *metastore.CompiledQuery, boxes []metastore.BBox) bool {
	q := cq.Query()
	_, _, dated := cq.TakenRange()
	switch {
	case len(boxes) > 0:
		return true
	case dated:
		return cq.SortField() != "taken"
	case q.MinSize > 0 || q.MaxSize > 0:
		return cq.SortField() != "size"
	}
	return false
}

// boxSQL is the condition that a position is in a box that does not cross
// the antimeridian (boxArgs are its parameters): a containment the GiST
// index records_geo_covering answers.
const boxSQL = "lat IS NOT NULL AND point(lon, lat) <@ box(point($, $), point($, $))"

func boxArgs(b metastore.BBox) []any { return []any{b.MinLon, b.MinLat, b.MaxLon, b.MaxLat} }

// Explain returns PostgreSQL's plan for the first round of a search, with
// actual row counts and timings (EXPLAIN ANALYZE): the tool to check that
// a search shape is served by an index.
func (s *Store) Explain(ctx context.Context, q metastore.Query) (string, error) {
	cq, err := metastore.CompileQuery(q)
	if err != nil {
		return "", err
	}
	var from *position
	if sk, b, k, ok := cq.After(); ok {
		from = &position{sk: sk, bucket: b, key: k}
	}
	filters, boxes := filterSQL(cq)
	sql, args, err := roundSQL(cq, filters, boxes, from, cq.Limit()+1)
	if err != nil {
		return "", err
	}
	var lines []string
	err = s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+sql, args...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return "", fmt.Errorf("pgstore: explain: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}

// position is a place in a result order, as in the bbolt engine's cursors.
type position struct {
	sk          []byte
	bucket, key string
}

// after restricts to rows strictly after p in the result order, as a row
// comparison that the order's btree index answers with a range scan.
func (w *where) after(cq *metastore.CompiledQuery, p position) error {
	op := ">"
	if cq.Descending() {
		op = "<"
	}
	// With one bucket the bucket column is fixed, and comparing it would
	// stop PostgreSQL from using the (bucket, sort, key) index as a range.
	oneBucket := cq.Query().Bucket != "" && cq.Query().Bucket == p.bucket
	switch cq.SortField() {
	case "taken":
		if oneBucket {
			w.add("(taken, key) "+op+" ($, $)", p.sk, []byte(p.key))
		} else {
			w.add("(taken, bucket, key) "+op+" ($, $, $)", p.sk, []byte(p.bucket), []byte(p.key))
		}
	case "size":
		size, ok := metastore.SizeSortKey(p.sk)
		if !ok {
			return &metastore.QueryError{Param: "cursor", Msg: "malformed; pass NextCursor of the previous page unchanged"}
		}
		if oneBucket {
			w.add("(size, key) "+op+" ($, $)", size, []byte(p.key))
		} else {
			w.add("(size, bucket, key) "+op+" ($, $, $)", size, []byte(p.bucket), []byte(p.key))
		}
	default:
		if oneBucket {
			w.add("key "+op+" $", []byte(p.key))
		} else {
			w.add("(bucket, key) "+op+" ($, $)", []byte(p.bucket), []byte(p.key))
		}
	}
	return nil
}

// orderColumns are the columns of the result order.
func orderColumns(cq *metastore.CompiledQuery) []string {
	switch cq.SortField() {
	case "taken":
		return []string{"taken", "bucket", "key"}
	case "size":
		return []string{"size", "bucket", "key"}
	}
	return []string{"bucket", "key"}
}

// orderBy is the ORDER BY clause of the result order, its columns
// qualified by qual ("" or "r.").
func orderBy(cq *metastore.CompiledQuery, qual string) string {
	cols := orderColumns(cq)
	for i := range cols {
		cols[i] = qual + cols[i]
		if cq.Descending() {
			cols[i] += " DESC"
		}
	}
	return " ORDER BY " + strings.Join(cols, ", ")
}

// filterSQL is the indexable part of the query: each condition selects a
// superset of what Match accepts (most are exact). A bbox or near filter
// is returned apart, as boxes whose union holds every position it can
// accept (nil: no such filter), for roundSQL to query one by one.
func filterSQL(cq *metastore.CompiledQuery) (where, []metastore.BBox) {
	q := cq.Query()
	w := where{}
	if q.Bucket != "" {
		w.add("bucket = $", []byte(q.Bucket))
	}
	w.keyPrefix(q.Prefix)
	if lo, hi, ok := cq.TakenRange(); ok {
		w.add("taken >= $", lo)
		if hi != nil {
			w.add("taken < $", hi)
		}
	}
	f := cq.Fields()
	for _, c := range []struct{ col, v string }{
		{"make", f.Make}, {"model", f.Model}, {"lens", f.Lens},
		{"format", f.Format}, {"ctype", f.ContentType}, {"aspect", f.Aspect},
	} {
		if v := sqlText(c.v); v != nil {
			w.add(c.col+" = $", *v)
		}
	}
	if js := tagsJSON(q.Tags); js != nil {
		w.add("tags @> $::jsonb", *js)
	}
	if q.HasGPS != nil {
		if *q.HasGPS {
			w.add("lat IS NOT NULL")
		} else {
			w.add("lat IS NULL")
		}
	}
	if n := q.Near; n != nil {
		// The circle itself, so that PostgreSQL returns few rows Match
		// then drops (each drop costs another round). It is the same
		// haversine as Match's, widened by a millimetre so that
		// rounding differences between the two maths libraries cannot
		// lose a photo on the edge.
		w.add("2 * $ * asin(sqrt(least(1, sin(radians(lat - $) / 2) ^ 2 + "+
			"cos(radians($)) * cos(radians(lat)) * sin(radians(lon - $) / 2) ^ 2))) <= $",
			metastore.EarthRadiusKm, n.Lat, n.Lat, n.Lon, n.RadiusKm+1e-6)
	}
	if q.Orientation != 0 {
		w.add("orientation = $", q.Orientation)
	}
	if q.MinWidth > 0 {
		w.add("dwidth >= $", q.MinWidth)
	}
	if q.MinHeight > 0 {
		w.add("dheight >= $", q.MinHeight)
	}
	if q.MinMegapixels > 0 {
		// NaN sorts above every number in PostgreSQL, so this keeps NaN
		// rows; Match drops them, as the bbolt engine does.
		w.add("megapixels >= $", q.MinMegapixels)
	}
	if q.MinSize > 0 {
		w.add("size >= $", q.MinSize)
	}
	if q.MaxSize > 0 {
		w.add("size <= $", q.MaxSize)
	}
	if q.ISOMin > 0 || q.ISOMax > 0 {
		w.add("iso > 0 AND iso >= $", q.ISOMin)
		if q.ISOMax > 0 {
			w.add("iso <= $", q.ISOMax)
		}
	}
	return w, cq.GeoBoxes()
}
