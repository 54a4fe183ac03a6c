package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// TestMigrateJobsFromVersion2 migrates a database the previous release
// left: jobs without state or creation time, a jobs_dropped count. The old
// jobs read as queued with no creation time, lease, fail and retry; the
// dropped count is no longer reported.
func TestMigrateJobsFromVersion2(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtVersion(t, 2, `INSERT INTO jobs_dropped (kind, n) VALUES ('extract', 3);`)
	var err error
	past := time.Now().Add(-time.Minute)
	var id int64
	err = conn.QueryRow(ctx, `INSERT INTO jobs (kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error)
		VALUES ('extract', 'b', 'k', 'e1', 1, $1, $2, 'earlier') RETURNING id`, past.Unix(), int32(past.Nanosecond())).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(ctx)
	if err != nil || st.SchemaVersion != SchemaVersion || len(st.Jobs) != 1 || st.Jobs["extract"] != (metastore.JobStats{Queued: 1}) {
		t.Fatalf("stats after migration: %+v %v", st, err)
	}
	jobs, err := s.Jobs(ctx, metastore.JobQuery{Bucket: "b", Key: "k"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != uint64(id) || jobs[0].State != metastore.JobQueued ||
		!jobs[0].Created.IsZero() || jobs[0].Attempts != 1 || jobs[0].LastError != "earlier" {
		t.Fatalf("old job: %+v %v", jobs, err)
	}
	j, ok, err := s.Lease(ctx, "extract", time.Now(), time.Minute)
	if err != nil || !ok || j.ID != uint64(id) || j.State != metastore.JobRunning || j.Attempts != 2 {
		t.Fatalf("lease of the old job: %+v %v %v", j, ok, err)
	}
	if err := s.Fail(ctx, j.ID, "broken"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RetryFailed(ctx, "extract", 0); err != nil || n != 1 {
		t.Fatalf("RetryFailed: %d %v", n, err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateSearchIndexesFromVersion5 migrates a library the previous
// release indexed, its tag index holding entries in its pending list:
// migration 6 builds the covering geo index and the camera+date index,
// drops the old geo index, empties the tag index's pending list and stops
// using one, and every search shape returns what Match selects.
func TestMigrateSearchIndexesFromVersion5(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtVersion(t, 5, "")
	var err error
	recs := library(5000)
	cols := strings.Split(strings.ReplaceAll(recordColumns, "\n", ""), ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"records"}, cols, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		return recordArgs(&recs[i]), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	// pageinspect (a core extension) reads the tag index's metapage: how
	// many rows wait in its pending list.
	if _, err := conn.Exec(ctx, "CREATE EXTENSION pageinspect"); err != nil {
		t.Fatal(err)
	}
	pending := func() int64 {
		t.Helper()
		var n int64
		err := conn.QueryRow(ctx, `SELECT n_pending_tuples FROM gin_metapage_info(get_raw_page('records_tags', 0))`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := pending(); n == 0 {
		t.Fatal("the tag index has no pending entries before migrating: the test checks nothing")
	}

	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var indexes []string
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'records' ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	if indexes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"records_camera_taken", "records_geo_covering", "records_tags"} {
		if !slices.Contains(indexes, want) {
			t.Errorf("no index %s after migration: %v", want, indexes)
		}
	}
	if slices.Contains(indexes, "records_geo") {
		t.Errorf("records_geo kept: %v", indexes)
	}
	var opts []string
	if err := conn.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = 'records_tags'`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts, "fastupdate=off") {
		t.Errorf("records_tags options %v, want fastupdate=off", opts)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d rows left in the tag index's pending list", n)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE records"); err != nil {
		t.Fatal(err)
	}
	for _, shape := range searchShapes() {
		t.Run(shape.name, func(t *testing.T) { checkSearch(t, s, recs, shape.q) })
	}
}

// databaseAtVersion creates a database as a release at schema version left
// it: migrations 1..version applied and recorded, then extra SQL. The
// connection is closed when the test ends.
func databaseAtVersion(t *testing.T, version int, extra string) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "upgrade")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	steps := migrations()
	setup := `CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());`
	for v := 1; v <= version; v++ {
		setup += steps[v] + fmt.Sprintf("\nINSERT INTO schema_migrations (version) VALUES (%d);\n", v)
	}
	if _, err := conn.Exec(ctx, setup+extra); err != nil {
		t.Fatal(err)
	}
	return dsn, conn
}
