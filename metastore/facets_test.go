package metastore

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestFacets(t *testing.T) {
	ctx := context.Background()
	s := loadFixture(t)
	for _, tc := range []struct {
		field, bucket string
		want          []Facet
	}{
		// Grouped case-insensitively; shown as first written; by count,
		// then value.
		{"make", "", []Facet{{"Canon", 5}, {"NIKON CORPORATION", 2}, {"Apple", 1}, {"Nikon", 1}, {"Sony", 1}}},
		{"make", "q", []Facet{{"Canon", 1}, {"Sony", 1}}},
		{"model", "p", []Facet{{"EOS R5", 3}, {"Z9", 2}, {"D850", 1}, {"EOS R6", 1}, {"iPhone 12", 1}}},
		{"lens", "", []Facet{{"RF50mm F1.2", 2}}},
		{"format", "", []Facet{{"jpeg", 7}, {"heic", 2}, {"png", 1}, {"webp", 1}}},
		{"year", "", []Facet{{"2020", 3}, {"2018", 1}, {"2019", 1}, {"2021", 1}, {"2022", 1}, {"2023", 1}, {"2024", 1}}},
		{"year", "nope", []Facet{}},
	} {
		got, err := s.Facets(ctx, tc.field, tc.bucket)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Facets(%s, %q) = %v, want %v", tc.field, tc.bucket, got, tc.want)
		}
	}
	var qe *QueryError
	if _, err := s.Facets(ctx, "colour", ""); !errors.As(err, &qe) || qe.Param != "field" {
		t.Errorf("unknown field: %v", err)
	}
}

func TestFacetYearUsesOffset(t *testing.T) {
	s := openTest(t)
	// 23:30 on New Year's Eve in New York is already next year in UTC;
	// the photographer's year is the local one.
	taken := time.Date(2021, 1, 1, 4, 30, 0, 0, time.UTC)
	commit(t, s,
		Put(Record{Bucket: "b", Key: "ny", TakenAt: taken, TakenOffset: "-05:00"}),
		Put(Record{Bucket: "b", Key: "utc", TakenAt: taken}),
	)
	got, _ := s.Facets(context.Background(), "year", "")
	if want := []Facet{{"2020", 1}, {"2021", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("years %v, want %v", got, want)
	}
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	s := loadFixture(t)
	commit(t, s,
		Put(Record{Bucket: "q", Key: "broken.jpg", Size: 50, Status: "failed", Reason: "bad header"}),
		Put(Record{Bucket: "q", Key: "no-status", Size: 1}),
	)
	if _, err := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "q", Keys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, Job{Kind: "extract", Bucket: "q", Key: "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		SchemaVersion: SchemaVersion,
		Objects:       13, Bytes: 3851,
		Buckets: []BucketStats{
			{Name: "p", Objects: 8, Bytes: 2900},
			{Name: "q", Objects: 5, Bytes: 951},
		},
		Status:         map[string]int64{"ok": 11, "failed": 1, "": 1},
		PendingIntents: 1,
		Jobs:           map[string]JobStats{"extract": {Queued: 1}},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
	verify(t, s)
}
