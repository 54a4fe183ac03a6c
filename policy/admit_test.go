package policy

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

const rateConfig = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read]}]
    limits: {requests_per_second: 5, burst: 3}
  - name: bob
    access_key: AKIABOB1
    secret_key: bob-secret-1
    grants: [{buckets: "*", actions: [read]}]
policy:
  limits: {requests_per_second: 0}
`

// admitN admits n requests and releases them at once.
func admitN(t *testing.T, h *Holder, key string, n int) {
	t.Helper()
	for i := range n {
		release, err := h.Caller(key).Admit(context.Background())
		if err != nil {
			t.Fatalf("request %d of %s: %v", i+1, key, err)
		}
		release()
	}
}

func TestAdmitRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		h := holder(t, rateConfig, Options{Observer: obs})
		admitN(t, h, "AKIAANA1", 3) // the burst
		_, err := h.Caller("AKIAANA1").Admit(context.Background())
		e := wantCode(t, err, s3err.SlowDown)
		if e.RetryAfter != 1 || e.Code.Status() != 503 {
			t.Errorf("RetryAfter %d, status %d", e.RetryAfter, e.Code.Status())
		}
		if !strings.Contains(e.Message, "user ana is limited to 5 requests per second") {
			t.Errorf("message %q", e.Message)
		}
		if obs.last() != "rate_limited ana" {
			t.Errorf("observer: %q", obs.last())
		}
		if h.InFlight() != 0 {
			t.Errorf("a refused request stays in flight: %d", h.InFlight())
		}
		// A refused request takes no token: after one token's time, exactly
		// one request passes.
		time.Sleep(200 * time.Millisecond)
		admitN(t, h, "AKIAANA1", 1)
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("second request after one refill: %v", err)
		}
		// The bucket refills to the burst, not beyond.
		time.Sleep(10 * time.Second)
		admitN(t, h, "AKIAANA1", 3)
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); err == nil {
			t.Fatal("burst exceeded after a long pause")
		}
		// Other users are not affected; unlimited users are never limited.
		admitN(t, h, "AKIABOB1", 1000)
	})
}

func TestAdmitRetryAfterRoundsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, strings.Replace(rateConfig, "requests_per_second: 5, burst: 3", "requests_per_second: 0.25, burst: 1", 1), Options{})
		admitN(t, h, "AKIAANA1", 1)
		_, err := h.Caller("AKIAANA1").Admit(context.Background())
		if e := wantCode(t, err, s3err.SlowDown); e.RetryAfter != 4 {
			t.Errorf("RetryAfter %d, want 4 (one token per 4 s)", e.RetryAfter)
		}
		time.Sleep(3 * time.Second)
		_, err = h.Caller("AKIAANA1").Admit(context.Background())
		if e := wantCode(t, err, s3err.SlowDown); e.RetryAfter != 1 {
			t.Errorf("RetryAfter %d, want 1", e.RetryAfter)
		}
	})
}

func TestAdmitStateSurvivesSwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, rateConfig, Options{})
		admitN(t, h, "AKIAANA1", 3)

		// Reload with the same limits: no fresh burst.
		old := h.Swap(compile(t, rateConfig))
		if old == nil || old == h.Load() {
			t.Fatal("Swap did not return the old Engine")
		}
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("reload handed out a fresh burst: %v", err)
		}

		// Reload with a new rate: the bucket is reconfigured in place.
		h.Swap(compile(t, strings.Replace(rateConfig, "requests_per_second: 5, burst: 3", "requests_per_second: 1, burst: 2", 1)))
		time.Sleep(time.Second)
		admitN(t, h, "AKIAANA1", 1)
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("new rate 1/s not applied: %v", err)
		}

		// Make bob limited: a new, full bucket.
		h.Swap(compile(t, strings.Replace(rateConfig, "grants: [{buckets: \"*\", actions: [read]}]\npolicy", "grants: [{buckets: \"*\", actions: [read]}]\n    limits: {requests_per_second: 1, burst: 2}\npolicy", 1)))
		admitN(t, h, "AKIABOB1", 2)
		if _, err := h.Caller("AKIABOB1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("bob's new limit not applied: %v", err)
		}

		// Lift ana's limit.
		h.Swap(compile(t, strings.Replace(rateConfig, "limits: {requests_per_second: 5, burst: 3}", "limits: {requests_per_second: 0}", 1)))
		admitN(t, h, "AKIAANA1", 100)
	})
}

func TestAdmitAnonymousSharesDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, `
users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]
policy:
  limits: {requests_per_second: 1, burst: 2}
  buckets: [{bucket: pub, public_read: true}]
