package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// TestReserveAcrossReplicas: three replicas reserving into one 10-object,
// 1000-byte bucket quota at once admit exactly what fits, whatever the
// interleaving; released reservations free the room; a dead replica's
// reservations count until they are swept, some leases after its last
// heartbeat.
func TestReserveAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "reserve")
	const lease = time.Second
	open := func() *Store {
		s, err := Open(ctx, dsn, Options{Lease: lease})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	replicas := []*Store{open(), open(), open()}
	// 300 bytes already stored in the bucket, by "ana".
	if err := replicas[0].Commit(ctx, 0, metastore.Put(metastore.Record{Bucket: "photos", Key: "old", ETag: "e", Size: 300, Owner: "ana"})); err != nil {
		t.Fatal(err)
	}
	hold := func(bytes int64) []Hold {
		return []Hold{{Name: "photos", Objects: 1, Bytes: bytes, MaxObjects: 10, MaxBytes: 1000}}
	}
	var (
		admitted atomic.Int64
		releases = make(chan func(), 100)
		wg       sync.WaitGroup
	)
	for i := range 30 {
		wg.Go(func() {
			release, refused, err := replicas[i%3].Reserve(ctx, hold(100))
			if err != nil {
				t.Error(err)
				return
			}
			if refused == nil {
				admitted.Add(1)
				releases <- release
			}
		})
	}
	wg.Wait()
	close(releases)
	if n := admitted.Load(); n != 7 {
		t.Fatalf("admitted %d reservations of 100 bytes on top of 300 into 1000, want 7", n)
	}
	_, refused, err := replicas[1].Reserve(ctx, hold(1))
	if err != nil || refused == nil || refused.UsedBytes != 300 || refused.ReservedBytes != 700 || refused.Index != 0 {
		t.Fatalf("a full quota: refused %+v, %v", refused, err)
	}
	for release := range releases {
		release()
	}
	release, refused, err := replicas[2].Reserve(ctx, hold(700))
	if err != nil || refused != nil {
		t.Fatalf("after the releases: refused %+v, %v", refused, err)
	}
	// Its holder dies: its reservation stops counting after the lease.
	dying := replicas[2]
	stopHeartbeat(dying)
	_ = release
	if _, refused, _ := replicas[0].Reserve(ctx, hold(100)); refused == nil {
		t.Fatal("a live replica's reservation did not count")
	}
	// Past its lease, so its intents would be claimed, but well short of
	// reservationSweep leases (a loaded machine adds its own delays).
	time.Sleep(lease + lease/2)
	if _, err := replicas[0].ClaimIntents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, refused, _ := replicas[0].Reserve(ctx, hold(100)); refused == nil {
		t.Fatal("a reservation was swept before its replica was silent for reservationSweep leases")
	}
	time.Sleep(reservationSweep * lease)
	if _, err := replicas[0].ClaimIntents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, refused, err := replicas[0].Reserve(ctx, hold(700)); err != nil || refused != nil {
		t.Fatalf("a dead replica's reservation still counts: %+v %v", refused, err)
	}
	// A user's quota and what adds nothing.
	_, refused, err = replicas[1].Reserve(ctx, []Hold{
		{Name: "photos", MaxBytes: 1000},
		{Owner: true, Name: "ana", Objects: 1, Bytes: 2000, MaxBytes: 1000},
	})
	if err != nil || refused == nil || refused.Index != 1 || refused.UsedBytes != 300 {
		t.Fatalf("user quota: %+v %v", refused, err)
	}
}

// TestExclusiveCommitSeesAnOverlappingWrite: two replicas' requests on one
// key overlap; the one that commits last with Exclusive mutations learns
// that the other wrote the key after it began (ErrRaced, nothing applied),
// on the pipelined and on the statement-by-statement path. A request that
// began after the other's commit, and a mutation that is not Exclusive,
// commit as usual.
func TestExclusiveCommitSeesAnOverlappingWrite(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "raced")
	a, b := openReplica(t, dsn), openReplica(t, dsn)
	rec := func(etag string) metastore.Record {
		return metastore.Record{Bucket: "photos", Key: "k", ETag: etag, Size: 1}
	}
	begin := func(s *Store) uint64 {
		id, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "photos", Keys: []string{"k"}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	put := func(etag string) metastore.Mutation {
		m := metastore.Put(rec(etag))
		m.Exclusive = true
		return m
	}
	for _, slow := range []bool{false, true} {
		first, second := begin(a), begin(b)
		if err := b.Commit(ctx, second, put("b")); err != nil {
			t.Fatal(err)
		}
		muts := []metastore.Mutation{put("a")}
		if slow {
			// Two mutations of one key take the statement-by-statement path.
			muts = append(muts, metastore.SetTags("photos", "k", map[string]string{"x": "y"}))
		}
		if err := a.Commit(ctx, first, muts...); !errors.Is(err, metastore.ErrRaced) {
			t.Fatalf("slow=%v: the commit of the request begun first: %v, want ErrRaced", slow, err)
		}
		if got, _, _ := a.Get(ctx, "photos", "k"); got.ETag != "b" {
			t.Fatalf("slow=%v: a raced commit changed the record to %q", slow, got.ETag)
		}
		// Read back instead, not Exclusive: it commits and clears the intent.
		if err := a.Commit(ctx, first, metastore.Put(rec("backend"))); err != nil {
			t.Fatal(err)
		}
		if pending, _ := a.PendingIntents(ctx); len(pending) != 0 {
			t.Fatalf("intents left: %+v", pending)
		}
	}
	// Begun after the last write: no race.
	later := begin(a)
	if err := a.Commit(ctx, later, put("c")); err != nil {
		t.Fatalf("a request begun after the other's commit: %v", err)
	}
}

