package policy

import (
	"sync/atomic"

	"golang.org/x/time/rate"
)

// limiters is the rate-limiting state the Holder owns. It outlives Engines:
// were it rebuilt on every reload, a SIGHUP would hand every user a full
// burst and forget every throttled address, so an attacker could reset its
// limits by provoking a reload, and a busy gateway would spike after each.
type limiters struct {
	inFlight atomic.Int64 // requests admitted and not yet released
	auth     *authLimiter
}

// userLimiters are one identity's token buckets; nil means unlimited. The
// struct is immutable, published in a snapshot; the *rate.Limiter inside
// carry the state and are shared by the snapshots before and after a reload.
type userLimiters struct {
	requests *rate.Limiter
	upload   *rate.Limiter
	// inFlight counts the identity's requests admitted and not released.
	// It is counted even without a cap, so that a reload that sets one
	// sees the requests already running, and it is carried over reloads
	// like the token buckets.
	inFlight    *atomic.Int64
	maxInFlight int64 // 0: only the global cap
}

// rebuild makes the per-user limiters for e, keeping the buckets of
// identities that are still there and reconfiguring them in place. Each
// limit is this replica's share: 1/replicas of it (see
// Holder.SetReplicas), bursts and in-flight caps rounded up.
func rebuild(prev map[string]*userLimiters, e *Engine, replicas int64) map[string]*userLimiters {
	next := make(map[string]*userLimiters, len(e.users)+1)
	n := max(replicas, 1)
	build := func(key string, l limits) {
		old := prev[key]
		if old == nil {
			old = &userLimiters{inFlight: new(atomic.Int64)}
		}
		maxInFlight := l.maxInFlight
		if maxInFlight > 0 {
			maxInFlight = (maxInFlight + n - 1) / n
		}
		next[key] = &userLimiters{
			requests:    carry(old.requests, l.requests/rate.Limit(n), share(l.burst, n)),
			upload:      carry(old.upload, l.upload/rate.Limit(n), share(l.uploadBurst, n)),
			inFlight:    old.inFlight,
			maxInFlight: maxInFlight,
		}
	}
	for key, u := range e.users {
		build(key, u.limits)
	}
	build("", e.anonymous) // access keys are never empty, so "" is free
	return next
}

// share is burst/n rounded up, at least 1: every replica can always admit
// one request.
func share(burst int, n int64) int {
	return max(int((int64(burst)+n-1)/n), 1)
}

// carry returns a limiter for r and burst: old itself, reconfigured, when
// there is one (so its tokens survive), a new full one otherwise. A zero r
// is unlimited: no limiter at all, so the hot path skips it. A user who is
// lifted and limited again later starts with a full bucket.
func carry(old *rate.Limiter, r rate.Limit, burst int) *rate.Limiter {
	if r == 0 {
		if old != nil {
			// Uploads already throttled by it hold on to it: free them too.
			old.SetLimit(rate.Inf)
		}
		return nil
	}
	if old == nil {
		return rate.NewLimiter(r, burst)
	}
	old.SetBurst(burst)
	old.SetLimit(r)
	return old
}
