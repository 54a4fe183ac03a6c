package policy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

// Decisions race with reloads: run under -race. Two configs alternate; in
// both, ana may read "photos" and carol exists only in the second.
func TestConcurrentSwapWhileDeciding(t *testing.T) {
	const base = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: photos, actions: [read, write]}]
    limits: {requests_per_second: 100000, burst: 100000, upload_bytes_per_second: 1GiB}
    quota: {max_bytes: 1TiB}
%s
policy:
  limits: {max_in_flight: 1000, auth_failures_per_minute: %d}
  buckets:
    - {bucket: photos, max_object_size: %s, allowed_types: ["image/*"], quota: {max_objects: 1000000}}
    - {bucket: "pub-*", public_read: true}
`
	carol := `  - {name: carol, access_key: AKIACAROL, secret_key: carol-secret, grants: [{buckets: "*", actions: [list]}]}`
	engines := []*Engine{
		compile(t, fmt.Sprintf(base, "", 10, "10MiB")),
		compile(t, fmt.Sprintf(base, carol, 600, "20MiB")),
	}
	h := NewHolder(engines[0], Options{Usage: &usage{}, Observer: &observer{}})
	ctx := context.Background()
	const wantSwaps = 500
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range wantSwaps {
			h.Swap(engines[i%2])
			swaps.Add(1)
			runtime.Gosched()
		}
	})
	jpeg := []byte("\xFF\xD8\xFF\xE0 a jpeg")
	for g := range 8 {
		wg.Go(func() {
			// At least 300 rounds, and until every swap has happened.
			for i := 0; i < 300 || swaps.Load() < wantSwaps; i++ {
				ana := h.Caller("AKIAANA1") // one policy for the whole request
				release, err := ana.Admit(ctx)
				if err != nil {
					t.Errorf("admit: %v", err)
					return
				}
				if err := ana.Authorize(classify.PutObject, "photos", "k"); err != nil {
					t.Errorf("authorize: %v", err)
				}
				kept, err := ana.Reserve(ctx, Upload{Bucket: "photos", Op: classify.PutObject, Size: 1 << 20})
				if err != nil {
					t.Errorf("reserve: %v", err)
				} else {
					kept(i%2 == 0)
				}
				if err := ana.CheckType("photos", jpeg); err != nil {
					t.Errorf("check type: %v", err)
				}
				if _, err := io.Copy(io.Discard, ana.Throttle(ctx, bytes.NewReader(make([]byte, 1024)))); err != nil {
					t.Errorf("throttle: %v", err)
				}
				if _, ok := h.Secret("AKIAANA1"); !ok {
					t.Error("secret vanished")
				}
				_ = h.Caller("AKIACAROL").Authorize(classify.ListObjectsV2, "x", "")
				if r, err := h.Caller("AKIACAROL").Admit(ctx); err == nil {
					r()
				}
				_ = h.Caller("").Authorize(classify.GetObject, "pub-1", "k")
				ip := fmt.Sprintf("10.0.%d.%d", g, i%50)
				if h.AuthAllowed(ip) == nil {
					h.AuthFailed(ip)
				}
				release()
			}
		})
	}
	wg.Wait()
	if n := h.InFlight(); n != 0 {
		t.Fatalf("in flight %d after every request was released", n)
	}
	if n := len(h.ledger.scopes); n != 0 {
		t.Fatalf("%d quota reservations left after every upload was released", n)
	}
}

func TestHolderFormat(t *testing.T) {
	h := holder(t, `users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]`, Options{})
	if got := fmt.Sprint(h); got != "policy.Holder{policy.Engine{users: 1, bucket rules: 0}, in flight: 0}" {
		t.Errorf("%q", got)
	}
}

func TestNilObserverAndUsageAreSafe(t *testing.T) {
	h := holder(t, `
users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: x, actions: [read]}], limits: {requests_per_second: 1}}]
policy: {buckets: [{bucket: x, allowed_types: [image/png]}]}
`, Options{})
	ctx := context.Background()
	wantCode(t, h.Caller("AKIA1").Authorize(classify.PutObject, "x", "k"), s3err.AccessDenied)
	r, _ := h.Caller("AKIA1").Admit(ctx)
	r()
	_, err := h.Caller("AKIA1").Admit(ctx)
	wantCode(t, err, s3err.SlowDown)
	wantCode(t, h.Caller("").CheckType("x", []byte("GIF89a")), s3err.InvalidArgument)
}

func TestReasonsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] || r == "" || strings.ContainsAny(r, " -") {
			t.Errorf("reason %q", r)
		}
		seen[r] = true
	}
}
