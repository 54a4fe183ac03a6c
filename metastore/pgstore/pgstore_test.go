package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/conformance"
	"github.com/photogate/photogate/metastore/pgstore"
	"github.com/photogate/photogate/test/harness"
)

var base = time.Date(2023, 6, 1, 12, 0, 0, 0, time.UTC)

// databases hands out fresh databases of one cluster: a cluster per test
// (initdb takes seconds), a database per index (milliseconds).
type databases struct {
	pg *harness.Postgres
	n  atomic.Int64
}

func newDatabases(t *testing.T) *databases {
	return &databases{pg: harness.StartPostgres(t)}
}

func (d *databases) dsn(t testing.TB) string {
	return d.pg.CreateDatabase(t, fmt.Sprintf("index%d", d.n.Add(1)))
}

func (d *databases) open(t testing.TB) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), d.dsn(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openWithConn opens a store on a fresh database and a plain connection to
// the same database, for tests that look behind the store's back.
func openWithConn(t *testing.T) (*pgstore.Store, *pgx.Conn, string) {
	t.Helper()
	ctx := context.Background()
	dsn := newDatabases(t).dsn(t)
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return s, conn, dsn
}

func TestConformance(t *testing.T) {
	dbs := newDatabases(t)
	conformance.Run(t, func(t *testing.T) metastore.Index { return dbs.open(t) })
}

// TestConcurrentOpenMigratesOnce starts several replicas at once against an
// empty database: the advisory lock must make exactly one of them create
// the schema while the others wait and then find it done. Without the lock
// the concurrent CREATE TABLEs fail.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabases(t).dsn(t)
	const replicas = 8
	var (
		wg     sync.WaitGroup
		errs   = make(chan error, replicas)
		stores = make(chan *pgstore.Store, replicas)
		start  = make(chan struct{})
	)
	for range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(stores)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	for s := range stores {
		_ = s.Close()
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var versions, latest int
	if err := conn.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&versions, &latest); err != nil {
		t.Fatal(err)
	}
	if versions != pgstore.SchemaVersion || latest != pgstore.SchemaVersion {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d", versions, latest, pgstore.SchemaVersion)
	}
}

// TestOpenRefusesNewerSchema: a replica of an older release must not write
// into a schema it does not know.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	_, conn, dsn := openWithConn(t)
	if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", pgstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(ctx, dsn, pgstore.Options{}); !errors.Is(err, metastore.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestSameResultsAsBolt runs the same writes against both engines and
// compares whole pages, cursors included, for a spread of queries: the
// engines must be interchangeable behind one API, and a cursor from one
// must continue on the other.
func TestSameResultsAsBolt(t *testing.T) {
	ctx := context.Background()
	pg := newDatabases(t).open(t)
	bolt, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	var muts []metastore.Mutation
	for i := range 600 {
		muts = append(muts, metastore.Put(metastore.Record{
			Bucket: fmt.Sprintf("b%d", i%3), Key: fmt.Sprintf("k/%04d", i), Size: int64(i % 17),
			Make: []string{"Canon", "NIKON", "sony", ""}[i%4], Model: fmt.Sprintf("M%d", i%5),
			TakenAt: base.AddDate(0, 0, i%40), Status: "ok",
			Tags: map[string]string{"n": fmt.Sprint(i % 7)},
			GPS:  &metastore.GPS{Lat: float64(i%170) - 85, Lon: float64(i%360) - 180},
		}))
	}
	for _, s := range []metastore.Index{pg, bolt} {
		if err := s.Commit(ctx, 0, muts...); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []metastore.Query{
		{}, {Bucket: "b1"}, {Make: "canon"}, {Model: "m3"}, {Tags: map[string]string{"n": "2"}},
		{TakenAfter: base.AddDate(0, 0, 10), TakenBefore: base.AddDate(0, 0, 20)},
		{BBox: &metastore.BBox{MinLon: 170, MinLat: -10, MaxLon: -170, MaxLat: 80}},
		{Near: &metastore.Near{Lat: 0, Lon: 0, RadiusKm: 3000}}, {MinSize: 5, MaxSize: 9},
	} {
		for _, sortBy := range []string{"key", "-key", "taken", "-taken", "size", "-size"} {
			q.Sort, q.Limit, q.Cursor = sortBy, 23, ""
			for page := 0; ; page++ {
				want, err := bolt.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pg.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if got.NextCursor != want.NextCursor || len(got.Items) != len(want.Items) {
					t.Fatalf("%+v page %d: %d items, cursor %q; bbolt %d items, cursor %q", q, page, len(got.Items), got.NextCursor, len(want.Items), want.NextCursor)
				}
				for i := range got.Items {
					g, w := got.Items[i], want.Items[i]
					g.IndexedAt = w.IndexedAt // set by each engine's clock
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("%+v page %d item %d:\n pg    %+v\n bbolt %+v", q, page, i, g, w)
					}
				}
				if want.NextCursor == "" {
					break
				}
				q.Cursor = want.NextCursor
			}
		}
	}
	for _, field := range []string{"make", "model", "year"} {
		want, _ := bolt.Facets(ctx, field, "")
		got, _ := pg.Facets(ctx, field, "")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("facets %s: pg %v, bbolt %v", field, got, want)
		}
	}
}

