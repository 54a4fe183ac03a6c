// Package crash_test kills photogate at random instants during concurrent
// uploads and deletes and checks the consistency guarantee of DESIGN.md §4:
// after restart and intent recovery the index equals the backend, object by
// object, and no acknowledged upload is lost or unindexed.
package crash_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/test/harness"
)

const bucket = "crash"

// ledger remembers the last acknowledged operation per key. Operations on
// one key are issued by one worker only, so the ledger is exact. A failed
// operation may still have happened (photogate was killed after MinIO
// acted), so it makes the key's state unknown until the next acknowledgement.
type ledger struct {
	mu    sync.Mutex
	alive map[string][]byte // acknowledged upload, not deleted since (content)
	gone  map[string]bool   // acknowledged delete, not uploaded since
}

func (l *ledger) unknown(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, key)
	delete(l.gone, key)
}

func (l *ledger) uploaded(key string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alive[key] = data
	delete(l.gone, key)
}

func (l *ledger) deleted(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, key)
	l.gone[key] = true
}

func TestKillDuringUploadsAndDeletes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO and the photogate binary")
	}
	m := harness.StartMinIO(t)
	ctx := context.Background()
	if err := m.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BuildGateway(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: m})
	client, err := minio.New(g.Addr(), &minio.Options{
		Creds:      credentials.NewStaticV4(g.AccessKey(), g.SecretKey(), ""),
		MaxRetries: 1, // an error is an error: the ledger must only hold acknowledged operations
	})
	if err != nil {
		t.Fatal(err)
	}
	jpeg := harness.ReadPhoto(t, "jpeg/iphone4s_lensinfo_gps_orient6.jpg")

	l := &ledger{alive: map[string][]byte{}, gone: map[string]bool{}}
	const workers, rounds = 6, 5
	for round := range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work(ctx, client, l, w, round, jpeg, stop)
			}()
		}
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		g.Kill() // mid-flight: some requests are cut at every stage
		close(stop)
		wg.Wait()
		if err := g.Start(); err != nil { // recovery runs before it serves again
			t.Fatalf("restart after kill %d: %v\n%s", round, err, g.Stderr())
		}
	}
	if err := g.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	store, err := metastore.Open(filepath.Join(g.DataDir(), "index.db"), metastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	backendClient, err := backend.NewBackend(backend.Config{
		Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey(), Region: harness.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	ix := reconcile.NewIndexer(store, backendClient, nil)
	ix.Internal = []string{renditions.DefaultBucket} // photogate's own, as serve sets it
	if pending, _ := store.PendingIntents(ctx); len(pending) != 0 {
		t.Errorf("%d intents still pending after restart and graceful stop: %+v", len(pending), pending)
	}
	rep, err := ix.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 0 {
		t.Fatalf("index and backend differ after %d kills: %+v", rounds, rep.Drift)
	}
	for key, data := range l.alive {
		obj, err := m.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Errorf("acknowledged upload %s lost or changed in MinIO (%v)", key, err)
		}
		// Every write was the env user's: recovery must attribute what
		// it found to the intent's user too, or quotas would lose it.
		if rec, ok, _ := store.Get(ctx, bucket, key); !ok {
			t.Errorf("acknowledged upload %s is not indexed", key)
		} else if rec.Owner != "env" {
			t.Errorf("acknowledged upload %s is indexed with owner %q, want env", key, rec.Owner)
		}
	}
	// The counters (per bucket, per owner, facets) agree with the records.
	if err := store.Verify(ctx); err != nil {
		t.Error(err)
	}
	if n, _, err := store.OwnerUsage(ctx, "env"); err != nil || n != int64(rep.Indexed) {
		t.Errorf("env owns %d objects (%v); the index holds %d", n, err, rep.Indexed)
	}
	for key := range l.gone {
		if _, ok, _ := store.Get(ctx, bucket, key); ok {
			t.Errorf("acknowledged delete of %s still indexed", key)
		}
	}
	t.Logf("%d kills; %d objects in MinIO, %d indexed, %d acknowledged alive, %d acknowledged deleted",
		rounds, rep.Objects, rep.Indexed, len(l.alive), len(l.gone))
	if len(l.alive) == 0 {
		t.Fatal("no upload was acknowledged: the test exercised nothing")
	}
}

// work uploads, re-uploads and deletes its own keys until stop closes.
func work(ctx context.Context, c *minio.Client, l *ledger, worker, round int, jpeg []byte, stop <-chan struct{}) {
	r := rand.New(rand.NewPCG(uint64(worker), uint64(round)))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("w%d/k%d.jpg", worker, r.IntN(12))
		switch n := r.IntN(10); {
		case n < 6:
			data := append(append([]byte{}, jpeg...), byte(i), byte(round)) // unique bytes, still a photo
			_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "image/jpeg"})
			if err == nil {
				l.uploaded(key, data)
			} else {
				l.unknown(key)
			}
		case n < 9:
			if c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}) == nil {
				l.deleted(key)
			} else {
				l.unknown(key)
			}
		default:
			objs := make(chan minio.ObjectInfo, 3)
			keys := []string{key, fmt.Sprintf("w%d/k%d.jpg", worker, r.IntN(12))}
			for _, k := range keys {
				objs <- minio.ObjectInfo{Key: k}
			}
			close(objs)
			// RemoveObjects reports only failures; a transport error is
			// reported for every key of the batch.
			failed := map[string]bool{}
			for e := range c.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
				failed[e.ObjectName] = true
			}
			for _, k := range keys {
				if failed[k] {
					l.unknown(k)
				} else {
					l.deleted(k)
				}
			}
		}
	}
}
