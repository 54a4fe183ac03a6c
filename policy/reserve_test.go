package policy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

const reserveConfig = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read, write, delete, list]}]
    quota: {max_bytes: 6MiB}
  - name: bob
    access_key: AKIABOB1
    secret_key: bob-secret-1
    grants: [{buckets: "*", actions: [read, write, delete]}]
policy:
  buckets:
    - {bucket: small, quota: {max_bytes: 4MiB}}
    - {bucket: parts, quota: {max_bytes: 10MiB, max_objects: 2}}
`

const mib = 1 << 20

// store is what the index does when the gateway applies an upload's
// outcome: usage grows, and only then is the reservation released as kept.
func (u *usage) store(bucket, user string, objects, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.buckets == nil {
		u.buckets, u.users = map[string][2]int64{}, map[string][2]int64{}
	}
	b := u.buckets[bucket]
	u.buckets[bucket] = [2]int64{b[0] + objects, b[1] + bytes}
	if user != "" {
		v := u.users[user]
		u.users[user] = [2]int64{v[0] + objects, v[1] + bytes}
	}
}

func (u *usage) bucketBytes(bucket string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.buckets[bucket][1]
}

// putAll runs one PutObject of size per key at once, each by its own
// Caller, and stores what is admitted like the gateway and index would.
func putAll(t *testing.T, h *Holder, idx *usage, accessKey string, buckets []string, size int64) (stored int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, bucket := range buckets {
		wg.Go(func() {
			<-start
			c := h.Caller(accessKey)
			release, err := c.Reserve(context.Background(), Upload{Bucket: bucket, Key: strings.Repeat("k", i+1), Op: classify.PutObject, Size: size})
			if err != nil {
				if !s3err.Is(err, s3err.QuotaExceeded) {
					t.Errorf("upload %d: %v", i, err)
				}
				return
			}
			time.Sleep(time.Millisecond) // the body streams to the backend
			idx.store(bucket, c.Name(), 1, size)
			release(true)
			mu.Lock()
			stored++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return stored
}

// The overshoot this replaces: 16 parallel 4 MiB PUTs into a 10 MiB quota
// stored 64 MiB. With reservations, 16 parallel 1 MiB PUTs into a 4 MiB
// quota store at most 4 MiB, and as much as fits.
func TestReserveParallelPutsDoNotOvershoot(t *testing.T) {
	for round := range 20 {
		idx := &usage{}
		h := holder(t, reserveConfig, Options{Usage: idx})
		buckets := make([]string, 16)
		for i := range buckets {
			buckets[i] = "small"
		}
		stored := putAll(t, h, idx, "AKIABOB1", buckets, mib)
		if got := idx.bucketBytes("small"); got > 4*mib || stored != 4 {
			t.Fatalf("round %d: %d uploads stored %d bytes into a 4 MiB quota", round, stored, got)
		}
	}
}

// The user quota spans buckets: 16 parallel 1 MiB PUTs by ana into 8
// buckets store 6 MiB, her quota.
func TestReserveParallelPutsUserQuota(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	buckets := make([]string, 16)
	for i := range buckets {
		buckets[i] = string(rune('a'+i%8)) + "-bucket"
	}
	if stored := putAll(t, h, idx, "AKIAANA1", buckets, mib); stored != 6 || idx.users["ana"][1] != 6*mib {
		t.Fatalf("%d uploads stored %d bytes against a 6 MiB user quota", stored, idx.users["ana"][1])
	}
}

// A reservation counts until it is released; one not kept frees its room,
// and releasing twice frees it once.
func TestReserveReleaseNotKept(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	c := h.Caller("AKIABOB1")
	ctx := context.Background()
	put := func(size int64) Upload { return Upload{Bucket: "small", Key: "k", Op: classify.PutObject, Size: size} }

	r1, err := c.Reserve(ctx, put(3*mib))
	wantNil(t, err)
	_, err = c.Reserve(ctx, put(2*mib))
	if e := wantCode(t, err, s3err.QuotaExceeded); !strings.Contains(e.Message,
		"quota of bucket small: 0 bytes stored + 3145728 bytes in uploads in progress + 2097152 new > max_bytes 4MiB") {
		t.Errorf("message %q", e.Message)
	}
	r1(false) // the backend refused it
	r1(true)  // ignored: not counted as kept, not freed twice
	r2, err := c.Reserve(ctx, put(4*mib))
	wantNil(t, err)
	_, err = c.Reserve(ctx, put(1))
	wantCode(t, err, s3err.QuotaExceeded)
	idx.store("small", "bob", 1, 4*mib)
	r2(true)
	_, err = c.Reserve(ctx, put(1))
	if e := wantCode(t, err, s3err.QuotaExceeded); !strings.Contains(e.Message, "4194304 bytes stored + 1 new") {
		t.Errorf("message %q", e.Message)
	}
	if n := len(h.ledger.scopes); n != 0 {
		t.Errorf("%d ledger entries left with nothing reserved", n)
	}
}

// Parts count from when they are stored until the upload completes or is
// aborted; a re-sent part replaces the earlier one.
func TestReserveMultipartParts(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	c := h.Caller("AKIABOB1")
	ctx := context.Background()
	part := func(id string, n int, size, soFar int64) (func(bool), error) {
		return c.Reserve(ctx, Upload{Bucket: "parts", Key: "big", Op: classify.UploadPart, UploadID: id, PartNumber: n, Size: size, UploadedSoFar: soFar})
	}
	put := func(size int64) (func(bool), error) {
		return c.Reserve(ctx, Upload{Bucket: "parts", Key: "small", Op: classify.PutObject, Size: size})
	}
	keep := func(release func(bool), err error) {
		t.Helper()
		wantNil(t, err)
		release(true)
	}

	keep(part("u1", 1, 4*mib, -1))
	keep(part("u1", 2, 4*mib, -1))
	_, err := put(3 * mib) // 8 MiB in parts + 3 > 10
	wantCode(t, err, s3err.QuotaExceeded)
	failed, err := part("u1", 3, 2*mib, -1)
	wantNil(t, err)
	failed(false)                  // never stored: frees its room
	keep(part("u1", 2, 1*mib, -1)) // re-sent smaller: parts hold 5 MiB
	r, err := put(5 * mib)
	wantNil(t, err)
	r(false)
	_, err = put(5*mib + 1)
	wantCode(t, err, s3err.QuotaExceeded)
	if h.PendingUploads() != 1 {
		t.Fatalf("%d pending uploads", h.PendingUploads())
	}

	// Completing turns the parts into one object: nothing new to reserve,
	// and once kept the index counts it and the parts are forgotten.
	done, err := c.Reserve(ctx, Upload{Bucket: "parts", Key: "big", Op: classify.CompleteMultipartUpload, UploadID: "u1", PartNumber: 2, UploadedSoFar: 5 * mib})
	wantNil(t, err)
	idx.store("parts", "bob", 1, 5*mib)
	done(true)
	if h.PendingUploads() != 0 {
		t.Fatalf("%d pending uploads after completion", h.PendingUploads())
	}
	keep(put(5 * mib))
	idx.store("parts", "bob", 1, 5*mib)
	_, err = put(1)
	wantCode(t, err, s3err.QuotaExceeded)

	// An abort frees the parts once the backend confirms it.
	idx.buckets["parts"] = [2]int64{0, 0}
	keep(part("u2", 1, 9*mib, -1))
	_, err = put(2 * mib)
	wantCode(t, err, s3err.QuotaExceeded)
	abort := func() func(bool) {
		r, err := c.Reserve(ctx, Upload{Bucket: "parts", Key: "big", Op: classify.AbortMultipartUpload, UploadID: "u2"})
		wantNil(t, err)
		return r
	}
	abort()(false) // the backend refused the abort: the parts are still there
	_, err = put(2 * mib)
	wantCode(t, err, s3err.QuotaExceeded)
	abort()(true)
	keep(put(10 * mib))
	if h.PendingUploads() != 0 || len(h.ledger.scopes) != 0 {
		t.Errorf("ledger not empty: %d uploads, %d scopes", h.PendingUploads(), len(h.ledger.scopes))
	}
}

// Parts the backend lists but this process did not see stored (it
// restarted) count from the next part on, once.
func TestReserveUntrackedParts(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	c := h.Caller("AKIABOB1")
	ctx := context.Background()
	part := func(n int, size, soFar int64) (func(bool), error) {
		return c.Reserve(ctx, Upload{Bucket: "parts", Key: "big", Op: classify.UploadPart, UploadID: "old", PartNumber: n, Size: size, UploadedSoFar: soFar})
	}
	_, err := part(3, 5*mib, 6*mib) // 6 MiB already stored + 5
	wantCode(t, err, s3err.QuotaExceeded)
	r, err := part(3, 1*mib, 6*mib)
	wantNil(t, err)
	r(true)
	// Part 4: the backend lists 7 MiB, of which 1 MiB is part 3: the
	// 6 MiB are not counted again.
	r, err = part(4, 3*mib, 7*mib)
	wantNil(t, err)
	r(true)
	_, err = c.Reserve(ctx, Upload{Bucket: "parts", Key: "x", Op: classify.PutObject, Size: 1})
	wantCode(t, err, s3err.QuotaExceeded)
}

// Parts of one upload sent at once cannot overshoot the quota either.
func TestReserveParallelParts(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	var wg sync.WaitGroup
	var mu sync.Mutex
	kept := 0
	for n := 1; n <= 16; n++ {
		wg.Go(func() {
			release, err := h.Caller("AKIABOB1").Reserve(context.Background(), Upload{Bucket: "parts", Key: "big", Op: classify.UploadPart, UploadID: "u", PartNumber: n, Size: mib, UploadedSoFar: -1})
			if err != nil {
				if !s3err.Is(err, s3err.QuotaExceeded) {
					t.Errorf("part %d: %v", n, err)
				}
				return
			}
			release(true)
			mu.Lock()
			kept++
			mu.Unlock()
		})
	}
	wg.Wait()
	if kept != 10 {
		t.Fatalf("%d 1 MiB parts kept under a 10 MiB quota", kept)
	}
}

// Uploads nobody completes or aborts stop counting after a day, as MinIO
// drops them.
func TestReservePendingUploadsExpire(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.ledger.now = func() time.Time { return now }
	c := h.Caller("AKIABOB1")
	ctx := context.Background()
	r, err := c.Reserve(ctx, Upload{Bucket: "parts", Key: "big", Op: classify.UploadPart, UploadID: "stale", PartNumber: 1, Size: 10 * mib, UploadedSoFar: -1})
	wantNil(t, err)
	r(true)
	put := Upload{Bucket: "parts", Key: "x", Op: classify.PutObject, Size: 1}
	now = now.Add(pendingUploadTTL - time.Minute)
	_, err = c.Reserve(ctx, put)
	wantCode(t, err, s3err.QuotaExceeded)
	now = now.Add(time.Minute)
	r, err = c.Reserve(ctx, put)
	wantNil(t, err)
	r(false)
	if h.PendingUploads() != 0 {
		t.Errorf("%d pending uploads", h.PendingUploads())
	}
}

// Reservations are the Holder's: a reload does not forget them.
func TestReservationsSurviveSwap(t *testing.T) {
	idx := &usage{}
	h := holder(t, reserveConfig, Options{Usage: idx})
	r, err := h.Caller("AKIABOB1").Reserve(context.Background(), Upload{Bucket: "small", Key: "k", Op: classify.PutObject, Size: 3 * mib})
	wantNil(t, err)
	h.Swap(compile(t, reserveConfig))
	_, err = h.Caller("AKIABOB1").Reserve(context.Background(), Upload{Bucket: "small", Key: "j", Op: classify.PutObject, Size: 2 * mib})
	wantCode(t, err, s3err.QuotaExceeded)
	r(false)
}

// hookedUsage runs during a bucket usage read, after the value is taken:
// what happens there is what a concurrent upload does while a check waits
// on the index.
type hookedUsage struct {
	*usage
	duringRead func()
}

func (u hookedUsage) BucketUsage(ctx context.Context, bucket string) (int64, int64, error) {
	objects, bytes, err := u.usage.BucketUsage(ctx, bucket)
	if f := u.duringRead; f != nil {
		f()
	}
	return objects, bytes, err
}

// An upload that is stored and released while another check reads usage
// is in neither the usage that check read nor the reservations it then
// sees; the check must count it anyway.
func TestReserveCountsUploadsFinishedDuringRead(t *testing.T) {
	idx := &usage{}
	hooked := hookedUsage{usage: idx}
	h := holder(t, reserveConfig, Options{Usage: &hooked})
	c := h.Caller("AKIABOB1")
	ctx := context.Background()
	first, err := c.Reserve(ctx, Upload{Bucket: "small", Key: "a", Op: classify.PutObject, Size: 3 * mib})
	wantNil(t, err)
	hooked.duringRead = func() {
		hooked.duringRead = nil
		idx.store("small", "bob", 1, 3*mib)
		first(true)
	}
	_, err = c.Reserve(ctx, Upload{Bucket: "small", Key: "b", Op: classify.PutObject, Size: 2 * mib})
	if e := wantCode(t, err, s3err.QuotaExceeded); !strings.Contains(e.Message, "3145728 bytes stored + 2097152 new") {
		t.Errorf("message %q (want the fresh usage of a second read)", e.Message)
	}
}
