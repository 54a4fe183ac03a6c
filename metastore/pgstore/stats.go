package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// TakenMonths counts bucket's photos taken in each month of year (UTC):
// one index range of records_bucket_taken, counted per month.
func (s *Store) TakenMonths(ctx context.Context, bucket string, year int) ([12]int64, error) {
	var out [12]int64
	args := []any{[]byte(bucket)}
	cols := make([]string, 12)
	for m := range 13 {
		args = append(args, metastore.TakenKeyOf(metastore.MonthStart(year, m)))
	}
	for m := range 12 {
		cols[m] = fmt.Sprintf("count(*) FILTER (WHERE taken >= $%d AND taken < $%d)", m+2, m+3)
	}
	query := "SELECT " + strings.Join(cols, ", ") + " FROM records WHERE bucket = $1 AND taken >= $2 AND taken < $14"
	err := s.read(ctx, func(tx pgx.Tx) error {
		dest := make([]any, 12)
		for i := range dest {
			dest[i] = &out[i]
		}
		return tx.QueryRow(ctx, query, args...).Scan(dest...)
	})
	if err != nil {
		return out, fmt.Errorf("pgstore: taken months of %s in %d: %w", bucket, year, err)
	}
	return out, nil
}

// Facets lists the distinct values of field in bucket ("" = all buckets)
// with their record counts, by count descending, then value; see
// metastore.Store.Facets. It reads the maintained counters.
func (s *Store) Facets(ctx context.Context, field, bucket string) ([]metastore.Facet, error) {
	if err := metastore.ValidateFacetField(field); err != nil {
		return nil, err
	}
	type agg struct {
		display string
		count   int64
	}
	byValue := map[string]*agg{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		w := where{}
		w.add("field = $", field)
		if bucket != "" {
			w.add("bucket = $", []byte(bucket))
		}
		// Every shard of a value has the same display (see the schema).
		rows, err := tx.Query(ctx, "SELECT folded, sum(n)::bigint, (array_agg(display))[1] FROM facets"+w.sql()+
			" GROUP BY bucket, folded ORDER BY bucket, folded", w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				folded, display []byte
				n               int64
			)
			if err := rows.Scan(&folded, &n, &display); err != nil {
				return err
			}
			a := byValue[string(folded)]
			if a == nil {
				// Rows come in bucket order, so the display form is
				// the first bucket's, as in the bbolt engine.
				a = &agg{display: string(display)}
				byValue[string(folded)] = a
			}
			a.count += n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: facets %s: %w", field, err)
	}
	folded := slices.Collect(maps.Keys(byValue))
	slices.SortFunc(folded, func(a, b string) int {
		return cmp.Or(cmp.Compare(byValue[b].count, byValue[a].count), cmp.Compare(a, b))
	})
	out := make([]metastore.Facet, len(folded))
	for i, f := range folded {
		out[i] = metastore.Facet{Value: byValue[f].display, Count: byValue[f].count}
	}
	return out, nil
}

// Stats returns the current counters, from one snapshot.
// SchemaVersion is this engine's schema version, not the bbolt file's.
func (s *Store) Stats(ctx context.Context) (metastore.Stats, error) {
	st := metastore.Stats{SchemaVersion: SchemaVersion, Status: map[string]int64{}, Jobs: map[string]metastore.JobStats{}}
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if st.Buckets, err = usageRows(ctx, tx, "SELECT bucket, sum(objects)::bigint, sum(bytes)::bigint FROM bucket_usage GROUP BY bucket ORDER BY bucket"); err != nil {
			return err
		}
		for _, b := range st.Buckets {
			st.Objects += b.Objects
			st.Bytes += b.Bytes
		}
		if st.Owners, err = usageRows(ctx, tx, "SELECT owner, sum(objects)::bigint, sum(bytes)::bigint FROM owner_usage GROUP BY owner ORDER BY owner"); err != nil {
			return err
		}
		err = eachCount(ctx, tx, "SELECT status, sum(n)::bigint FROM status_counts GROUP BY status", func(name string, n int64) {
			st.Status[name] = n
		})
		if err != nil {
			return err
		}
		// jobs_dropped (schema 1 and 2) is left to the previous release.
		err = eachRow(ctx, tx, `SELECT kind, count(*) FILTER (WHERE state <> 'failed'), count(*) FILTER (WHERE state = 'failed')
			FROM jobs GROUP BY kind`, func(row pgx.Rows) error {
			var (
				kind []byte
				js   metastore.JobStats
			)
			err := row.Scan(&kind, &js.Queued, &js.Failed)
			st.Jobs[string(kind)] = js
			return err
		})
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM intents").Scan(&st.PendingIntents)
	})
	if err != nil {
		return metastore.Stats{}, fmt.Errorf("pgstore: stats: %w", err)
	}
	return st, nil
}

