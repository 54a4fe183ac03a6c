package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/pgstore"
	"github.com/photogate/photogate/test/harness"
)

// migrateSecret is the password put in the target URL: it must never be
// printed. The harness's cluster trusts loopback, so any password works.
const migrateSecret = "hunter2-Secret-pw"

// migrateBulk records in their own bucket, and migrateBulkJobs queued jobs,
// are enough to need several record batches and several pages of Jobs.
const (
	migrateBulk     = 1234
	migrateBulkJobs = metastore.MaxJobLimit + 150
)

// buildMigrateSource writes a bbolt index at dir/index.db with several
// buckets, owners, GPS, tags, a placeholder, pending intents and queued,
// running and failed jobs, and closes it.
func buildMigrateSource(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	s, err := metastore.Open(filepath.Join(dir, "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var muts []metastore.Mutation
	for i, r := range testRecords() {
		r.Owner = []string{"alice", "bob", "", "alice"}[i]
		if i == 0 {
			r.Placeholder = "1QcSHQRnh493V4dIh4eXh1h4kJUI"
			r.ETag = `"etag-paris"`
		}
		muts = append(muts, metastore.Put(r))
	}
	for i := range migrateBulk {
		muts = append(muts, metastore.Put(metastore.Record{
			Bucket: "bulk", Key: fmt.Sprintf("img/%05d.jpg", i), Size: int64(1000 + i), ETag: fmt.Sprintf(`"%x"`, i),
			ContentType: "image/jpeg", Format: "jpeg", Owner: []string{"carol", "dave"}[i%2],
			Status: []string{"ok", "none", "failed"}[i%3], Tags: map[string]string{"n": fmt.Sprint(i % 7)},
			TakenAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour),
		}))
	}
	for i := range migrateBulkJobs {
		muts = append(muts, metastore.EnqueueJob(metastore.Job{
			Kind: "render", Bucket: "bulk", Key: fmt.Sprintf("img/%05d.jpg", i), ETag: fmt.Sprintf(`"%x"`, i),
			NotBefore: time.Date(2030, 1, 1, 0, 0, 0, i, time.UTC),
		}))
	}
	if err := s.Commit(ctx, 0, muts...); err != nil {
		t.Fatal(err)
	}

	// A failed job, one that will be running (leased), a plain one.
	failed, err := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "photos", Key: "2023/scan.png", ETag: `"x"`})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, failed, "decoder crashed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "photos", Key: "2024/fiji.heic", ETag: `"y"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, metastore.Job{Kind: "delete-renditions", Bucket: "archive", Key: "gone.jpg", ETag: `"z"`}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Lease(ctx, "extract", time.Now(), time.Hour); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	for _, in := range []metastore.Intent{
		{Op: "PutObject", Bucket: "photos", Keys: []string{"2024/new.jpg"}, Owner: "alice", Created: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
		{Op: "DeleteObjects", Bucket: "bulk", Keys: []string{"img/00001.jpg", "img/00002.jpg"}, Owner: "carol"},
	} {
		if _, err := s.BeginIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
}

// runMigrate runs photogate as main does and returns its exit status and
// everything it printed.
func runMigrate(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"index", "migrate"}, args...), &out, &errOut, env(nil))
	return code, out.String() + errOut.String()
}

