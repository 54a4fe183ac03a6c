package metastore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

// backupLibrary fills a store with a few records in two buckets, four of
// them Canons in bucket p.
func backupLibrary(t *testing.T) (*Store, []Record) {
	t.Helper()
	s := openTest(t)
	var recs []Record
	var muts []Mutation
	for i, k := range seq("k", 8) {
		recs = append(recs, photo("p", k, func(r *Record) {
			r.Tags = map[string]string{"n": k}
			if i%2 == 1 {
				r.Make, r.Model, r.GPS = "Nikon", "Z9", nil
			}
		}))
	}
	recs = append(recs, photo("q", "k"))
	for _, r := range recs {
		muts = append(muts, Put(r))
	}
	commit(t, s, muts...)
	return s, recs
}

func TestBackupRestores(t *testing.T) {
	ctx := context.Background()
	s, recs := backupLibrary(t)
	id, _ := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "p", Keys: []string{"x"}})
	_, _ = s.Enqueue(ctx, Job{Kind: "extract", Bucket: "p", Key: "x"})

	// Writers keep going during the backup; the snapshot is consistent
	// whatever they do.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			commit(t, s, Put(photo("busy", string(rune('a'+i%26))+"x")))
		}
	}()
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup returned %d, wrote %d", n, buf.Len())
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, path, Options{NoSync: true})
	verify(t, r)
	for _, want := range recs {
		got, ok, err := r.Get(ctx, want.Bucket, want.Key)
		if err != nil || !ok {
			t.Fatalf("%s/%s missing from backup: %v", want.Bucket, want.Key, err)
		}
		orig, _, _ := s.Get(ctx, want.Bucket, want.Key)
		if !reflect.DeepEqual(got, orig) {
			t.Fatalf("%s/%s differs:\n%+v\n%+v", want.Bucket, want.Key, got, orig)
		}
	}
	if p, _ := r.PendingIntents(ctx); len(p) != 1 || p[0].ID != id {
		t.Fatalf("intents in backup: %+v", p)
	}
	// Search and stats work on the restored copy.
	if got := names(search(t, r, Query{Make: "canon", Bucket: "p"}).Items); len(got) != 4 {
		t.Fatalf("search on restored copy: %q", got)
	}
	if st, _ := r.Stats(ctx); st.Jobs["extract"].Queued != 1 {
		t.Fatalf("stats on restored copy: %+v", st)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestBackupErrors(t *testing.T) {
	s, _ := backupLibrary(t)
	if _, err := s.Backup(context.Background(), &failWriter{after: 4096}); err == nil {
		t.Fatal("write error not reported")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