func usageRows(ctx context.Context, tx pgx.Tx, sql string) ([]metastore.BucketStats, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []metastore.BucketStats
	for rows.Next() {
		var (
			name           []byte
			objects, total int64
		)
		if err := rows.Scan(&name, &objects, &total); err != nil {
			return nil, err
		}
		out = append(out, metastore.BucketStats{Name: string(name), Objects: objects, Bytes: total})
	}
	return out, rows.Err()
}

// eachCount calls fn for each (name, count) row of a query.
func eachCount(ctx context.Context, tx pgx.Tx, sql string, fn func(string, int64)) error {
	return eachRow(ctx, tx, sql, func(row pgx.Rows) error {
		var (
			name []byte
			n    int64
		)
		err := row.Scan(&name, &n)
		fn(string(name), n)
		return err
	})
}

// BucketUsage returns the objects and bytes the index holds in bucket.
func (s *Store) BucketUsage(ctx context.Context, bucket string) (objects, bytes int64, err error) {
	return s.usage(ctx, "SELECT coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM bucket_usage WHERE bucket = $1", bucket)
}

// OwnerUsage returns the objects and bytes the index attributes to owner.
func (s *Store) OwnerUsage(ctx context.Context, owner string) (objects, bytes int64, err error) {
	return s.usage(ctx, "SELECT coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM owner_usage WHERE owner = $1", owner)
}

func (s *Store) usage(ctx context.Context, sql, name string) (objects, total int64, err error) {
	if err := metastore.ValidateUsageName(name); err != nil {
		return 0, 0, err
	}
	if err := s.pool.QueryRow(ctx, sql, []byte(name)).Scan(&objects, &total); err != nil {
		return 0, 0, fmt.Errorf("pgstore: usage of %s: %w", name, err)
	}
	return objects, total, nil
}

