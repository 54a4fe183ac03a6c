package metastore_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/conformance"
)

// These tests are about the bbolt engine's query planner: each access path
// it can choose must give what the conformance suite expects of any
// engine. They live in an external test package so that they can use the
// suite and its fixture (package metastore cannot import conformance).

func openBolt(t *testing.T) *metastore.Store {
	t.Helper()
	s, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func loadFixture(t *testing.T) *metastore.Store {
	t.Helper()
	s := openBolt(t)
	var muts []metastore.Mutation
	for _, r := range conformance.Fixture() {
		muts = append(muts, metastore.Put(r))
	}
	if err := s.Commit(context.Background(), 0, muts...); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceWithForcedPlans runs the whole suite (pagination under
// concurrent writes, long and odd values, updates, ...) with the planner
// overridden, so the walk and the index paths each meet it, not only the
// path the cost model happens to pick. conformance's TestBolt covers the
// cost model's own choices.
func TestConformanceWithForcedPlans(t *testing.T) {
	for _, plan := range []struct {
		name   string
		choice int
	}{{"walk", -1}, {"first index", 0}} {
		t.Run(plan.name, func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) metastore.Index {
				s := openBolt(t)
				metastore.ForcePlan(s, func([]string) int { return plan.choice })
				return s
			})
		})
	}
}

// TestSearchFiltersEveryPlan runs every filter case in every order, paged
// two at a time, with the walk and with each index the query can use.
func TestSearchFiltersEveryPlan(t *testing.T) {
	s := loadFixture(t)
	byName := map[string]metastore.Record{}
	for _, r := range conformance.Fixture() {
		byName[r.Bucket+"/"+r.Key] = r
	}
	indexPlans := 0
	for _, tc := range conformance.FilterCases() {
		t.Run(tc.Name, func(t *testing.T) {
			var want []metastore.Record
			for _, n := range strings.Fields(tc.Want) {
				want = append(want, byName[n])
			}
			for _, sortBy := range conformance.Sorts() {
				q := tc.Query
				q.Sort, q.Limit = sortBy, 2
				order := conformance.ExpectOrder(want, sortBy)
				paths := usablePaths(t, s, q)
				for choice := -1; choice < len(paths); choice++ {
					metastore.ForcePlan(s, func([]string) int { return choice })
					wantPlan := "walk:"
					if choice >= 0 {
						wantPlan, indexPlans = "index:"+paths[choice], indexPlans+1
					}
					if p, _ := s.Search(context.Background(), q); !strings.HasPrefix(p.Plan, wantPlan) {
						t.Fatalf("forced plan %q, searched with %q", wantPlan, p.Plan)
					}
					got := conformance.SearchAll(t, s, q)
					metastore.ForcePlan(s, nil)
					if !slices.Equal(got, order) {
						t.Fatalf("sort %q, plan %d of %q:\n got %q\nwant %q", sortBy, choice, paths, got, order)
					}
				}
			}
		})
	}
	if indexPlans < 50 {
		t.Fatalf("only %d searches used a forced index: the planner hook is not in effect", indexPlans)
	}
}

// usablePaths lists the indexes the planner could use for q.
func usablePaths(t *testing.T, s *metastore.Store, q metastore.Query) []string {
	t.Helper()
	var paths []string
	metastore.ForcePlan(s, func(p []string) int { paths = p; return -1 })
	defer metastore.ForcePlan(s, nil)
	if _, err := s.Search(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestSearchUsesIndexes pins the cost model's choices on the fixture.
func TestSearchUsesIndexes(t *testing.T) {
	s := loadFixture(t)
	after2024 := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q    metastore.Query
		plan string
	}{
		{metastore.Query{}, "walk:key"},
		{metastore.Query{Sort: "-taken"}, "walk:taken"},
		{metastore.Query{Model: "z9"}, "index:camera"},
		{metastore.Query{Tags: map[string]string{"fav": "yes"}}, "index:tag:fav"},
		{metastore.Query{Near: &metastore.Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 1}}, "index:geo"},
		{metastore.Query{TakenAfter: after2024}, "index:taken"},
		{metastore.Query{TakenAfter: after2024, Sort: "taken"}, "walk:taken"},
		{metastore.Query{Format: "webp", Make: "canon"}, "index:format&camera"},
		{metastore.Query{Make: "canon", Sort: "-taken"}, "index:camera+taken"},
		{metastore.Query{Make: "canon", TakenAfter: after2024}, "index:camera+taken"},
	} {
		p, err := s.Search(context.Background(), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if p.Plan != tc.plan {
			t.Errorf("%+v: plan %s, want %s", tc.q, p.Plan, tc.plan)
		}
	}
}
