package metastore

import (
	"context"
	"fmt"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// ExampleStore_Search shows a query as the admin API would build it.
func ExampleStore_Search() {
	dir, _ := tempDir()
	s, _ := Open(dir+"/index.db", Options{NoSync: true})
	defer s.Close()
	ctx := context.Background()
	_ = s.Commit(ctx, 0,
		Put(Record{Bucket: "photos", Key: "a.jpg", Make: "Canon", TakenAt: day(2020, 1, 1)}),
		Put(Record{Bucket: "photos", Key: "b.jpg", Make: "canon", TakenAt: day(2021, 1, 1)}),
		Put(Record{Bucket: "photos", Key: "c.jpg", Make: "Nikon", TakenAt: day(2022, 1, 1)}),
	)
	page, _ := s.Search(ctx, Query{Bucket: "photos", Make: "CANON", Sort: "-taken", Limit: 1})
	fmt.Println(page.Items[0].Key, page.NextCursor != "")
	page, _ = s.Search(ctx, Query{Bucket: "photos", Make: "CANON", Sort: "-taken", Limit: 1, Cursor: page.NextCursor})
	fmt.Println(page.Items[0].Key, page.NextCursor != "")
	// Output:
	// b.jpg true
	// a.jpg false
}