// Verify checks, in one snapshot, that every row's indexed columns are
// what its record implies, that the usage, status and facet counters
// equal what the records add up to, and that every job's state is known. It reads every record (O(records));
// it is for `photogate check` and tests.
func (s *Store) Verify(ctx context.Context) error {
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	err := s.read(ctx, func(tx pgx.Tx) error {
		want := newCounters()
		rows, err := tx.Query(ctx, "SELECT "+recordColumns+" FROM records")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			have, err := rows.Values()
			if err != nil {
				return err
			}
			bucket, _ := have[0].([]byte)
			key, _ := have[1].([]byte)
			v, _ := have[2].([]byte)
			r, err := metastore.DecodeRecord(string(bucket), string(key), v)
			if err != nil {
				report("%v", err)
				continue
			}
			if diff := rowDiff(have, recordArgs(&r)); diff != "" {
				report("record %s/%s: column %s disagrees with the record", r.Bucket, r.Key, diff)
			}
			want.record(&r, 1)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if err := verifyJobs(ctx, tx, report); err != nil {
			return err
		}
		return verifyCounters(ctx, tx, want, report)
	})
	if err != nil {
		return fmt.Errorf("pgstore: verify: %w", err)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%w: %s", metastore.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// rowDiff names the first column whose stored value differs from the one
// recordArgs derives, or "".
func rowDiff(have, want []any) string {
	names := strings.Split(recordColumns, ",")
	for i := range want {
		if !sameValue(have[i], want[i]) {
			return strings.TrimSpace(names[i])
		}
	}
	return ""
}

// sameValue compares a scanned column with the value recordArgs passes for
// it: pointers are NULL-able columns, tags compare as objects.
func sameValue(have, want any) bool {
	switch w := want.(type) {
	case *string:
		if w == nil {
			return have == nil
		}
		if hm, ok := have.(map[string]any); ok { // tags
			var wm map[string]any
			return json.Unmarshal([]byte(*w), &wm) == nil && maps.Equal(hm, wm)
		}
		h, ok := have.(string)
		return ok && h == *w
	case *float64:
		if w == nil {
			return have == nil
		}
		h, ok := have.(float64)
		return ok && h == *w
	case []byte:
		h, ok := have.([]byte)
		return ok && bytes.Equal(h, w)
	case float64:
		h, ok := have.(float64)
		return ok && (h == w || math.IsNaN(h) && math.IsNaN(w))
	case int64:
		h, ok := have.(int64)
		return ok && h == w
	case int:
		h, ok := have.(int32)
		return ok && int(h) == w
	}
	return false
}

// verifyCounters compares every counter shard with the count its records
// imply.
func verifyCounters(ctx context.Context, tx pgx.Tx, want *counters, report func(string, ...any)) error {
	for _, t := range []struct {
		name, sql string
		want      map[counterKey]usage
	}{
		{"bucket_usage", "SELECT bucket, shard, objects, bytes FROM bucket_usage", want.buckets},
		{"owner_usage", "SELECT owner, shard, objects, bytes FROM owner_usage", want.owners},
	} {
		have := map[counterKey]usage{}
		err := eachRow(ctx, tx, t.sql, func(row pgx.Rows) error {
			var (
				k    counterKey
				name []byte
				u    usage
			)
			err := row.Scan(&name, &k.shard, &u.objects, &u.bytes)
			k.name = string(name)
			have[k] = u
			return err
		})
		if err != nil {
			return err
		}
		if !maps.Equal(have, t.want) {
			report("%s: have %v, records say %v", t.name, have, t.want)
		}
	}
	haveStatus := map[counterKey]int64{}
	err := eachRow(ctx, tx, "SELECT status, shard, n FROM status_counts", func(row pgx.Rows) error {
		var (
			k    counterKey
			name []byte
			n    int64
		)
		err := row.Scan(&name, &k.shard, &n)
		k.name = string(name)
		haveStatus[k] = n
		return err
	})
	if err != nil {
		return err
	}
	if !maps.Equal(haveStatus, want.status) {
		report("status_counts: have %v, records say %v", haveStatus, want.status)
	}
	wantFacets := map[facetKey]int64{}
	for _, f := range want.facets {
		wantFacets[f.key] += f.delta
	}
	haveFacets := map[facetKey]int64{}
	displays := map[[3]string]string{}
	err = eachRow(ctx, tx, "SELECT field, bucket, folded, shard, n, display FROM facets", func(row pgx.Rows) error {
		var (
			k                       facetKey
			bucket, folded, display []byte
			n                       int64
		)
		if err := row.Scan(&k.field, &bucket, &folded, &k.shard, &n, &display); err != nil {
			return err
		}
		k.bucket, k.folded = string(bucket), string(folded)
		haveFacets[k] = n
		value := [3]string{k.field, k.bucket, k.folded}
		if d, seen := displays[value]; seen && d != string(display) {
			report("facets: %s %q in %s is shown as both %q and %q", k.field, k.folded, k.bucket, d, display)
		}
		displays[value] = string(display)
		return nil
	})
	if err != nil {
		return err
	}
	if !maps.Equal(haveFacets, wantFacets) {
		report("facets: have %d counters, records imply %d (or counts differ)", len(haveFacets), len(wantFacets))
	}
	return nil
}

// verifyJobs checks that every job has a state this release knows; the
// job counts are computed from the rows, so there is nothing else to
// disagree.
func verifyJobs(ctx context.Context, tx pgx.Tx, report func(string, ...any)) error {
	return eachRow(ctx, tx, "SELECT id, state FROM jobs WHERE state NOT IN ('queued', 'running', 'failed') ORDER BY id LIMIT 20", func(row pgx.Rows) error {
		var (
			id    int64
			state string
		)
		err := row.Scan(&id, &state)
		report("job %d: unknown state %q", id, state)
		return err
	})
}

// eachRow calls fn for each row of a query.
func eachRow(ctx context.Context, tx pgx.Tx, sql string, fn func(pgx.Rows) error) error {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
