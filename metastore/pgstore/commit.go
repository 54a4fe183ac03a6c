package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// BeginIntent durably records in and returns its ID.
func (s *Store) BeginIntent(ctx context.Context, in metastore.Intent) (uint64, error) {
	in, err := metastore.PrepareIntent(in, time.Now())
	if err != nil {
		return 0, fmt.Errorf("pgstore: begin intent: %w", err)
	}
	keys := make([][]byte, len(in.Keys))
	for i, k := range in.Keys {
		keys[i] = []byte(k)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pgstore: begin intent: %w", err)
	}
	sec, nsec := unixTime(in.Created)
	var id int64
	// One statement is its own transaction: one round trip instead of
	// three (BEGIN, INSERT, COMMIT), on every write request's path.
	err = s.pool.QueryRow(context.WithoutCancel(ctx), `INSERT INTO intents (op, bucket, keys, owner, created_s, created_ns, replica, begun)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nextval('write_seq')) RETURNING id`,
		[]byte(in.Op), []byte(in.Bucket), keys, []byte(in.Owner), sec, nsec, s.replica.id).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("pgstore: begin intent %s %s: %w", in.Op, in.Bucket, err)
	}
	return uint64(id), nil
}

// Abandon drops an intent whose mutation the backend refused. A missing
// intent is not an error.
func (s *Store) Abandon(ctx context.Context, intentID uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: abandon intent %d: %w", intentID, err)
	}
	if _, err := s.pool.Exec(context.WithoutCancel(ctx), "DELETE FROM intents WHERE id = $1", int64(intentID)); err != nil {
		return fmt.Errorf("pgstore: abandon intent %d: %w", intentID, err)
	}
	return nil
}

// PendingIntents lists the intents not yet committed or abandoned, oldest
// first, whichever replica owns them. Recovery uses ClaimIntents instead.
func (s *Store) PendingIntents(ctx context.Context) ([]metastore.Intent, error) {
	var out []metastore.Intent
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanIntents(ctx, tx, "SELECT id, op, bucket, keys, owner, created_s, created_ns FROM intents ORDER BY id")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: pending intents: %w", err)
	}
	return out, nil
}

