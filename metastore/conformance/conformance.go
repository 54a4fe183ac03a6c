// Package conformance is the one test suite every metastore.Index engine
// passes: records and mutations, intents, the job queue, search with every
// filter, order and pagination, facets, stats and usage. The expectations
// are the bbolt engine's documented behaviour, so an engine that passes
// returns what metastore.Store returns.
//
// An engine's tests call Run with a function that opens a fresh, empty
// index for each subtest (and closes it at the end of that subtest).
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
)

// maxJobAttempts is the default every engine uses: a job fails when it
// would be leased a sixth time.
const maxJobAttempts = 5

// Run runs the suite; open returns a fresh, empty index.
func Run(t *testing.T, open func(t *testing.T) metastore.Index) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, metastore.Index)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"UpdateReplaces", testUpdateReplaces},
		{"SetTags", testSetTags},
		{"DeleteBucket", testDeleteBucket},
		{"CommitValidation", testCommitValidation},
		{"CommitIsolatesCallerData", testCommitIsolatesCallerData},
		{"LongValues", testLongValues},
		{"OddBytes", testOddBytes},
		{"Scan", testScan},
		{"Intents", testIntents},
		{"Abandon", testAbandon},
		{"BeginIntentValidation", testBeginIntentValidation},
		{"JobLeaseFinish", testJobLeaseFinish},
		{"JobRetryAndFail", testJobRetryAndFail},
		{"JobLeaseExpiryCountsAttempts", testJobLeaseExpiryCountsAttempts},
		{"JobEnqueuedWithCommit", testJobEnqueuedWithCommit},
		{"JobFailAndRetryFailed", testJobFailAndRetryFailed},
		{"JobsListing", testJobsListing},
		{"JobsLimit", testJobsLimit},
		{"ReplacedJobs", testReplacedJobs},
		{"Placeholder", testPlaceholder},
		{"SearchFilters", testSearchFilters},
		{"SearchValidation", testSearchValidation},
		{"SearchLimit", testSearchLimit},
		{"SearchCancelled", testSearchCancelled},
		{"PaginationWalksAllPages", testPaginationWalksAllPages},
		{"PaginationUnderConcurrentWrites", testPaginationUnderConcurrentWrites},
		{"Facets", testFacets},
		{"FacetYearUsesOffset", testFacetYearUsesOffset},
		{"TakenMonthsAgreeWithSearch", testTakenMonths},
		{"FacetDisplayFollowsFirstWriter", testFacetDisplay},
		{"Stats", testStats},
		{"OwnerUsageFollowsRecords", testOwnerUsage},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Backup", testBackup},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testPutGetDelete(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	r := photo("b", "a.jpg", func(r *metastore.Record) { r.Tags = map[string]string{"x": "1"} })
	commit(t, s, metastore.Put(r))

	got, ok, err := s.Get(ctx, "b", "a.jpg")
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if got.IndexedAt.IsZero() {
		t.Error("IndexedAt not defaulted")
	}
	got.IndexedAt = r.IndexedAt
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("Get:\n got %+v\nwant %+v", got, r)
	}
	if _, ok, _ := s.Get(ctx, "b", "missing"); ok {
		t.Fatal("Get of a missing key found something")
	}
	if _, ok, _ := s.Get(ctx, "other", "a.jpg"); ok {
		t.Fatal("Get in another bucket found something")
	}
	for _, q := range []metastore.Query{
		{Make: "canon"}, {Lens: r.Lens}, {Tags: map[string]string{"x": "1"}}, {HasGPS: yes()},
		{TakenAfter: base}, {MinSize: 1000, MaxSize: 1000}, {Format: "jpeg"}, {ContentType: "image/jpeg"},
	} {
		if got := names(search(t, s, q).Items); !slices.Equal(got, []string{"b/a.jpg"}) {
			t.Errorf("%+v: %q", q, got)
		}
	}
	verify(t, s)

	commit(t, s, metastore.Delete("b", "a.jpg"))
	if _, ok, _ := s.Get(ctx, "b", "a.jpg"); ok {
		t.Fatal("deleted record still there")
	}
	st, _ := s.Stats(ctx)
	if st.Objects != 0 || len(st.Buckets) != 0 || len(st.Status) != 0 || len(st.Owners) != 0 {
		t.Errorf("stats after delete: %+v", st)
	}
	if f, _ := s.Facets(ctx, "make", ""); len(f) != 0 {
		t.Errorf("facets after delete: %v", f)
	}
	if p := search(t, s, metastore.Query{}); len(p.Items) != 0 {
		t.Errorf("search after delete: %q", names(p.Items))
	}
	commit(t, s, metastore.Delete("b", "a.jpg")) // deleting twice is fine
	verify(t, s)
}

// testUpdateReplaces replaces a record with one that differs in every
// indexed field: no filter may still find it by an old value.
func testUpdateReplaces(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	commit(t, s, metastore.Put(photo("b", "k", func(r *metastore.Record) { r.Tags = map[string]string{"a": "1", "b": "2"} })))
	upd := photo("b", "k", func(r *metastore.Record) {
		r.Size = 5000
		r.TakenAt = base.AddDate(1, 0, 0)
		r.Make, r.Model, r.Lens = "Nikon", "Z9", "NIKKOR Z 50mm"
		r.Format, r.ContentType = "heic", "image/heic"
		r.Tags = map[string]string{"a": "changed"}
		r.GPS = &metastore.GPS{Lat: -33.86, Lon: 151.21}
	})
	commit(t, s, metastore.Put(upd))
	for _, tc := range []struct {
		q    metastore.Query
		want int
	}{
		{metastore.Query{Make: "canon"}, 0},
		{metastore.Query{Model: "eos r5"}, 0},
		{metastore.Query{Lens: "RF24-105mm F4 L IS USM"}, 0},
		{metastore.Query{Format: "jpeg"}, 0},
		{metastore.Query{Tags: map[string]string{"a": "1"}}, 0},
		{metastore.Query{Tags: map[string]string{"b": "2"}}, 0},
		{metastore.Query{Near: &metastore.Near{Lat: 48.8584, Lon: 2.2945, RadiusKm: 10}}, 0},
		{metastore.Query{TakenBefore: base.AddDate(0, 0, 1)}, 0},
		{metastore.Query{MaxSize: 1000}, 0},
		{metastore.Query{Make: "nikon", Model: "z9"}, 1},
		{metastore.Query{Tags: map[string]string{"a": "changed"}}, 1},
		{metastore.Query{Near: &metastore.Near{Lat: -33.86, Lon: 151.21, RadiusKm: 1}}, 1},
		{metastore.Query{MinSize: 5000}, 1},
	} {
		if p := search(t, s, tc.q); len(p.Items) != tc.want {
			t.Errorf("%+v: %d items, want %d", tc.q, len(p.Items), tc.want)
		}
	}
	st, _ := s.Stats(ctx)
	if st.Objects != 1 || st.Bytes != 5000 {
		t.Errorf("stats after update: %+v", st)
	}
	verify(t, s)

	// Removing GPS, camera, lens and tags removes them from search.
	commit(t, s, metastore.Put(photo("b", "k", func(r *metastore.Record) { r.GPS, r.Make, r.Model, r.Lens, r.Tags = nil, "", "", "", nil })))
	for _, q := range []metastore.Query{{HasGPS: yes()}, {Make: "nikon"}, {Model: "z9"}, {Lens: "nikkor z 50mm"}, {Tags: map[string]string{"a": "changed"}}} {
		if p := search(t, s, q); len(p.Items) != 0 {
			t.Errorf("%+v after removing the field: %q", q, names(p.Items))
		}
	}
	if f, _ := s.Facets(ctx, "make", ""); len(f) != 0 {
		t.Errorf("make facets after removing the make: %v", f)
	}
	verify(t, s)
}

func testSetTags(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	commit(t, s, metastore.Put(photo("b", "k", func(r *metastore.Record) { r.Tags = map[string]string{"old": "1"} })))
	commit(t, s, metastore.SetTags("b", "k", map[string]string{"new": "2"}))
	r, _, _ := s.Get(ctx, "b", "k")
	if !reflect.DeepEqual(r.Tags, map[string]string{"new": "2"}) {
		t.Fatalf("tags %v", r.Tags)
	}
	if p := search(t, s, metastore.Query{Tags: map[string]string{"old": "1"}}); len(p.Items) != 0 {
		t.Error("old tag still indexed")
	}
	if p := search(t, s, metastore.Query{Tags: map[string]string{"new": "2"}}); len(p.Items) != 1 {
		t.Error("new tag not indexed")
	}
	commit(t, s, metastore.SetTags("b", "k", nil))
	if r, _, _ := s.Get(ctx, "b", "k"); r.Tags != nil {
		t.Errorf("tags not cleared: %v", r.Tags)
	}
	commit(t, s, metastore.SetTags("b", "absent", map[string]string{"x": "y"})) // no-op
	if _, ok, _ := s.Get(ctx, "b", "absent"); ok {
		t.Error("SetTags created a record")
	}
	verify(t, s)
}