// TestVerifyCatchesDrift damages each kind of derived data behind the
// store's back; Verify must report every one. A commit over a record that
// no longer decodes fails whole and keeps its intent.
func TestVerifyCatchesDrift(t *testing.T) {
	ctx := context.Background()
	s, conn, _ := openWithConn(t)
	rec := metastore.Record{Bucket: "b", Key: "k", Size: 10, Make: "Canon", Owner: "ann", Status: "ok", TakenAt: base}
	if err := s.Commit(ctx, 0, metastore.Put(rec)); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct{ name, do, undo string }{
		{"bucket usage", "UPDATE bucket_usage SET bytes = bytes + 1", "UPDATE bucket_usage SET bytes = bytes - 1"},
		{"owner usage", "UPDATE owner_usage SET objects = objects + 1", "UPDATE owner_usage SET objects = objects - 1"},
		{"status", "UPDATE status_counts SET n = 2", "UPDATE status_counts SET n = 1"},
		{"facet", "DELETE FROM facets WHERE field = 'year'", ""},
		{"indexed column", "UPDATE records SET make = 'nikon'", "UPDATE records SET make = 'canon'"},
		{"geo column", "UPDATE records SET lat = 1, lon = 1", "UPDATE records SET lat = NULL, lon = NULL"},
	} {
		if _, err := conn.Exec(ctx, damage.do); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(ctx); !errors.Is(err, metastore.ErrCorrupt) {
			t.Errorf("%s: Verify = %v, want ErrCorrupt", damage.name, err)
		}
		if damage.undo == "" {
			// Rebuild by rewriting the record: the facet comes back.
			if err := s.Commit(ctx, 0, metastore.Delete("b", "k")); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "DELETE FROM facets"); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, 0, metastore.Put(rec)); err != nil {
				t.Fatal(err)
			}
		} else if _, err := conn.Exec(ctx, damage.undo); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(ctx); err != nil {
			t.Fatalf("after undoing %s: %v", damage.name, err)
		}
	}

	id, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE records SET rec = '\x01ff'::bytea`); err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, id, metastore.Put(metastore.Record{Bucket: "b", Key: "new"}), metastore.Put(rec))
	if !errors.Is(err, metastore.ErrCorrupt) {
		t.Fatalf("commit over a corrupt record: %v", err)
	}
	if _, ok, _ := s.Get(ctx, "b", "new"); ok {
		t.Error("first mutation of a failed commit was applied")
	}
	if p, _ := s.PendingIntents(ctx); len(p) != 1 || p[0].ID != id {
		t.Errorf("intent of a failed commit: %+v", p)
	}
	if err := s.Verify(ctx); !errors.Is(err, metastore.ErrCorrupt) {
		t.Errorf("Verify does not report the damage: %v", err)
	}
}