`, Options{})
		admitN(t, h, "", 2)
		_, err := h.Caller("").Admit(context.Background())
		if e := wantCode(t, err, s3err.SlowDown); !strings.Contains(e.Message, "anonymous requests are limited") {
			t.Errorf("message %q", e.Message)
		}
		admitN(t, h, "AKIA1", 2) // its own bucket with the same defaults
	})
}

func TestAdmitInFlight(t *testing.T) {
	obs := &observer{}
	h := holder(t, strings.Replace(rateConfig, "requests_per_second: 0", "max_in_flight: 2", 1), Options{Observer: obs})
	ctx := context.Background()
	r1, err := h.Caller("AKIABOB1").Admit(ctx)
	wantNil(t, err)
	r2, err := h.Caller("").Admit(ctx)
	wantNil(t, err)
	_, err = h.Caller("AKIABOB1").Admit(ctx)
	if e := wantCode(t, err, s3err.SlowDown); e.RetryAfter != 1 || !strings.Contains(e.Message, "limit of 2 requests at once") {
		t.Errorf("refusal %+v", e)
	}
	if obs.last() != "in_flight bob" {
		t.Errorf("observer %q", obs.last())
	}

	// The count survives a reload.
	h.Swap(compile(t, strings.Replace(rateConfig, "requests_per_second: 0", "max_in_flight: 2", 1)))
	if _, err := h.Caller("AKIABOB1").Admit(ctx); !s3err.Is(err, s3err.SlowDown) {
		t.Fatalf("reload reset the in-flight count: %v", err)
	}

	r1()
	r1() // idempotent
	if h.InFlight() != 1 {
		t.Fatalf("in flight %d after one release (twice)", h.InFlight())
	}
	r3, err := h.Caller("AKIABOB1").Admit(ctx)
	wantNil(t, err)
	r2()
	r3()
	if h.InFlight() != 0 {
		t.Fatalf("in flight %d", h.InFlight())
	}
}

func TestAdmitCanceledContext(t *testing.T) {
	h := holder(t, rateConfig, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Caller("AKIABOB1").Admit(ctx); err == nil {
		t.Fatal("admitted a request whose client is gone")
	}
	if h.InFlight() != 0 {
		t.Fatal("leaked in-flight count")
	}
}

// TestSetReplicasDividesLimits: with three replicas each enforces a third
// of a user's rate and burst, rounded up; back to one, the whole.
func TestSetReplicasDividesLimits(t *testing.T) {
	const cfg = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read]}]
    limits: {requests_per_second: 30, burst: 30, max_in_flight: 7}
`
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, cfg, Options{})
		h.SetReplicas(3)
		admitN(t, h, "AKIAANA1", 10) // a third of the burst
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("the 11th request of a third of a 30 burst: %v", err)
		}
		time.Sleep(time.Second) // a third of 30 per second: 10 tokens
		admitN(t, h, "AKIAANA1", 10)
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); !s3err.Is(err, s3err.SlowDown) {
			t.Fatalf("after one second at a third of the rate: %v", err)
		}
		// max_in_flight 7 over 3 replicas: 3 each.
		time.Sleep(time.Second)
		var releases []func()
		for range 3 {
			release, err := h.Caller("AKIAANA1").Admit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			releases = append(releases, release)
		}
		if _, err := h.Caller("AKIAANA1").Admit(context.Background()); err == nil {
			t.Fatal("a fourth request in flight with a share of 3")
		}
		for _, r := range releases {
			r()
		}
		h.SetReplicas(1)
		time.Sleep(2 * time.Second) // the whole burst back
		admitN(t, h, "AKIAANA1", 30)
	})
}