func testDeleteBucket(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	var muts []metastore.Mutation
	for _, k := range seq("k", 2500) {
		muts = append(muts, metastore.Put(photo("gone", k, func(r *metastore.Record) { r.Owner = "ann" })))
	}
	muts = append(muts, metastore.Put(photo("kept", "k")), metastore.Put(photo("gone2", "k")))
	commit(t, s, muts...)
	commit(t, s, metastore.DeleteBucket("gone"))
	st, _ := s.Stats(ctx)
	if st.Objects != 2 || len(st.Buckets) != 2 || st.Buckets[0].Name != "gone2" || st.Buckets[1].Name != "kept" {
		t.Fatalf("stats: %+v", st)
	}
	if len(st.Owners) != 0 {
		t.Fatalf("owner counters outlived their records: %+v", st.Owners)
	}
	if p := search(t, s, metastore.Query{Bucket: "gone"}); len(p.Items) != 0 {
		t.Fatal("records of the deleted bucket are still found")
	}
	if f, _ := s.Facets(ctx, "make", "gone"); len(f) != 0 {
		t.Fatalf("facets of the deleted bucket: %v", f)
	}
	verify(t, s)
}

func testCommitValidation(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	for name, m := range map[string]metastore.Mutation{
		"no op":        {},
		"empty bucket": metastore.Put(photo("", "k")),
		"empty key":    metastore.Put(photo("b", "")),
		"nul bucket":   metastore.Put(photo("a\x00b", "k")),
		"delete nokey": metastore.Delete("b", ""),
		"bad job":      metastore.EnqueueJob(metastore.Job{}),
	} {
		if err := s.Commit(ctx, 0, m); !errors.Is(err, metastore.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	// A failed commit changes nothing, including its valid siblings.
	if err := s.Commit(ctx, 0, metastore.Put(photo("b", "ok")), metastore.Put(photo("b", ""))); err == nil {
		t.Fatal("no error")
	}
	if _, ok, _ := s.Get(ctx, "b", "ok"); ok {
		t.Fatal("part of a failed commit was applied")
	}
	// A cancelled context refuses the write before it starts.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Commit(cctx, 0, metastore.Put(photo("b", "cancelled"))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled commit: %v", err)
	}
}

// testCommitIsolatesCallerData checks that a record handed to Commit is
// copied: the caller may reuse its maps at once.
func testCommitIsolatesCallerData(t *testing.T, s metastore.Index) {
	r := photo("b", "k", func(r *metastore.Record) { r.Tags = map[string]string{"a": "1"} })
	commit(t, s, metastore.Put(r))
	r.Tags["a"] = "2"
	r.GPS.Lat = 0
	got, _, _ := s.Get(context.Background(), "b", "k")
	if got.Tags["a"] != "1" || got.GPS.Lat == 0 {
		t.Fatalf("stored record changed with the caller's copy: %+v", got)
	}
}

// testLongValues: values far beyond any index's key limit are stored and
// matched in full, also where they share a long prefix.
func testLongValues(t *testing.T, s metastore.Index) {
	// 40 kB that does not compress, so no engine can squeeze it into an
	// index entry.
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for sb.Len() < 40_000 {
		fmt.Fprintf(&sb, "%016x", rng.Uint64())
	}
	long := sb.String()
	commit(t, s,
		metastore.Put(photo("b", "one", func(r *metastore.Record) { r.Lens = long + "one"; r.Tags = map[string]string{"t": long + "1"} })),
		metastore.Put(photo("b", "two", func(r *metastore.Record) { r.Lens = long + "two"; r.Tags = map[string]string{"t": long + "2"} })),
	)
	if got := names(search(t, s, metastore.Query{Lens: long + "TWO"}).Items); !slices.Equal(got, []string{"b/two"}) {
		t.Errorf("long lens: %q", got)
	}
	if got := names(search(t, s, metastore.Query{Tags: map[string]string{"t": long + "1"}}).Items); !slices.Equal(got, []string{"b/one"}) {
		t.Errorf("long tag: %q", got)
	}
	verify(t, s)
}

// testOddBytes: keys, tags and camera fields with NUL, backslashes and
// invalid UTF-8 are stored as given, ordered byte-wise and matched
// exactly.
func testOddBytes(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	keys := []string{"a\x00b", "a\\0b", "a\xffb", "a\xc3\xa9b", "a", "a/b"}
	var muts []metastore.Mutation
	for _, k := range keys {
		muts = append(muts, metastore.Put(photo("b", k, func(r *metastore.Record) {
			r.Make = "Ma\\ke" + k
			r.Tags = map[string]string{"t\x00": k, "t": "plain"}
			r.Owner = "own\xfe"
		})))
	}
	commit(t, s, muts...)
	want := slices.Clone(keys)
	slices.Sort(want) // byte order
	var got []string
	for _, r := range search(t, s, metastore.Query{}).Items {
		got = append(got, r.Key)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("key order %q, want %q", got, want)
	}
	for _, k := range keys {
		r, ok, err := s.Get(ctx, "b", k)
		if err != nil || !ok || r.Key != k || r.Tags["t\x00"] != k {
			t.Fatalf("Get(%q): %+v %v %v", k, r, ok, err)
		}
		for _, q := range []metastore.Query{{Make: "ma\\ke" + k}, {Tags: map[string]string{"t\x00": k}}} {
			if got := search(t, s, q).Items; len(got) != 1 || got[0].Key != k {
				t.Errorf("%+v: %q", q, names(got))
			}
		}
	}
	if got := search(t, s, metastore.Query{Tags: map[string]string{"t": "a"}}).Items; len(got) != 0 {
		t.Errorf("tag t=a matched %q", names(got))
	}
	if n, _, err := s.OwnerUsage(ctx, "own\xfe"); err != nil || n != int64(len(keys)) {
		t.Errorf("owner usage: %d %v", n, err)
	}
	got = nil
	if err := s.Scan(ctx, "b", "a", func(r metastore.Record) error { got = append(got, r.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scan order %q, want %q", got, want)
	}
	verify(t, s)
}

func testScan(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	var muts []metastore.Mutation
	for _, k := range seq("a/", 700) { // more than one chunk
		muts = append(muts, metastore.Put(photo("b1", k)))
	}
	muts = append(muts, metastore.Put(photo("b1", "b/x")), metastore.Put(photo("b0", "a/first")), metastore.Put(photo("b2", "a/last")))
	commit(t, s, muts...)

	collect := func(bucket, prefix string) []string {
		var out []string
		err := s.Scan(ctx, bucket, prefix, func(r metastore.Record) error {
			out = append(out, r.Bucket+"/"+r.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := collect("b1", "a/")
	if len(got) != 700 || !slices.IsSorted(got) || got[0] != "b1/a/0000" {
		t.Fatalf("scan b1 a/: %d items, sorted %v", len(got), slices.IsSorted(got))
	}
	if got := collect("", "a/"); len(got) != 702 || got[0] != "b0/a/first" || got[701] != "b2/a/last" {
		t.Fatalf("scan all buckets: %d items", len(got))
	}
	if got := collect("b1", "b/"); !slices.Equal(got, []string{"b1/b/x"}) {
		t.Fatalf("scan b/: %q", got)
	}
	if got := collect("none", ""); len(got) != 0 {
		t.Fatalf("scan of a missing bucket: %q", got)
	}
	// fn runs outside any transaction, so it may write to the store; an
	// error from fn stops the scan and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := s.Scan(ctx, "b1", "a/", func(r metastore.Record) error {
		if n++; n == 600 {
			return stop
		}
		return s.Commit(ctx, 0, metastore.Delete(r.Bucket, r.Key))
	})
	if err != stop || n != 600 {
		t.Fatalf("scan stopped with %v after %d", err, n)
	}
	if got := collect("b1", "a/"); len(got) != 101 {
		t.Fatalf("%d left after deleting during the scan", len(got))
	}
	verify(t, s)
}

func testIntents(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	created := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	id1, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k1"}, Owner: "ann", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("del/%c%d\x00\xff", 'a'+i%26, i)
	}
	id2, err := s.BeginIntent(ctx, metastore.Intent{Op: "DeleteObjects", Bucket: "b", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	id0, err := s.BeginIntent(ctx, metastore.Intent{Op: "DeleteBucket", Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 || id1 == 0 || id0 <= id2 {
		t.Fatalf("ids %d, %d, %d: want increasing, non-zero", id1, id2, id0)
	}
	pending, err := s.PendingIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 {
		t.Fatalf("%d pending intents, want 3", len(pending))
	}
	if want := (metastore.Intent{ID: id1, Op: "PutObject", Bucket: "b", Keys: []string{"k1"}, Owner: "ann", Created: created}); !reflect.DeepEqual(pending[0], want) {
		t.Errorf("intent 1: %+v, want %+v", pending[0], want)
	}
	if pending[1].ID != id2 || !reflect.DeepEqual(pending[1].Keys, keys) || pending[1].Created.IsZero() {
		t.Errorf("intent 2: %+v", pending[1].ID)
	}
	if pending[2].ID != id0 || pending[2].Keys != nil {
		t.Errorf("intent without keys: %+v", pending[2])
	}
	if st, _ := s.Stats(ctx); st.PendingIntents != 3 {
		t.Errorf("stats: %d pending intents", st.PendingIntents)
	}
	// Resolving: each commit applies its mutations and clears its intent
	// together.
	if err := s.Commit(ctx, id1, metastore.Put(photo("b", "k1"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, id2, metastore.Delete("b", keys[0])); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, id0); err != nil {
		t.Fatal(err)
	}
	if pending, _ := s.PendingIntents(ctx); len(pending) != 0 {
		t.Fatalf("intents left after recovery: %+v", pending)
	}
	if _, ok, _ := s.Get(ctx, "b", "k1"); !ok {
		t.Fatal("commit of an intent did not apply its mutation")
	}
	// Committing again is idempotent; IDs are never reused.
	if err := s.Commit(ctx, id1, metastore.Put(photo("b", "k1"))); err != nil {
		t.Fatal(err)
	}
	id3, _ := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k"}})
	if id3 <= id0 {
		t.Fatalf("id %d reused after %d", id3, id0)
	}
	verify(t, s)
}

func testAbandon(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	id, _ := s.BeginIntent(ctx, metastore.Intent{Op: "DeleteObject", Bucket: "b", Keys: []string{"k"}})
	if err := s.Abandon(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Abandon(ctx, id); err != nil { // idempotent
		t.Fatal(err)
	}
	if p, _ := s.PendingIntents(ctx); len(p) != 0 {
		t.Fatalf("pending after abandon: %+v", p)
	}
	// Committing an intent that is gone still applies the mutations: the
	// backend confirmed them.
	if err := s.Commit(ctx, id, metastore.Put(photo("b", "k"))); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "b", "k"); !ok {
		t.Fatal("mutation not applied")
	}
}

func testBeginIntentValidation(t *testing.T, s metastore.Index) {
	for _, in := range []metastore.Intent{
		{Bucket: "b"},
		{Op: "PutObject"},
		{Op: "PutObject", Bucket: "b", Owner: strings.Repeat("x", 256)},
		{Op: "DeleteObjects", Bucket: "b", Keys: make([]string, 1001)},
	} {
		if _, err := s.BeginIntent(context.Background(), in); !errors.Is(err, metastore.ErrInvalid) {
			t.Errorf("%+v: %v", in.Op, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func lease(t *testing.T, s metastore.Index, kind string, now time.Time) (metastore.Job, bool) {
	t.Helper()
	j, ok, err := s.Lease(context.Background(), kind, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return j, ok
}

func testJobLeaseFinish(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	now := time.Now()
	before := now.Add(-time.Millisecond)
	id1, _ := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "b", Key: "1", ETag: "e1", NotBefore: now.Add(-time.Second)})
	id2, _ := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "b", Key: "2", NotBefore: now.Add(-time.Second)})
	id3, _ := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "b", Key: "later", NotBefore: now.Add(time.Hour)})
	_, _ = s.Enqueue(ctx, metastore.Job{Kind: "thumb", Bucket: "b", Key: "1"})

	// Due jobs come out oldest-due first, FIFO among equals, one kind only.
	j, ok := lease(t, s, "extract", now)
	want := metastore.Job{ID: id1, Kind: "extract", Bucket: "b", Key: "1", ETag: "e1", State: metastore.JobRunning, Attempts: 1}
	if !ok || !j.NotBefore.Equal(now.Add(time.Minute)) {
		t.Fatalf("first lease: hidden until %v, want %v", j.NotBefore, now.Add(time.Minute))
	}
	if j.Created.Before(before) || j.Created.After(time.Now()) {
		t.Fatalf("first lease: created %v, not when enqueued", j.Created)
	}
	if j.NotBefore, j.Created = (time.Time{}), (time.Time{}); !reflect.DeepEqual(j, want) {
		t.Fatalf("first lease:\n got %+v %v\nwant %+v", j, ok, want)
	}
	j2, ok := lease(t, s, "extract", now)
	if !ok || j2.ID != id2 {
		t.Fatalf("second lease: %+v %v", j2, ok)
	}
	// Leased jobs are hidden; the future job is not due yet.
	if j, ok := lease(t, s, "extract", now); ok {
		t.Fatalf("leased a hidden or future job: %+v", j)
	}
	// After the lease expires the job is visible again, before the future one.
	j, ok = lease(t, s, "extract", now.Add(2*time.Minute))
	if !ok || j.ID != id1 || j.Attempts != 2 {
		t.Fatalf("after expiry: %+v %v", j, ok)
	}
	if err := s.Finish(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, id1); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := s.Finish(ctx, id2); err != nil {
		t.Fatal(err)
	}
	j, ok = lease(t, s, "extract", now.Add(2*time.Hour))
	if !ok || j.ID != id3 {
		t.Fatalf("future job: %+v %v", j, ok)
	}
	st, _ := s.Stats(ctx)
	if want := map[string]metastore.JobStats{"extract": {Queued: 1}, "thumb": {Queued: 1}}; !reflect.DeepEqual(st.Jobs, want) {
		t.Fatalf("job stats %+v", st.Jobs)
	}
	verify(t, s)

	if _, _, err := s.Lease(ctx, "extract", now, 0); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("zero lease: %v", err)
	}
	if _, err := s.Enqueue(ctx, metastore.Job{Kind: "a\x00b"}); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("NUL in kind: %v", err)
	}
}

// getJob reads a job that must exist.
func getJob(t *testing.T, s metastore.Index, id uint64) metastore.Job {
	t.Helper()
	j, ok, err := s.GetJob(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("GetJob(%d): %+v %v %v", id, j, ok, err)
	}
	return j
}

// jobIDs lists the IDs of the jobs q selects.
func jobIDs(t *testing.T, s metastore.Index, q metastore.JobQuery) []uint64 {
	t.Helper()
	jobs, err := s.Jobs(context.Background(), q)
	if err != nil {
		t.Fatalf("Jobs(%+v): %v", q, err)
	}
	out := []uint64{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// testJobRetryAndFail: the retry after the last allowed attempt gives the
// job up as failed, kept with its last error, until RetryFailed.
func testJobRetryAndFail(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	id, _ := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "b", Key: "k"})
	for attempt := 1; attempt <= maxJobAttempts; attempt++ {
		// Retry delays from the real clock, so each lease looks far enough
		// ahead of it for the previous delay to have passed.
		at := time.Now().Add(time.Duration(attempt-1) * 2 * time.Hour)
		j, ok := lease(t, s, "extract", at)
		if !ok || j.ID != id || j.Attempts != attempt || j.State != metastore.JobRunning {
			t.Fatalf("attempt %d: %+v %v", attempt, j, ok)
		}
		if attempt > 1 && j.LastError != "backend 503" {
			t.Fatalf("attempt %d does not carry the last error: %+v", attempt, j)
		}
		if err := s.Retry(ctx, id, errors.New("backend 503"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if attempt < maxJobAttempts {
			if j := getJob(t, s, id); j.State != metastore.JobQueued || j.LastError != "backend 503" {
				t.Fatalf("retried job: %+v", j)
			}
			// Hidden for the back-off.
			if _, ok := lease(t, s, "extract", time.Now().Add(30*time.Minute)); ok {
				t.Fatal("retried job visible before its delay")
			}
		}
	}
	// The last failure gave it up: kept, never leased.
	if _, ok := lease(t, s, "extract", time.Now().Add(24*time.Hour)); ok {
		t.Fatal("failed job leased")
	}
	j := getJob(t, s, id)
	if j.State != metastore.JobFailed || j.LastError != "backend 503" || j.Attempts != maxJobAttempts {
		t.Fatalf("failed job: %+v", j)
	}
	st, _ := s.Stats(ctx)
	if js := st.Jobs["extract"]; js != (metastore.JobStats{Failed: 1}) {
		t.Fatalf("job stats %+v", js)
	}
	verify(t, s)
	// A late Retry (from a worker whose lease had expired) leaves it failed.
	if err := s.Retry(ctx, id, errors.New("late"), 0); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, s, id); j.State != metastore.JobFailed || j.LastError != "backend 503" {
		t.Fatalf("late retry changed a failed job: %+v", j)
	}
	// Finish removes it like any job; a gone job is no error to Retry.
	if err := s.Finish(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetJob(ctx, id); ok || err != nil {
		t.Fatalf("finished failed job still there: %v %v", ok, err)
	}
	if err := s.Retry(ctx, id, nil, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); len(st.Jobs) != 0 {
		t.Fatalf("job stats after finish %+v", st.Jobs)
	}
	verify(t, s)
}

// testJobLeaseExpiryCountsAttempts: a worker that dies without Finish or
// Retry must not get the job forever.
func testJobLeaseExpiryCountsAttempts(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	now := time.Now()
	id1, _ := s.Enqueue(ctx, metastore.Job{Kind: "k", Bucket: "b", Key: "poison", NotBefore: now})
	id2, _ := s.Enqueue(ctx, metastore.Job{Kind: "k", Bucket: "b", Key: "fine", NotBefore: now.Add(time.Duration(2*maxJobAttempts)*time.Minute + time.Second)})
	// Leases at +1m, +3m, ... go to the poison job; its worker dies each
	// time, so the lease just expires.
	for i := range maxJobAttempts {
		at := time.Duration(2*i+1) * time.Minute
		j, ok := lease(t, s, "k", now.Add(at))
		if !ok || j.Key != "poison" || j.Attempts != i+1 {
			t.Fatalf("lease at %v: %+v %v", at, j, ok)
		}
	}
	// The next lease fails the poison job and hands out the next one.
	j, ok := lease(t, s, "k", now.Add(time.Duration(2*maxJobAttempts+1)*time.Minute))
	if !ok || j.ID != id2 {
		t.Fatalf("after poison: %+v %v", j, ok)
	}
	poison := getJob(t, s, id1)
	if want := fmt.Sprintf("gave up after %d attempts", maxJobAttempts); poison.State != metastore.JobFailed || poison.LastError != want {
		t.Fatalf("poison job: %+v, want failed with %q", poison, want)
	}
	st, _ := s.Stats(ctx)
	if st.Jobs["k"] != (metastore.JobStats{Queued: 1, Failed: 1}) {
		t.Fatalf("stats %+v", st.Jobs)
	}
	verify(t, s)
}

// testJobFailAndRetryFailed: Fail gives a job up at once; RetryFailed
// queues failed jobs again by kind or by ID, resetting the attempts but
// keeping the reason.
func testJobFailAndRetryFailed(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	a, _ := s.Enqueue(ctx, metastore.Job{Kind: "thumb", Bucket: "b", Key: "a", ETag: "ea"})
	b, _ := s.Enqueue(ctx, metastore.Job{Kind: "thumb", Bucket: "b", Key: "b"})
	c, _ := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "b", Key: "c"})
	if j, ok := lease(t, s, "thumb", time.Now()); !ok || j.ID != a {
		t.Fatalf("lease: %+v %v", j, ok)
	}
	for _, id := range []uint64{a, b, c} {
		if err := s.Fail(ctx, id, fmt.Sprintf("not a photo %d", id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Fail(ctx, 999999, "gone"); err != nil {
		t.Fatalf("Fail of a gone job: %v", err)
	}
	if j := getJob(t, s, a); j.State != metastore.JobFailed || j.LastError != fmt.Sprintf("not a photo %d", a) || j.Attempts != 1 {
		t.Fatalf("failed job: %+v", j)
	}
	if j, ok := lease(t, s, "thumb", time.Now().Add(time.Hour)); ok {
		t.Fatalf("failed job leased: %+v", j)
	}
	st, _ := s.Stats(ctx)
	if want := map[string]metastore.JobStats{"thumb": {Failed: 2}, "extract": {Failed: 1}}; !reflect.DeepEqual(st.Jobs, want) {
		t.Fatalf("stats %+v", st.Jobs)
	}
	verify(t, s)

	// By ID, and only a failed job of the kind asked for.
	if n, err := s.RetryFailed(ctx, "extract", a); err != nil || n != 0 {
		t.Fatalf("RetryFailed of another kind's job: %d %v", n, err)
	}
	before := time.Now()
	if n, err := s.RetryFailed(ctx, "", a); err != nil || n != 1 {
		t.Fatalf("RetryFailed by id: %d %v", n, err)
	}
	j := getJob(t, s, a)
	if j.State != metastore.JobQueued || j.Attempts != 0 || j.LastError != fmt.Sprintf("not a photo %d", a) ||
		j.NotBefore.Before(before.Add(-time.Millisecond)) || j.NotBefore.After(time.Now()) {
		t.Fatalf("retried job: %+v", j)
	}
	if n, err := s.RetryFailed(ctx, "", a); err != nil || n != 0 {
		t.Fatalf("RetryFailed of a queued job: %d %v", n, err)
	}
	// By kind.
	if n, err := s.RetryFailed(ctx, "thumb", 0); err != nil || n != 1 {
		t.Fatalf("RetryFailed thumb: %d %v", n, err)
	}
	if got := jobIDs(t, s, metastore.JobQuery{State: metastore.JobFailed}); !slices.Equal(got, []uint64{c}) {
		t.Fatalf("failed after retrying thumb: %v", got)
	}
	if j, ok := lease(t, s, "thumb", time.Now()); !ok || j.ID != a || j.Attempts != 1 {
		t.Fatalf("lease after RetryFailed: %+v %v", j, ok)
	}
	// Every kind.
	if n, err := s.RetryFailed(ctx, "", 0); err != nil || n != 1 {
		t.Fatalf("RetryFailed all: %d %v", n, err)
	}
	st, _ = s.Stats(ctx)
	if want := map[string]metastore.JobStats{"thumb": {Queued: 2}, "extract": {Queued: 1}}; !reflect.DeepEqual(st.Jobs, want) {
		t.Fatalf("stats %+v", st.Jobs)
	}
	verify(t, s)
}

// testJobsListing: Jobs filters by kind, state (as of now: an expired
// lease reads as queued) and object, in ID order from a cursor.
func testJobsListing(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	due := time.Now().Add(-2 * time.Hour)
	enqueue := func(kind, bucket, key string) uint64 {
		t.Helper()
		id, err := s.Enqueue(ctx, metastore.Job{Kind: kind, Bucket: bucket, Key: key, ETag: "e-" + key, NotBefore: due})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	t1 := enqueue("thumb", "b", "x.jpg")
	e1 := enqueue("extract", "b", "x.jpg")
	t2 := enqueue("thumb", "b", "y.jpg")
	t3 := enqueue("thumb", "c", "x.jpg")  // same key, other bucket
	t4 := enqueue("thumb", "b", "x.jpgz") // key with x.jpg as prefix
	e2 := enqueue("extract", "b", "x.jpg\x00")
	t5 := enqueue("thumb", "b", "x.jpg")

	// t1 is running; t2's lease has expired (its worker died), so it
	// reads as queued; t3 has failed.
	if j, ok, err := s.Lease(ctx, "thumb", time.Now(), time.Hour); err != nil || !ok || j.ID != t1 {
		t.Fatalf("lease t1: %+v %v %v", j, ok, err)
	}
	if j, ok, err := s.Lease(ctx, "thumb", time.Now().Add(-time.Hour), time.Minute); err != nil || !ok || j.ID != t2 {
		t.Fatalf("lease t2: %+v %v %v", j, ok, err)
	}
	if err := s.Fail(ctx, t3, "broken"); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, s, t1); j.State != metastore.JobRunning || j.Attempts != 1 {
		t.Fatalf("running job: %+v", j)
	}
	if j := getJob(t, s, t2); j.State != metastore.JobQueued || j.Attempts != 1 {
		t.Fatalf("expired lease: %+v", j)
	}
	if _, ok, err := s.GetJob(ctx, 999999); ok || err != nil {
		t.Fatalf("GetJob of a missing job: %v %v", ok, err)
	}

	for _, c := range []struct {
		q    metastore.JobQuery
		want []uint64
	}{
		{metastore.JobQuery{}, []uint64{t1, e1, t2, t3, t4, e2, t5}},
		{metastore.JobQuery{Kind: "thumb"}, []uint64{t1, t2, t3, t4, t5}},
		{metastore.JobQuery{Kind: "nope"}, []uint64{}},
		{metastore.JobQuery{State: metastore.JobRunning}, []uint64{t1}},
		{metastore.JobQuery{State: metastore.JobQueued}, []uint64{e1, t2, t4, e2, t5}},
		{metastore.JobQuery{State: metastore.JobFailed}, []uint64{t3}},
		{metastore.JobQuery{Kind: "extract", State: metastore.JobQueued}, []uint64{e1, e2}},
		{metastore.JobQuery{Bucket: "b", Key: "x.jpg"}, []uint64{t1, e1, t5}},
		{metastore.JobQuery{Bucket: "b", Key: "x.jpg", Kind: "thumb"}, []uint64{t1, t5}},
		{metastore.JobQuery{Bucket: "b", Key: "x.jpg", State: metastore.JobRunning}, []uint64{t1}},
		{metastore.JobQuery{Bucket: "b", Key: "x.jpg", After: t1}, []uint64{e1, t5}},
		{metastore.JobQuery{Bucket: "b", Key: "x.jpg\x00"}, []uint64{e2}},
		{metastore.JobQuery{Bucket: "c", Key: "x.jpg"}, []uint64{t3}},
		{metastore.JobQuery{Bucket: "b", Key: "none"}, []uint64{}},
		{metastore.JobQuery{Bucket: "b"}, []uint64{t1, e1, t2, t3, t4, e2, t5}}, // without Key: ignored
		{metastore.JobQuery{After: t3}, []uint64{t4, e2, t5}},
		{metastore.JobQuery{After: t5}, []uint64{}},
		{metastore.JobQuery{After: ^uint64(0)}, []uint64{}},
		{metastore.JobQuery{State: metastore.JobFailed, After: t3}, []uint64{}},
		{metastore.JobQuery{Limit: 2}, []uint64{t1, e1}},
		{metastore.JobQuery{Limit: 2, After: e1}, []uint64{t2, t3}},
		{metastore.JobQuery{Kind: "thumb", State: metastore.JobQueued, Limit: 1, After: t2}, []uint64{t4}},
	} {
		if got := jobIDs(t, s, c.q); !slices.Equal(got, c.want) {
			t.Errorf("Jobs(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	// The listed jobs are whole, with the state as of the read.
	jobs, err := s.Jobs(ctx, metastore.JobQuery{Bucket: "b", Key: "x.jpg", Kind: "extract"})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs: %+v %v", jobs, err)
	}
	if j := jobs[0]; j.ID != e1 || j.Kind != "extract" || j.Bucket != "b" || j.Key != "x.jpg" || j.ETag != "e-x.jpg" ||
		j.State != metastore.JobQueued || j.Attempts != 0 || j.Created.IsZero() || j.NotBefore.IsZero() {
		t.Fatalf("listed job: %+v", j)
	}
	if jobs, _ := s.Jobs(ctx, metastore.JobQuery{State: metastore.JobFailed}); len(jobs) != 1 || jobs[0].LastError != "broken" {
		t.Fatalf("failed job listed as %+v", jobs)
	}
	if _, err := s.Jobs(ctx, metastore.JobQuery{State: "done"}); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	// A finished job leaves every listing, the object's included.
	if err := s.Finish(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if got := jobIDs(t, s, metastore.JobQuery{Bucket: "b", Key: "x.jpg"}); !slices.Equal(got, []uint64{e1, t5}) {
		t.Errorf("object's jobs after finish: %v", got)
	}
	verify(t, s)
}

// testJobsLimit: no limit means 100, and no page holds more than 1000.
func testJobsLimit(t *testing.T, s metastore.Index) {
	muts := make([]metastore.Mutation, 1001)
	for i := range muts {
		muts[i] = metastore.EnqueueJob(metastore.Job{Kind: "thumb", Bucket: "b", Key: "same"})
	}
	commit(t, s, muts...)
	for _, c := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {1000, 1000}, {5000, 1000}} {
		if got := jobIDs(t, s, metastore.JobQuery{Limit: c.limit}); len(got) != c.want {
			t.Errorf("limit %d: %d jobs, want %d", c.limit, len(got), c.want)
		}
		if got := jobIDs(t, s, metastore.JobQuery{Limit: c.limit, Bucket: "b", Key: "same"}); len(got) != c.want {
			t.Errorf("limit %d for one object: %d jobs, want %d", c.limit, len(got), c.want)
		}
	}
	all := jobIDs(t, s, metastore.JobQuery{Limit: 1000})
	rest := jobIDs(t, s, metastore.JobQuery{After: all[len(all)-1]})
	if len(rest) != 1 || rest[0] <= all[len(all)-1] || !slices.IsSorted(all) {
		t.Errorf("second page %v after %d", rest, all[len(all)-1])
	}
}

// testReplacedJobs: Replaced enqueues a job for the version a Put
// replaces or a Delete removes, in the same commit, only for records with
// a Format whose ETag changes.
func testReplacedJobs(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	const kind = "unrender"
	put := func(r metastore.Record) metastore.Mutation {
		m := metastore.Put(r)
		m.Replaced = kind
		return m
	}
	del := func(bucket, key string) metastore.Mutation {
		m := metastore.Delete(bucket, key)
		m.Replaced = kind
		return m
	}
	jobsOf := func(key string) []metastore.Job {
		t.Helper()
		jobs, err := s.Jobs(ctx, metastore.JobQuery{Kind: kind, Bucket: "b", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	etag := func(e string) func(*metastore.Record) { return func(r *metastore.Record) { r.ETag = e } }

	commit(t, s, put(photo("b", "k", etag("v1")))) // new: nothing replaced
	commit(t, s, put(photo("b", "k", etag("v1")))) // same version again
	if jobs := jobsOf("k"); len(jobs) != 0 {
		t.Fatalf("jobs without a replaced version: %+v", jobs)
	}
	commit(t, s, put(photo("b", "k", etag("v2"))))
	if jobs := jobsOf("k"); len(jobs) != 1 || jobs[0].ETag != "v1" || jobs[0].Kind != kind || jobs[0].State != metastore.JobQueued {
		t.Fatalf("jobs after replacing v1: %+v", jobs)
	}
	commit(t, s, del("b", "k"))
	if jobs := jobsOf("k"); len(jobs) != 2 || jobs[1].ETag != "v2" {
		t.Fatalf("jobs after deleting v2: %+v", jobs)
	}
	commit(t, s, del("b", "k")) // absent
	if jobs := jobsOf("k"); len(jobs) != 2 {
		t.Fatalf("jobs after deleting an absent key: %+v", jobs)
	}
	// Records without a Format (not photos) have nothing to clean up.
	notPhoto := func(e string) func(*metastore.Record) {
		return func(r *metastore.Record) { r.ETag, r.Format = e, "" }
	}
	commit(t, s, put(photo("b", "txt", notPhoto("t1"))))
	commit(t, s, put(photo("b", "txt", notPhoto("t2"))))
	commit(t, s, del("b", "txt"))
	if jobs := jobsOf("txt"); len(jobs) != 0 {
		t.Fatalf("jobs for a record without a Format: %+v", jobs)
	}
	// Without Replaced, nothing; a failing commit enqueues nothing.
	commit(t, s, metastore.Put(photo("b", "plain", etag("p1"))))
	commit(t, s, metastore.Put(photo("b", "plain", etag("p2"))), metastore.Delete("b", "plain"))
	if err := s.Commit(ctx, 0, put(photo("b", "k", etag("v3"))), put(photo("b", ""))); err == nil {
		t.Fatal("invalid commit accepted")
	}
	bad := metastore.Delete("b", "k")
	bad.Replaced = "a\x00b"
	if err := s.Commit(ctx, 0, bad); !errors.Is(err, metastore.ErrInvalid) {
		t.Fatalf("NUL in Replaced: %v", err)
	}
	st, _ := s.Stats(ctx)
	if want := map[string]metastore.JobStats{kind: {Queued: 2}}; !reflect.DeepEqual(st.Jobs, want) {
		t.Fatalf("job stats %+v", st.Jobs)
	}
	verify(t, s)
}

// testPlaceholder: SetPlaceholder lands only on the version it was made
// from, and a Put of the same version keeps it.
func testPlaceholder(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	placeholder := func(key string) string {
		t.Helper()
		r, ok, err := s.Get(ctx, "b", key)
		if err != nil || !ok {
			t.Fatalf("Get %s: %v %v", key, ok, err)
		}
		return r.Placeholder
	}
	etag := func(e string) func(*metastore.Record) { return func(r *metastore.Record) { r.ETag = e } }
	commit(t, s, metastore.Put(photo("b", "k", etag("v1"))))
	commit(t, s, metastore.SetPlaceholder("b", "k", "v0", "b2xk")) // an older version's
	if p := placeholder("k"); p != "" {
		t.Fatalf("placeholder of another version applied: %q", p)
	}
	commit(t, s, metastore.SetPlaceholder("b", "k", "v1", "dGh1bWJoYXNo"))
	if p := placeholder("k"); p != "dGh1bWJoYXNo" {
		t.Fatalf("placeholder %q", p)
	}
	commit(t, s, metastore.SetPlaceholder("b", "absent", "v1", "eA==")) // no record: no-op
	if _, ok, _ := s.Get(ctx, "b", "absent"); ok {
		t.Fatal("SetPlaceholder created a record")
	}
	// Re-reading the same version, and changing its tags, keep it.
	commit(t, s, metastore.Put(photo("b", "k", etag("v1"), func(r *metastore.Record) { r.Make = "Nikon" })))
	commit(t, s, metastore.SetTags("b", "k", map[string]string{"a": "b"}))
	if p := placeholder("k"); p != "dGh1bWJoYXNo" {
		t.Fatalf("placeholder after same-version put: %q", p)
	}
	if got := names(search(t, s, metastore.Query{Make: "nikon"}).Items); !slices.Equal(got, []string{"b/k"}) {
		t.Fatalf("search after put: %v", got)
	}
	// A Put that brings its own replaces it; a new version loses it.
	commit(t, s, metastore.Put(photo("b", "k", etag("v1"), func(r *metastore.Record) { r.Placeholder = "bmV3" })))
	if p := placeholder("k"); p != "bmV3" {
		t.Fatalf("placeholder after a put with its own: %q", p)
	}
	commit(t, s, metastore.Put(photo("b", "k", etag("v2"))))
	if p := placeholder("k"); p != "" {
		t.Fatalf("new version kept the old placeholder: %q", p)
	}
	// Search returns it; clearing it is allowed.
	commit(t, s, metastore.SetPlaceholder("b", "k", "v2", "djI="))
	if items := search(t, s, metastore.Query{}).Items; len(items) != 1 || items[0].Placeholder != "djI=" {
		t.Fatalf("search items %+v", items)
	}
	commit(t, s, metastore.SetPlaceholder("b", "k", "v2", ""))
	if p := placeholder("k"); p != "" {
		t.Fatalf("cleared placeholder: %q", p)
	}
	// Bounded, like every stored string the index keeps per record.
	long := strings.Repeat("A", 201)
	if err := s.Commit(ctx, 0, metastore.SetPlaceholder("b", "k", "v2", long)); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("long placeholder: %v", err)
	}
	if err := s.Commit(ctx, 0, metastore.Put(photo("b", "k", func(r *metastore.Record) { r.Placeholder = long }))); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("long placeholder in a put: %v", err)
	}
	if err := s.Commit(ctx, 0, metastore.SetPlaceholder("b", "", "v2", "x")); !errors.Is(err, metastore.ErrInvalid) {
		t.Errorf("SetPlaceholder without a key: %v", err)
	}
	verify(t, s)
}

// testJobEnqueuedWithCommit: a job enqueued in a commit exists exactly when
// the commit's records do.
func testJobEnqueuedWithCommit(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	err := s.Commit(ctx, 0, metastore.Put(photo("b", "k2")), metastore.EnqueueJob(metastore.Job{Kind: "extract", Bucket: "b", Key: "k2", ETag: "e"}))
	if err != nil {
		t.Fatal(err)
	}
	// A failing commit enqueues nothing.
	if err := s.Commit(ctx, 0, metastore.EnqueueJob(metastore.Job{Kind: "extract", Key: "no"}), metastore.Put(photo("b", ""))); err == nil {
		t.Fatal("invalid commit accepted")
	}
	j, ok := lease(t, s, "extract", time.Now())
	if !ok || j.Key != "k2" || j.ETag != "e" || j.Attempts != 1 {
		t.Fatalf("lease: %+v %v", j, ok)
	}
	if j, ok := lease(t, s, "extract", time.Now().Add(time.Hour)); !ok || j.Key != "k2" || j.Attempts != 2 {
		t.Fatalf("after expiry: %+v %v", j, ok)
	}
	if j, ok := lease(t, s, "extract", time.Now().Add(time.Hour)); ok {
		t.Fatalf("second job from one enqueue: %+v", j)
	}
}

func loadFixture(t *testing.T, s metastore.Index) {
	t.Helper()
	commit(t, s, puts(Fixture())...)
	verify(t, s)
}

// testSearchFilters runs every filter case in every order, paged two at a
// time: exactly the expected items in the documented order.
func testSearchFilters(t *testing.T, s metastore.Index) {
	loadFixture(t, s)
	byName := map[string]metastore.Record{}
	for _, r := range Fixture() {
		byName[r.Bucket+"/"+r.Key] = r
	}
	for _, tc := range FilterCases() {
		t.Run(tc.Name, func(t *testing.T) {
			want := strings.Fields(tc.Want)
			got := names(search(t, s, tc.Query).Items)
			if !reflect.DeepEqual(sorted(got), sorted(want)) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
			var wantRecs []metastore.Record
			for _, n := range want {
				wantRecs = append(wantRecs, byName[n])
			}
			for _, sortBy := range Sorts() {
				q := tc.Query
				q.Sort, q.Limit = sortBy, 2
				if got, order := SearchAll(t, s, q), ExpectOrder(wantRecs, sortBy); !slices.Equal(got, order) {
					t.Fatalf("sort %q:\n got %q\nwant %q", sortBy, got, order)
				}
			}
		})
	}
}

func testSearchValidation(t *testing.T, s metastore.Index) {
	loadFixture(t, s)
	nan := func() float64 { var z float64; return z / z }()
	good := search(t, s, metastore.Query{Limit: 1})
	if good.NextCursor == "" {
		t.Fatal("no cursor after the first of 11 items")
	}
	for _, tc := range []struct {
		q     metastore.Query
		param string
	}{
		{metastore.Query{Sort: "name"}, "sort"},
		{metastore.Query{Sort: "-"}, "sort"},
		{metastore.Query{Limit: -1}, "limit"},
		{metastore.Query{Bucket: "a\x00b"}, "bucket"},
		{metastore.Query{TakenAfter: day(2021, 1, 1), TakenBefore: day(2020, 1, 1)}, "taken_before"},
		{metastore.Query{TakenAfter: day(2021, 1, 1), TakenBefore: day(2021, 1, 1)}, "taken_before"},
		{metastore.Query{Tags: map[string]string{"": "x"}}, "tags"},
		{metastore.Query{BBox: &metastore.BBox{MinLon: -181, MaxLon: 0, MinLat: 0, MaxLat: 1}}, "bbox"},
		{metastore.Query{BBox: &metastore.BBox{MinLon: 0, MaxLon: 1, MinLat: 2, MaxLat: 1}}, "bbox"},
		{metastore.Query{BBox: &metastore.BBox{MinLon: nan, MaxLon: 1, MinLat: 0, MaxLat: 1}}, "bbox"},
		{metastore.Query{Near: &metastore.Near{Lat: 91, Lon: 0, RadiusKm: 1}}, "near"},
		{metastore.Query{Near: &metastore.Near{Lat: 0, Lon: 0, RadiusKm: 0}}, "near"},
		{metastore.Query{Near: &metastore.Near{Lat: 0, Lon: 0, RadiusKm: nan}}, "near"},
		{metastore.Query{Orientation: 9}, "orientation"},
		{metastore.Query{MinWidth: -1}, "min_width"},
		{metastore.Query{MinHeight: -1}, "min_height"},
		{metastore.Query{MinMegapixels: -1}, "min_megapixels"},
		{metastore.Query{MinSize: -1}, "min_size"},
		{metastore.Query{MaxSize: -1}, "max_size"},
		{metastore.Query{MinSize: 10, MaxSize: 5}, "max_size"},
		{metastore.Query{ISOMin: -1}, "iso_min"},
		{metastore.Query{ISOMax: -1}, "iso_max"},
		{metastore.Query{ISOMin: 800, ISOMax: 100}, "iso_max"},
		{metastore.Query{Cursor: "!!!"}, "cursor"},
		{metastore.Query{Cursor: good.NextCursor, Sort: "-key"}, "cursor"},
		{metastore.Query{Cursor: good.NextCursor, Make: "canon"}, "cursor"},
		{metastore.Query{Cursor: good.NextCursor[:8]}, "cursor"},
	} {
		_, err := s.Search(context.Background(), tc.q)
		var qe *metastore.QueryError
		if !errors.As(err, &qe) || qe.Param != tc.param {
			t.Errorf("%+v: err %v, want *QueryError for %s", tc.q, err, tc.param)
		}
	}
	if _, err := s.Search(context.Background(), metastore.Query{Cursor: good.NextCursor, Limit: 5}); err != nil {
		t.Errorf("cursor with another limit: %v", err)
	}
	if _, err := s.Search(context.Background(), metastore.Query{Cursor: good.NextCursor, Sort: "key"}); err != nil {
		t.Errorf("cursor with sort=key: %v", err)
	}
	var qe *metastore.QueryError
	if _, err := s.Facets(context.Background(), "colour", ""); !errors.As(err, &qe) || qe.Param != "field" {
		t.Errorf("unknown facet field: %v", err)
	}
}

func testSearchLimit(t *testing.T, s metastore.Index) {
	var muts []metastore.Mutation
	for _, k := range seq("k", 1200) {
		muts = append(muts, metastore.Put(photo("b", k)))
	}
	commit(t, s, muts...)
	if p := search(t, s, metastore.Query{}); len(p.Items) != 100 || p.NextCursor == "" {
		t.Errorf("default limit: %d items", len(p.Items))
	}
	if p := search(t, s, metastore.Query{Limit: 5000}); len(p.Items) != 1000 {
		t.Errorf("limit above the maximum: %d items", len(p.Items))
	}
	p := search(t, s, metastore.Query{Limit: 1200})
	if len(p.Items) != 1000 {
		t.Errorf("clamped: %d", len(p.Items))
	}
	p = search(t, s, metastore.Query{Limit: 200, Cursor: p.NextCursor})
	if len(p.Items) != 200 || p.NextCursor != "" {
		t.Errorf("last page: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
	// A selective filter far from the start still fills its page.
	commit(t, s, metastore.Put(photo("b", "k1199", func(r *metastore.Record) { r.Make = "Rare" })))
	if got := names(search(t, s, metastore.Query{Make: "rare", Sort: "-size", Limit: 1}).Items); !slices.Equal(got, []string{"b/k1199"}) {
		t.Errorf("selective filter: %q", got)
	}
}

func testSearchCancelled(t *testing.T, s metastore.Index) {
	loadFixture(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, metastore.Query{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func testPaginationWalksAllPages(t *testing.T, s metastore.Index) {
	recs := stable(500)
	commit(t, s, puts(recs)...)
	for _, sortBy := range Sorts() {
		want := ExpectOrder(recs, sortBy)
		for _, limit := range []int{1, 7, 100, 499, 500, 1000} {
			got := SearchAll(t, s, metastore.Query{Sort: sortBy, Limit: limit})
			if !slices.Equal(got, want) {
				t.Fatalf("sort %q limit %d: %d items, order differs", sortBy, limit, len(got))
			}
		}
		var inB1 []metastore.Record
		for _, r := range recs {
			if r.Bucket == "b1" {
				inB1 = append(inB1, r)
			}
		}
		if got := SearchAll(t, s, metastore.Query{Bucket: "b1", Sort: sortBy, Limit: 13}); !slices.Equal(got, ExpectOrder(inB1, sortBy)) {
			t.Fatalf("sort %q in one bucket: order differs", sortBy)
		}
	}
	// The last page has no cursor, and an exact multiple does not produce
	// an empty extra page.
	p := search(t, s, metastore.Query{Limit: 500})
	if len(p.Items) != 500 || p.NextCursor != "" {
		t.Fatalf("exact page: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
}

// testPaginationUnderConcurrentWrites pages through queries while another
// goroutine inserts and deletes other keys (in every bucket, with sort keys
// all over the range, so they land before, on and after every page
// boundary). Every key that exists throughout must be returned exactly
// once, in every order.
func testPaginationUnderConcurrentWrites(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	recs := stable(300)
	commit(t, s, puts(recs)...)

	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 8))
		live := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			bucket := fmt.Sprintf("b%d", rng.IntN(4)) // b3 appears and disappears
			key := fmt.Sprintf("s/%05d-churn%d", rng.IntN(300), rng.IntN(3))
			var m metastore.Mutation
			if live[bucket+key] {
				m = metastore.Delete(bucket, key)
				delete(live, bucket+key)
			} else {
				m = metastore.Put(photo(bucket, key, func(r *metastore.Record) {
					r.TakenAt = base.Add(time.Duration(rng.IntN(17)) * time.Hour)
					r.Size = int64(rng.IntN(13))
					r.Lens = "L-even"
				}))
				live[bucket+key] = true
			}
			if err := s.Commit(ctx, 0, m); err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	// Rounds repeat until enough writes interleaved: a fast engine pages
	// through everything before the writer gets going.
	for round := 0; round == 0 || writes.Load() < 50; round++ {
		if round == 1000 {
			t.Fatalf("only %d concurrent writes in %d rounds of pagination", writes.Load(), round)
		}
		paginateChecked(t, s, recs)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d concurrent writes during pagination", writes.Load())
	verify(t, s)
}

// paginateChecked pages through queries in every order and checks that
// each of recs is returned exactly when it matches, exactly once.
func paginateChecked(t *testing.T, s metastore.Index, recs []metastore.Record) {
	t.Helper()
	for _, sortBy := range Sorts() {
		for _, q := range []metastore.Query{
			{Sort: sortBy, Limit: 7},
			{Sort: sortBy, Limit: 7, Lens: "l-even"},
			{Sort: sortBy, Limit: 7, TakenAfter: base.Add(3 * time.Hour)},
			{Sort: sortBy, Limit: 7, Bucket: "b1"},
		} {
			match, err := metastore.CompileQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, n := range SearchAll(t, s, q) {
				seen[n]++
			}
			for _, r := range recs {
				n := r.Bucket + "/" + r.Key
				want := 0
				if match.Match(&r) {
					want = 1
				}
				if seen[n] != want {
					t.Fatalf("query %+v: %s seen %d times, want %d", q, n, seen[n], want)
				}
			}
		}
	}
}

func testFacets(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	loadFixture(t, s)
	for _, tc := range []struct {
		field, bucket string
		want          []metastore.Facet
	}{
		// Grouped case-insensitively; shown as first written; by count,
		// then value.
		{"make", "", []metastore.Facet{fc("Canon", 5), fc("NIKON CORPORATION", 2), fc("Apple", 1), fc("Nikon", 1), fc("Sony", 1)}},
		{"make", "q", []metastore.Facet{fc("Canon", 1), fc("Sony", 1)}},
		{"model", "p", []metastore.Facet{fc("EOS R5", 3), fc("Z9", 2), fc("D850", 1), fc("EOS R6", 1), fc("iPhone 12", 1)}},
		{"lens", "", []metastore.Facet{fc("RF50mm F1.2", 2)}},
		{"format", "", []metastore.Facet{fc("jpeg", 7), fc("heic", 2), fc("png", 1), fc("webp", 1)}},
		{"year", "", []metastore.Facet{fc("2020", 3), fc("2018", 1), fc("2019", 1), fc("2021", 1), fc("2022", 1), fc("2023", 1), fc("2024", 1)}},
		{"year", "nope", []metastore.Facet{}},
	} {
		got, err := s.Facets(ctx, tc.field, tc.bucket)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Facets(%s, %q) = %v, want %v", tc.field, tc.bucket, got, tc.want)
		}
	}
}

func fc(value string, count int64) metastore.Facet {
	return metastore.Facet{Value: value, Count: count}
}

func testFacetYearUsesOffset(t *testing.T, s metastore.Index) {
	// 23:30 on New Year's Eve in New York is already next year in UTC;
	// the photographer's year is the local one.
	taken := time.Date(2021, 1, 1, 4, 30, 0, 0, time.UTC)
	commit(t, s,
		metastore.Put(metastore.Record{Bucket: "b", Key: "ny", TakenAt: taken, TakenOffset: "-05:00"}),
		metastore.Put(metastore.Record{Bucket: "b", Key: "utc", TakenAt: taken}),
	)
	got, _ := s.Facets(context.Background(), "year", "")
	if want := []metastore.Facet{fc("2020", 1), fc("2021", 1)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("years %v, want %v", got, want)
	}
}

// testTakenMonths: each month's count is what a search of that month's
// date range (UTC) returns, in one bucket: month edges, a photo taken at
// the last nanosecond of a month, undated photos, other years and other
// buckets are counted where the search puts them.
func testTakenMonths(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	var muts []metastore.Mutation
	add := func(bucket, key string, taken time.Time) {
		muts = append(muts, metastore.Put(metastore.Record{Bucket: bucket, Key: key, TakenAt: taken}))
	}
	for i, taken := range []time.Time{
		time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2015, 1, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2015, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2015, 3, 15, 12, 0, 0, 0, time.FixedZone("", -5*3600)),
		time.Date(2015, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2014, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC),
	} {
		add("b", fmt.Sprintf("k%d", i), taken)
		add("other", fmt.Sprintf("k%d", i), taken)
	}
	add("b", "undated", time.Time{})
	add("b", "also-march", time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC))
	commit(t, s, muts...)
	for _, year := range []int{2015, 1969, 2030} {
		got, err := s.TakenMonths(ctx, "b", year)
		if err != nil {
			t.Fatal(err)
		}
		for m := range 12 {
			page, err := s.Search(ctx, metastore.Query{Bucket: "b", TakenAfter: metastore.MonthStart(year, m), TakenBefore: metastore.MonthStart(year, m+1), Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if got[m] != int64(len(page.Items)) {
				t.Errorf("%d-%02d: TakenMonths says %d, the search finds %d", year, m+1, got[m], len(page.Items))
			}
		}
		if year == 2015 && got != [12]int64{2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1} {
			t.Errorf("2015 by month: %v", got)
		}
	}
	if got, err := s.TakenMonths(ctx, "nope", 2015); err != nil || got != [12]int64{} {
		t.Errorf("an unknown bucket: %v %v", got, err)
	}
}

// testFacetDisplay: a value is shown as the record that created it wrote
// it, until its count drops to zero; across buckets the first bucket by
// name decides.
func testFacetDisplay(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	check := func(want ...metastore.Facet) {
		t.Helper()
		got, err := s.Facets(ctx, "make", "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("facets %v, want %v", got, want)
		}
	}
	mk := func(bucket, key, make string) metastore.Mutation {
		return metastore.Put(metastore.Record{Bucket: bucket, Key: key, Make: make})
	}
	commit(t, s, mk("b", "1", "canon"), mk("b", "2", "CANON"))
	check(metastore.Facet{Value: "canon", Count: 2})
	commit(t, s, metastore.Delete("b", "1"))
	check(metastore.Facet{Value: "canon", Count: 1})
	// Replacing the only record of a value starts it afresh.
	commit(t, s, mk("b", "2", "Canon"))
	check(metastore.Facet{Value: "Canon", Count: 1})
	commit(t, s, mk("a", "1", "CaNoN"))
	check(metastore.Facet{Value: "CaNoN", Count: 2})
	verify(t, s)
}

func testStats(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	loadFixture(t, s)
	commit(t, s,
		metastore.Put(metastore.Record{Bucket: "q", Key: "broken.jpg", Size: 50, Status: "failed", Reason: "bad header", Owner: "ann"}),
		metastore.Put(metastore.Record{Bucket: "q", Key: "no-status", Size: 1, Owner: "bob"}),
	)
	if _, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "q", Keys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "q", Key: "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SchemaVersion <= 0 {
		t.Errorf("schema version %d", st.SchemaVersion)
	}
	st.SchemaVersion = 0 // engine-specific
	want := metastore.Stats{
		Objects: 13, Bytes: 3851,
		Buckets: []metastore.BucketStats{
			{Name: "p", Objects: 8, Bytes: 2900},
			{Name: "q", Objects: 5, Bytes: 951},
		},
		Owners:         []metastore.BucketStats{{Name: "ann", Objects: 1, Bytes: 50}, {Name: "bob", Objects: 1, Bytes: 1}},
		Status:         map[string]int64{"ok": 11, "failed": 1, "": 1},
		PendingIntents: 1,
		Jobs:           map[string]metastore.JobStats{"extract": {Queued: 1}},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
	verify(t, s)
}

func testOwnerUsage(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	usageOf := func(owner string) [2]int64 {
		t.Helper()
		verify(t, s)
		n, size, err := s.OwnerUsage(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		return [2]int64{n, size}
	}
	owned := func(owner string, size int64) func(*metastore.Record) {
		return func(r *metastore.Record) { r.Owner, r.Size = owner, size }
	}
	commit(t, s,
		metastore.Put(photo("b", "a1", owned("alice", 1000))),
		metastore.Put(photo("b", "a2", owned("alice", 500))),
		metastore.Put(photo("c", "a3", owned("alice", 7))),
		metastore.Put(photo("b", "b1", owned("bob", 300))),
		metastore.Put(photo("b", "nobody", owned("", 9999))),
	)
	if got := usageOf("alice"); got != [2]int64{3, 1507} {
		t.Fatalf("alice = %v, want 3 objects, 1507 bytes across buckets", got)
	}
	if got := usageOf("bob"); got != [2]int64{1, 300} {
		t.Fatalf("bob = %v", got)
	}
	// Bob overwrites one of alice's objects: it is his now.
	commit(t, s, metastore.Put(photo("b", "a2", owned("bob", 600))))
	if a, b := usageOf("alice"), usageOf("bob"); a != [2]int64{2, 1007} || b != [2]int64{2, 900} {
		t.Fatalf("after bob's overwrite: alice %v bob %v", a, b)
	}
	// A re-read without an owner and a tag change keep it his.
	commit(t, s, metastore.Put(photo("b", "a2", owned("", 600))), metastore.SetTags("b", "a2", map[string]string{"k": "v"}))
	if rec, _, _ := s.Get(ctx, "b", "a2"); rec.Owner != "bob" {
		t.Fatalf("owner after re-read and tagging = %q, want bob", rec.Owner)
	}
	if rec, _, _ := s.Get(ctx, "b", "nobody"); rec.Owner != "" {
		t.Fatalf("unowned record got owner %q", rec.Owner)
	}
	commit(t, s, metastore.Delete("b", "a1"))
	if got := usageOf("alice"); got != [2]int64{1, 7} {
		t.Fatalf("alice after delete = %v", got)
	}
	if n, size, err := s.BucketUsage(ctx, "b"); err != nil || n != 3 || size != 600+300+9999 {
		t.Fatalf("BucketUsage(b) = %d, %d, %v", n, size, err)
	}
	commit(t, s, metastore.DeleteBucket("b"))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []metastore.BucketStats{{Name: "alice", Objects: 1, Bytes: 7}}; !reflect.DeepEqual(st.Owners, want) {
		t.Fatalf("owners after DeleteBucket = %+v, want %+v", st.Owners, want)
	}
	if got := usageOf("bob"); got != [2]int64{} {
		t.Fatalf("bob after DeleteBucket = %v", got)
	}
	if n, size, err := s.BucketUsage(ctx, "c"); err != nil || n != 1 || size != 7 {
		t.Fatalf("BucketUsage(c) = %d, %d, %v", n, size, err)
	}
	if n, size, err := s.BucketUsage(ctx, "b"); err != nil || n != 0 || size != 0 {
		t.Fatalf("BucketUsage(b) after DeleteBucket = %d, %d, %v", n, size, err)
	}
	if _, _, err := s.OwnerUsage(ctx, ""); !errors.Is(err, metastore.ErrInvalid) {
		t.Fatalf("usage of the empty owner: %v", err)
	}
	if _, _, err := s.BucketUsage(ctx, ""); !errors.Is(err, metastore.ErrInvalid) {
		t.Fatalf("usage of the empty bucket: %v", err)
	}
	if err := s.Commit(ctx, 0, metastore.Put(photo("b", "k", owned(strings.Repeat("x", 256), 1)))); !errors.Is(err, metastore.ErrInvalid) {
		t.Fatalf("over-long owner: %v", err)
	}
}

// testConcurrentCommits runs the gateway's write path (intent, then commit)
// from many goroutines, next to readers and a job worker, and checks that
// everything landed, nothing is left pending and every counter agrees.
// Writers share counters (one bucket, one owner, one make) and some
// commits touch two records, which is where engines with row locks can
// deadlock.
func testConcurrentCommits(t *testing.T, s metastore.Index) {
	ctx := context.Background()
	const (
		writers = 16
		perG    = 15
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers*2+2)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				key := fmt.Sprintf("g%02d/%03d", g, i)
				id, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "b", Keys: []string{key}})
				if err != nil {
					errs <- err
					return
				}
				muts := []metastore.Mutation{metastore.Put(photo("b", key, func(r *metastore.Record) {
					r.Size, r.Owner = int64(i), "ann"
					r.Make = []string{"Canon", "Nikon", "Sony"}[(g+i)%3]
				}))}
				if i%5 == 4 { // and delete an earlier one in the same commit
					muts = append(muts, metastore.Delete("b", fmt.Sprintf("g%02d/%03d", g, i-1)))
				}
				if i%3 == 0 {
					muts = append(muts, metastore.EnqueueJob(metastore.Job{Kind: "extract", Bucket: "b", Key: key}))
				}
				if err := s.Commit(ctx, id, muts...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	// untilStopped runs step in a loop beside the writers until they are
	// done or step fails.
	untilStopped := func(step func() error) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	untilStopped(func() error {
		if _, err := s.Search(ctx, metastore.Query{Make: "canon", Sort: "-size", Limit: 10}); err != nil {
			return err
		}
		_, err := s.Stats(ctx)
		return err
	})
	var finished atomic.Int64
	untilStopped(func() error {
		j, ok, err := s.Lease(ctx, "extract", time.Now(), time.Minute)
		if err != nil || !ok {
			return err
		}
		finished.Add(1)
		return s.Finish(ctx, j.ID)
	})
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantObjects := int64(writers * (perG - perG/5))
	if st.Objects != wantObjects || st.PendingIntents != 0 {
		t.Fatalf("objects %d (want %d), pending intents %d", st.Objects, wantObjects, st.PendingIntents)
	}
	if n, _, _ := s.OwnerUsage(ctx, "ann"); n != wantObjects {
		t.Fatalf("owner usage %d, want %d", n, wantObjects)
	}
	if got := finished.Load() + st.Jobs["extract"].Queued; got != writers*5 {
		t.Fatalf("jobs: %d finished + %d queued, want %d", finished.Load(), st.Jobs["extract"].Queued, writers*5)
	}
	verify(t, s)
}

// testBackup: an engine either writes a snapshot or says to use the
// database's own tools.
func testBackup(t *testing.T, s metastore.Index) {
	commit(t, s, metastore.Put(photo("b", "k")))
	var buf bytes.Buffer
	n, err := s.Backup(context.Background(), &buf)
	switch {
	case errors.Is(err, metastore.ErrBackupUnsupported):
		if n != 0 || buf.Len() != 0 {
			t.Fatalf("unsupported backup wrote %d bytes", buf.Len())
		}
	case err != nil:
		t.Fatal(err)
	case n == 0 || int64(buf.Len()) != n:
		t.Fatalf("backup reported %d bytes and wrote %d", n, buf.Len())
	}
}
