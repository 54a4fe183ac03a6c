package pgstore

import (
	"context"
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
	dsn := harness.StartPostgres(t).CreateDatabase(t, "upgrade")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	steps := migrations()
	setup := `CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());` +
		steps[1] + steps[2] + `INSERT INTO schema_migrations (version) VALUES (1), (2);
		INSERT INTO jobs_dropped (kind, n) VALUES ('extract', 3);`
	if _, err := conn.Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
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