// scanIntents runs query, which selects the intents' columns in
// PendingIntents' order.
func scanIntents(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]metastore.Intent, error) {
	var out []metastore.Intent
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                int64
			op, bucket, owner []byte
			keys              [][]byte
			sec               int64
			nsec              int32
		)
		if err := rows.Scan(&id, &op, &bucket, &keys, &owner, &sec, &nsec); err != nil {
			return nil, err
		}
		in := metastore.Intent{
			ID: uint64(id), Op: string(op), Bucket: string(bucket), Owner: string(owner),
			Created: fromUnix(sec, nsec),
		}
		for _, k := range keys {
			in.Keys = append(in.Keys, string(k))
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Commit applies muts and deletes intent intentID in one transaction.
// intentID 0 means there is no intent. It is idempotent like the bbolt
// engine's: a missing intent is not an error, a repeated Put rewrites the
// same row.
func (s *Store) Commit(ctx context.Context, intentID uint64, muts ...metastore.Mutation) error {
	prepared, err := metastore.PrepareMutations(time.Now(), muts)
	if err != nil {
		return fmt.Errorf("pgstore: commit intent %d: %w", intentID, err)
	}
	if pipelinable(prepared) {
		err = s.retrying(ctx, func(ctx context.Context) error { return s.pipelined(ctx, intentID, prepared) })
		if err != nil {
			return fmt.Errorf("pgstore: commit intent %d: %w", intentID, err)
		}
		return nil
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		var begun int64
		if intentID != 0 && exclusive(prepared) {
			if err := tx.QueryRow(ctx, intentBegunSQL, int64(intentID)).Scan(&begun); err != nil {
				return err
			}
		}
		c := newCounters()
		for i := range prepared {
			if err := s.apply(ctx, tx, &prepared[i], c, begun); err != nil {
				return fmt.Errorf("mutation %d (%v): %w", i, prepared[i].Op, err)
			}
		}
		b := &pgx.Batch{}
		c.queue(b)
		if intentID != 0 {
			b.Queue("DELETE FROM intents WHERE id = $1", int64(intentID))
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("pgstore: commit intent %d: %w", intentID, err)
	}
	return nil
}

// apply performs one prepared mutation, collecting its counter changes in
// c. The record row is locked (deleted and re-inserted) before its old
// state is read, so a concurrent commit of the same key waits and then
// sees this one's result.
func (s *Store) apply(ctx context.Context, tx pgx.Tx, m *metastore.Mutation, c *counters, begun int64) error {
	switch m.Op {
	case metastore.OpPut:
		prev, found, err := takeRecord(ctx, tx, m, begun, m.Record.Bucket, m.Record.Key)
		if err != nil {
			return err
		}
		r := m.Record
		if found {
			c.record(&prev, -1)
			r = metastore.KeepPlaceholder(&r, &prev)
			if r.Owner == "" {
				r.Owner = prev.Owner
			}
		}
		if err := insertRecord(ctx, tx, &r); err != nil {
			return err
		}
		c.record(&r, 1)
		if !found {
			return nil
		}
		return enqueueReplaced(ctx, tx, m, &prev, &r)
	case metastore.OpDelete:
		prev, found, err := takeRecord(ctx, tx, m, begun, m.Bucket, m.Key)
		if err != nil || !found {
			return err
		}
		c.record(&prev, -1)
		return enqueueReplaced(ctx, tx, m, &prev, nil)
	case metastore.OpSetPlaceholder:
		// Only rec changes (no column derives from the placeholder), so
		// the row is updated in place rather than taken and re-inserted.
		var v []byte
		err := tx.QueryRow(ctx, "SELECT rec FROM records WHERE bucket = $1 AND key = $2 FOR UPDATE",
			[]byte(m.Bucket), []byte(m.Key)).Scan(&v)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		prev, err := metastore.DecodeRecord(m.Bucket, m.Key, v)
		if err != nil {
			return err
		}
		r, ok := m.SetPlaceholderOf(&prev)
		if !ok {
			return nil
		}
		_, err = tx.Exec(ctx, "UPDATE records SET rec = $3 WHERE bucket = $1 AND key = $2",
			[]byte(m.Bucket), []byte(m.Key), metastore.EncodeRecord(&r))
		return err
	case metastore.OpSetTags:
		prev, found, err := takeRecord(ctx, tx, m, begun, m.Bucket, m.Key)
		if err != nil || !found {
			// Not indexed (yet): reconciliation brings the whole
			// object in, tags included.
			return err
		}
		c.record(&prev, -1)
		r := prev
		r.Tags = maps.Clone(m.Tags)
		if err := insertRecord(ctx, tx, &r); err != nil {
			return err
		}
		c.record(&r, 1)
		return nil
	case metastore.OpDeleteBucket:
		rows, err := tx.Query(ctx, "DELETE FROM records WHERE bucket = $1 RETURNING key, rec", []byte(m.Bucket))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, v []byte
			if err := rows.Scan(&key, &v); err != nil {
				return err
			}
			prev, err := metastore.DecodeRecord(m.Bucket, string(key), v)
			if err != nil {
				return err
			}
			c.record(&prev, -1)
		}
		return rows.Err()
	case metastore.OpEnqueueJob:
		_, err := insertJob(ctx, tx, m.Job)
		return err
	}
	return fmt.Errorf("%w: unknown mutation op %v", metastore.ErrInvalid, m.Op)
}

// enqueueReplaced enqueues the job m.Replaced asks for, if any, when m
// replaces prev with newRec (nil: removes it).
func enqueueReplaced(ctx context.Context, tx pgx.Tx, m *metastore.Mutation, prev, newRec *metastore.Record) error {
	j, ok := m.ReplacedJob(prev, newRec)
	if !ok {
		return nil
	}
	_, err := insertJob(ctx, tx, j)
	return err
}

// takeRecord deletes bucket/key and returns what it was, refusing with
// ErrRaced when m is Exclusive and the row was written after begun (the
// intent's start in write_seq; 0 checks nothing).
func takeRecord(ctx context.Context, tx pgx.Tx, m *metastore.Mutation, begun int64, bucket, key string) (metastore.Record, bool, error) {
	var (
		v       []byte
		written int64
	)
	err := tx.QueryRow(ctx, takeRecordSQL, []byte(bucket), []byte(key)).Scan(&v, &written)
	if err == pgx.ErrNoRows {
		return metastore.Record{}, false, nil
	}
	if err != nil {
		return metastore.Record{}, false, err
	}
	if raced(m, begun, written) {
		return metastore.Record{}, false, metastore.ErrRaced
	}
	r, err := metastore.DecodeRecord(bucket, key, v)
	return r, err == nil, err
}

// raced reports whether an Exclusive m finds its row written (in
// write_seq) after its intent began.
func raced(m *metastore.Mutation, begun, written int64) bool {
	return m.Exclusive && begun > 0 && written > begun
}

// recordColumns is the insert column list; recordArgs returns values in
// the same order.
const recordColumns = `bucket, key, rec, size, taken, make, model, lens, format, ctype, aspect, tags,
	lat, lon, orientation, dwidth, dheight, megapixels, iso, owner, status`

func insertRecord(ctx context.Context, tx pgx.Tx, r *metastore.Record) error {
	_, err := tx.Exec(ctx, insertRecordSQL, recordArgs(r)...)
	if err != nil {
		return fmt.Errorf("insert %s/%s: %w", r.Bucket, r.Key, err)
	}
	return nil
}

// recordArgs derives a record's row. Everything but rec is a function of
// rec; Verify recomputes it.
func recordArgs(r *metastore.Record) []any {
	f := metastore.SearchFieldsOf(r)
	var lat, lon *float64
	if f.HasGPS {
		lat, lon = &f.Lat, &f.Lon
	}
	return []any{
		[]byte(r.Bucket), []byte(r.Key), metastore.EncodeRecord(r), r.Size, f.TakenKey,
		sqlText(f.Make), sqlText(f.Model), sqlText(f.Lens), sqlText(f.Format), sqlText(f.ContentType), sqlText(f.Aspect),
		tagsJSON(r.Tags), lat, lon, r.Orientation, f.DisplayWidth, f.DisplayHeight, r.Megapixels, r.ISO,
		[]byte(r.Owner), []byte(r.Status),
	}
}

// escapeText maps any byte string injectively to valid, NUL-free UTF-8,
// which text and jsonb require: a backslash is doubled, NUL becomes \0 and
// each byte of invalid UTF-8 becomes \xNN. Being injective, equal inputs
// and only equal inputs compare equal, so a predicate on escaped values
// selects exactly what the same predicate on the raw values would.
func escapeText(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == 0 || r == '\\' || (r == utf8.RuneError && w == 1) {
			clean = false
			break
		}
		i += w
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == 0:
			b.WriteString(`\0`)
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// maxIndexedText bounds the bytes of a text column, far below btree's
// limit of about 2.7 kB per index entry: a longer value is indexed by its
// prefix, and the exact filter compares the whole value in the record.
const maxIndexedText = 256

// sqlText is an escaped normalised value, cut to maxIndexedText bytes at a
// character boundary, NULL for "" (no value). Equal values give equal
// results, so comparing these selects a superset of the exact matches.
func sqlText(s string) *string {
	if s == "" {
		return nil
	}
	e := escapeText(s)
	if len(e) > maxIndexedText {
		cut := maxIndexedText
		for cut > 0 && !utf8.RuneStart(e[cut]) {
			cut--
		}
		e = e[:cut]
	}
	return &e
}

// tagsJSON is the tags as a jsonb object of escaped strings, NULL for none.
func tagsJSON(tags map[string]string) *string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for k, v := range tags {
		m[escapeText(k)] = escapeText(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Unreachable: a map of valid strings always marshals.
		panic(fmt.Sprintf("pgstore: marshal tags: %v", err))
	}
	js := string(b)
	return &js
}

// counterShards is how many rows each counter is split into. It bounds
// how many commits into one bucket (or by one owner, or of one camera)
// can update their counters without waiting for each other; more shards
// make reads sum more rows.
const counterShards = 16

// shardOf is the counter shard of a record: fixed per bucket and key.
func shardOf(bucket, key string) int16 {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int16(h.Sum32() % counterShards)
}

// counterKey names one shard of one counter.
type counterKey struct {
	name  string
	shard int16
}

func (a counterKey) compare(b counterKey) int {
	return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.shard, b.shard))
}