func TestMigrateToPostgres(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	buildMigrateSource(t, dir)
	dsn := harness.StartPostgres(t).CreateDatabase(t, "migrated")
	if !strings.Contains(dsn, "postgres@") {
		t.Fatalf("unexpected DSN shape %q", dsn)
	}
	secretDSN := strings.Replace(dsn, "postgres@", "postgres:"+migrateSecret+"@", 1)

	code, output := runMigrate(t, "--data-dir", dir, "--to", secretDSN, "--batch", "100")
	if code != 0 {
		t.Fatalf("migrate exited %d:\n%s", code, output)
	}
	if strings.Contains(output, migrateSecret) {
		t.Errorf("the output shows the password:\n%s", output)
	}
	want := fmt.Sprintf("%d records", len(testRecords())+migrateBulk)
	for _, s := range []string{want, "2 pending intents", "recovery", "1 failed", "verified", "index.url", "REDACTED@"} {
		if !strings.Contains(output, s) {
			t.Errorf("output lacks %q:\n%s", s, output)
		}
	}
	if strings.Contains(output, "\r") || strings.Contains(output, "[====") {
		t.Errorf("a progress bar off a terminal:\n%q", output)
	}

	src, err := metastore.Open(filepath.Join(dir, "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	compareIndexes(t, src, dst)

	// Both sides hold the same photos, owners and placeholders, seen
	// through Get.
	paris, ok, err := dst.Get(ctx, "photos", "2024/paris.jpg")
	if err != nil || !ok || paris.Owner != "alice" || paris.Placeholder == "" || paris.GPS == nil || paris.Tags["album"] != "paris" {
		t.Errorf("paris in PostgreSQL: %+v %v %v", paris, ok, err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}

	// The database is no longer empty: a second migrate is refused and
	// adds nothing.
	code, output = runMigrate(t, "--from", filepath.Join(dir, "index.db"), "--to", secretDSN)
	if code != 1 || !strings.Contains(output, "not empty") {
		t.Fatalf("second migrate exited %d:\n%s", code, output)
	}
	if strings.Contains(output, migrateSecret) {
		t.Errorf("the refusal shows the password:\n%s", output)
	}
	dst, err = pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	st, err := dst.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != int64(len(testRecords())+migrateBulk) || st.PendingIntents != 2 {
		t.Errorf("after the refused migrate: %d objects, %d intents", st.Objects, st.PendingIntents)
	}
}

// compareIndexes asserts that dst answers Get, Search, Stats and Jobs as src
// does.
func compareIndexes(t *testing.T, src, dst metastore.Index) {
	t.Helper()
	ctx := context.Background()

	// Get, every record.
	n := 0
	for _, bucket := range []string{"photos", "archive", "bulk"} {
		err := src.Scan(ctx, bucket, "", func(want metastore.Record) error {
			n++
			got, ok, err := dst.Get(ctx, want.Bucket, want.Key)
			if err != nil {
				return err
			}
			if !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("Get %s/%s:\n got %+v (%v)\nwant %+v", want.Bucket, want.Key, got, ok, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != len(testRecords())+migrateBulk {
		t.Fatalf("scanned %d records", n)
	}

	// Search: several shapes, every page.
	yes := true
	for _, q := range []metastore.Query{
		{Limit: 1000},
		{Bucket: "photos"},
		{Tags: map[string]string{"album": "paris"}},
		{HasGPS: &yes, Sort: "-taken"},
		{Near: &metastore.Near{Lat: 48.85, Lon: 2.35, RadiusKm: 50}},
		{Bucket: "bulk", Tags: map[string]string{"n": "3"}, Sort: "-size", Limit: 40},
		{Make: "Canon"},
		{TakenAfter: time.Date(2020, 1, 10, 0, 0, 0, 0, time.UTC), TakenBefore: time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC), Sort: "taken", Limit: 100},
	} {
		for page := 0; ; page++ {
			a, err := src.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			b, err := dst.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Items, b.Items) || a.NextCursor != b.NextCursor {
				t.Errorf("Search %+v page %d: bbolt %d items (next %q), PostgreSQL %d (next %q)", q, page, len(a.Items), a.NextCursor, len(b.Items), b.NextCursor)
				break
			}
			if page == 0 && len(a.Items) == 0 {
				t.Errorf("Search %+v finds nothing: not a useful comparison", q)
			}
			if a.NextCursor == "" {
				break
			}
			q.Cursor = a.NextCursor
		}
	}

	// Stats, compared independently of the command's own statsDiff.
	a, err := src.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dst.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if na, nb := normalStats(a), normalStats(b); !reflect.DeepEqual(na, nb) {
		t.Errorf("Stats:\n  bbolt      %+v\n  PostgreSQL %+v", na, nb)
	}
	if a.Jobs["render"].Queued != migrateBulkJobs || a.Jobs["extract"].Failed != 1 || a.PendingIntents != 2 {
		t.Fatalf("the source is not what the test built: %+v", a)
	}

	// Jobs, in ID order: the same jobs, the running one queued again.
	aj, bj := allJobs(t, src), allJobs(t, dst)
	if len(aj) != len(bj) {
		t.Fatalf("jobs: bbolt %d, PostgreSQL %d", len(aj), len(bj))
	}
	for i := range aj {
		x, y := aj[i], bj[i]
		wantState := x.State
		if wantState == metastore.JobRunning {
			wantState = metastore.JobQueued
			if y.NotBefore.After(time.Now()) {
				t.Errorf("job %s %s/%s was running: it should be due now, not at %v", x.Kind, x.Bucket, x.Key, y.NotBefore)
			}
		} else if !x.NotBefore.Equal(y.NotBefore) && x.State != metastore.JobFailed {
			t.Errorf("job %d NotBefore %v, PostgreSQL %v", x.ID, x.NotBefore, y.NotBefore)
		}
		if x.Kind != y.Kind || x.Bucket != y.Bucket || x.Key != y.Key || x.ETag != y.ETag || y.State != wantState ||
			(x.State == metastore.JobFailed && x.LastError != y.LastError) {
			t.Errorf("job %d:\n bbolt      %+v\n PostgreSQL %+v", i, x, y)
		}
	}

	// Intents: the same, in order, with their times.
	ai, err := src.PendingIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := dst.PendingIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	strip := func(l []metastore.Intent) []metastore.Intent {
		out := slices.Clone(l)
		for i := range out {
			out[i].ID = 0
			out[i].Created = out[i].Created.UTC()
		}
		return out
	}
	if !reflect.DeepEqual(strip(ai), strip(bi)) {
		t.Errorf("intents:\n bbolt      %+v\n PostgreSQL %+v", ai, bi)
	}
}

// normalStats drops what may differ between engines without meaning
// anything: the schema version, zero counters, the order of names.
func normalStats(st metastore.Stats) metastore.Stats {
	st.SchemaVersion = 0
	clean := func(l []metastore.BucketStats) []metastore.BucketStats {
		l = slices.DeleteFunc(slices.Clone(l), func(b metastore.BucketStats) bool { return b.Objects == 0 && b.Bytes == 0 })
		slices.SortFunc(l, func(a, b metastore.BucketStats) int { return strings.Compare(a.Name, b.Name) })
		return l
	}
	st.Buckets, st.Owners = clean(st.Buckets), clean(st.Owners)
	status := map[string]int64{}
	for k, v := range st.Status {
		if v != 0 {
			status[k] = v
		}
	}
	jobs := map[string]metastore.JobStats{}
	for k, v := range st.Jobs {
		if v != (metastore.JobStats{}) {
			jobs[k] = v
		}
	}
	st.Status, st.Jobs = status, jobs
	return st
}

func allJobs(t *testing.T, ix metastore.Index) []metastore.Job {
	t.Helper()
	var all []metastore.Job
	for after := uint64(0); ; {
		page, err := ix.Jobs(context.Background(), metastore.JobQuery{After: after, Limit: metastore.MaxJobLimit})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < metastore.MaxJobLimit {
			return all
		}
		after = page[len(page)-1].ID
	}
}

// TestMigrateRefusesARunningPhotogate holds the index open as a running
// photogate does: migrate must say to stop it, not hang or copy a moving
// index. No PostgreSQL is needed: the lock is checked first.
func TestMigrateRefusesARunningPhotogate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.db")
	running, err := metastore.Open(path, metastore.Options{NoSync: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()

	start := time.Now()
	var out, errOut bytes.Buffer
	err = migrateCommand(context.Background(), []string{"--data-dir", dir, "--to", "postgres://u:" + migrateSecret + "@127.0.0.1:1/x"}, &out, &errOut, env(nil))
	if !errors.Is(err, metastore.ErrLocked) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("migrate with the index in use: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to notice the lock", d)
	}
	if s := err.Error() + out.String() + errOut.String(); strings.Contains(s, migrateSecret) {
		t.Errorf("the password is shown: %s", s)
	}
}

// TestMigrateNeedsAnIndex: a missing file is not an empty index (Open
// would create one, and migrate would copy nothing and call it verified).
func TestMigrateNeedsAnIndex(t *testing.T) {
	dir := t.TempDir()
	code, output := runMigrate(t, "--data-dir", dir, "--to", "postgres://u:"+migrateSecret+"@127.0.0.1:1/x")
	if code != 1 || !strings.Contains(output, "no bbolt index") {
		t.Fatalf("exit %d: %s", code, output)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("migrate created the index it did not find: %v", err)
	}
	for _, args := range [][]string{
		{"--data-dir", dir}, // no --to
		{"--data-dir", dir, "--to", "host=x password=" + migrateSecret}, // not a URL
		{"--data-dir", dir, "--from", "f", "--to", "postgres://h/db"},
		{"--data-dir", dir, "--to", "postgres://h/db", "--batch", "0"},
	} {
		code, output := runMigrate(t, args...)
		if code != 1 || strings.Contains(output, migrateSecret) {
			t.Errorf("%q: exit %d: %s", args, code, output)
		}
	}
}