// TestReserveNeverMissesAFinishingUpload: uploads on three replicas reserve,
// commit their record and release, over and over, into one quota. A
// Reserve that runs while another upload finishes must see its bytes
// either in usage (committed) or in reservations (not yet released): the
// bucket never holds more than the quota.
func TestReserveNeverMissesAFinishingUpload(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "finishing")
	replicas := []*Store{openReplica(t, dsn), openReplica(t, dsn), openReplica(t, dsn)}
	const (
		size  = 100
		quota = 40 * size
	)
	for round := range 5 {
		bucket := fmt.Sprintf("round%d", round)
		var (
			wg   sync.WaitGroup
			next atomic.Int64
		)
		for w := range 12 {
			s := replicas[w%3]
			wg.Go(func() {
				for refusals := 0; refusals < 20; {
					release, refused, err := s.Reserve(ctx, []Hold{{Name: bucket, Objects: 1, Bytes: size, MaxBytes: quota}})
					if err != nil {
						t.Error(err)
						return
					}
					if refused != nil {
						refusals++
						continue
					}
					rec := metastore.Record{Bucket: bucket, Key: fmt.Sprintf("k%04d", next.Add(1)), ETag: "e", Size: size}
					if err := s.Commit(ctx, 0, metastore.Put(rec)); err != nil {
						t.Error(err)
					}
					release()
				}
			})
		}
		wg.Wait()
		objects, bytes, err := replicas[0].BucketUsage(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if bytes > quota {
			t.Fatalf("round %d: %d objects, %d bytes stored under a %d-byte quota", round, objects, bytes, quota)
		}
	}
}

// TestReserveHoldsOnlyGrowth: an overwrite by a smaller object adds less
// than nothing, but until it commits the old size is what is stored, and
// it may yet fail; it must not make room for another replica's upload.
func TestReserveHoldsOnlyGrowth(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "shrink")
	a, b := openReplica(t, dsn), openReplica(t, dsn)
	if err := a.Commit(ctx, 0, metastore.Put(metastore.Record{Bucket: "photos", Key: "old", ETag: "e", Size: 600})); err != nil {
		t.Fatal(err)
	}
	// "old" (600 bytes) is being overwritten with 200.
	release, refused, err := a.Reserve(ctx, []Hold{{Name: "photos", Bytes: -400, MaxBytes: 1000}})
	if err != nil || refused != nil {
		t.Fatalf("a shrinking overwrite: refused %+v, %v", refused, err)
	}
	defer release()
	_, refused, err = b.Reserve(ctx, []Hold{{Name: "photos", Objects: 1, Bytes: 750, MaxBytes: 1000}})
	if err != nil || refused == nil || refused.UsedBytes != 600 || refused.ReservedBytes != 0 {
		t.Fatalf("750 new bytes on 600 stored under 1000, while an overwrite shrinks one: refused %+v, %v; want refused with 600 used, 0 reserved", refused, err)
	}
}

// TestReserveUnderARepeatableReadDefault: a database whose default
// isolation is REPEATABLE READ changes nothing. Reserve would otherwise
// take its snapshot while it waits for another replica's quota lock, and
// miss that replica's reservation.
func TestReserveUnderARepeatableReadDefault(t *testing.T) {
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "repeatable") + "&default_transaction_isolation=repeatable%20read"
	replicas := []*Store{openReplica(t, dsn), openReplica(t, dsn), openReplica(t, dsn)}
	var (
		admitted atomic.Int64
		wg       sync.WaitGroup
	)
	for i := range 30 {
		wg.Go(func() {
			_, refused, err := replicas[i%3].Reserve(ctx, []Hold{{Name: "photos", Objects: 1, Bytes: 100, MaxBytes: 1000}})
			if err != nil {
				t.Error(err)
			} else if refused == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 10 {
		t.Fatalf("admitted %d reservations of 100 bytes into 1000, want 10", n)
	}
}

func openReplica(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