// usage is an objects/bytes counter change.
type usage struct{ objects, bytes int64 }

// facetKey names one shard of one facet counter.
type facetKey struct {
	field, bucket, folded string
	shard                 int16
}

// facetOp is one facet count change. Facet changes are applied one by one,
// not summed, because a value whose count drops to zero is deleted and the
// next record to count towards it sets its display form, as in the bbolt
// engine.
type facetOp struct {
	key     facetKey
	delta   int64
	display string
}

// counters collects the counter changes of one commit. The rows are
// updated at the end, in a fixed order (table, then key), so that two
// commits touching the same counters lock them in the same order.
type counters struct {
	buckets, owners map[counterKey]usage
	status          map[counterKey]int64
	facets          []facetOp
}

func newCounters() *counters {
	return &counters{buckets: map[counterKey]usage{}, owners: map[counterKey]usage{}, status: map[counterKey]int64{}}
}

// record adds (sign 1) or removes (sign -1) r's contribution.
func (c *counters) record(r *metastore.Record, sign int64) {
	shard := shardOf(r.Bucket, r.Key)
	add := func(m map[counterKey]usage, name string) {
		k := counterKey{name, shard}
		u := m[k]
		m[k] = usage{u.objects + sign, u.bytes + sign*r.Size}
	}
	add(c.buckets, r.Bucket)
	if r.Owner != "" {
		add(c.owners, r.Owner)
	}
	c.status[counterKey{r.Status, shard}] += sign
	for _, f := range metastore.FacetValuesOf(r) {
		c.facets = append(c.facets, facetOp{facetKey{f.Field, r.Bucket, f.Folded, shard}, sign, f.Display})
	}
}

func (c *counters) queue(b *pgx.Batch) {
	queueUsage(b, "bucket_usage", "bucket", c.buckets)
	queueUsage(b, "owner_usage", "owner", c.owners)
	for _, k := range slices.SortedFunc(maps.Keys(c.status), counterKey.compare) {
		if d := c.status[k]; d != 0 {
			b.Queue(`INSERT INTO status_counts AS t (status, shard, n) VALUES ($1, $2, $3)
				ON CONFLICT (status, shard) DO UPDATE SET n = t.n + excluded.n`, []byte(k.name), k.shard, d)
			if d < 0 { // only a decrement can empty the row
				b.Queue("DELETE FROM status_counts WHERE status = $1 AND shard = $2 AND n <= 0", []byte(k.name), k.shard)
			}
		}
	}
	// Stable, and by value only: the changes of one value keep their
	// order across shards, which decides its display form.
	slices.SortStableFunc(c.facets, func(a, b facetOp) int {
		return cmp.Or(cmp.Compare(a.key.field, b.key.field), cmp.Compare(a.key.bucket, b.key.bucket), cmp.Compare(a.key.folded, b.key.folded))
	})
	for _, f := range c.facets {
		args := []any{f.key.field, []byte(f.key.bucket), []byte(f.key.folded), f.key.shard}
		if f.delta > 0 {
			b.Queue(`INSERT INTO facets AS t (field, bucket, folded, shard, n, display)
				VALUES ($1, $2, $3, $4, $5, coalesce(
					(SELECT display FROM facets WHERE field = $1 AND bucket = $2 AND folded = $3 LIMIT 1), $6))
				ON CONFLICT (field, bucket, folded, shard) DO UPDATE SET n = t.n + excluded.n`,
				append(args, f.delta, []byte(f.display))...)
			continue
		}
		b.Queue("UPDATE facets SET n = n + $5 WHERE field = $1 AND bucket = $2 AND folded = $3 AND shard = $4", append(args, f.delta)...)
		b.Queue("DELETE FROM facets WHERE field = $1 AND bucket = $2 AND folded = $3 AND shard = $4 AND n <= 0", args...)
	}
}

// queueUsage updates an objects/bytes table; table and column are
// constants of this package, never input.
func queueUsage(b *pgx.Batch, table, column string, changes map[counterKey]usage) {
	for _, k := range slices.SortedFunc(maps.Keys(changes), counterKey.compare) {
		u := changes[k]
		if u == (usage{}) {
			continue
		}
		b.Queue("INSERT INTO "+table+" AS t ("+column+", shard, objects, bytes) VALUES ($1, $2, $3, $4) "+
			"ON CONFLICT ("+column+", shard) DO UPDATE SET objects = t.objects + excluded.objects, bytes = t.bytes + excluded.bytes",
			[]byte(k.name), k.shard, u.objects, u.bytes)
		if u.objects < 0 {
			b.Queue("DELETE FROM "+table+" WHERE "+column+" = $1 AND shard = $2 AND objects <= 0", []byte(k.name), k.shard)
		}
	}
}
