package policy

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Holder holds the current Engine and hands out Callers. It is safe for
// concurrent use; Swap replaces the Engine atomically while requests are in
// flight. A request asks Caller once and every decision of its Caller,
// so it keeps the Engine it started with. The Holder keeps what is not
// about one request: secrets, the failed-signature throttle, IsAdmin, and
// the state that outlives Engines (rate limiters, requests in flight,
// quota reservations).
type Holder struct {
	snap     atomic.Pointer[snapshot]
	swapMu   sync.Mutex // serialises Swap; decisions never take it
	limiters limiters
	ledger   *ledger // quota reservations; like limiters, outlives Engines
	usage    Usage
	shared   SharedQuotas
	observer Observer
	replicas atomic.Int64 // live replicas sharing the configured rates; ≥ 1
}

// snapshot pairs an Engine with the user limiters built for it, so that a
// decision never sees the limiters of one Engine with the users of another.
type snapshot struct {
	engine *Engine
	users  map[string]*userLimiters // by access key; "" is anonymous
}

// Options are the Holder's collaborators. Both may be nil: without Usage
// every upload into a bucket or by a user with a quota is refused (quotas
// fail closed); without Observer nothing is reported.
type Options struct {
	Usage    Usage
	Observer Observer
	// Shared, when set, also checks quotas against other replicas'
	// uploads (several replicas, one index).
	Shared SharedQuotas
}

// NewHolder returns a Holder serving e, which must come from Compile.
func NewHolder(e *Engine, opts Options) *Holder {
	if e == nil {
		panic("policy.NewHolder: nil Engine")
	}
	h := &Holder{usage: opts.Usage, shared: opts.Shared, observer: opts.Observer, ledger: newLedger()}
	h.replicas.Store(1)
	h.limiters.auth = newAuthLimiter(e.auth)
	h.snap.Store(&snapshot{engine: e, users: rebuild(nil, e, 1)})
	return h
}

// Load returns the current Engine.
func (h *Holder) Load() *Engine { return h.snap.Load().engine }

// Swap installs e (from Compile) and returns the Engine it replaces. Rate
// limiter state carries over: users that still exist keep their tokens
// under their new limits, addresses keep their failure counts, and
// requests in flight still count against max_in_flight.
func (h *Holder) Swap(e *Engine) *Engine {
	if e == nil {
		panic("policy.Holder.Swap: nil Engine")
	}
	h.swapMu.Lock()
	defer h.swapMu.Unlock()
	old := h.snap.Load()
	next := &snapshot{engine: e, users: rebuild(old.users, e, h.replicas.Load())}
	h.limiters.auth.configure(e.auth)
	h.snap.Store(next)
	return old.engine
}

// SetReplicas tells the Holder how many replicas share the configured
// per-user limits (requests per second, burst, upload bandwidth,
// max_in_flight): each enforces its share, 1/n of each, so that together
// they allow what is configured when a load balancer spreads each user's
// requests evenly. It costs no request a network hop; the price is that a
// user whose requests all reach one replica gets 1/n of the limit until n
// changes. n < 1 counts as 1.
func (h *Holder) SetReplicas(n int) {
	n = max(n, 1)
	h.swapMu.Lock()
	defer h.swapMu.Unlock()
	if h.replicas.Load() == int64(n) {
		return
	}
	h.replicas.Store(int64(n))
	old := h.snap.Load()
	h.snap.Store(&snapshot{engine: old.engine, users: rebuild(old.users, old.engine, int64(n))})
}

// Format keeps any fmt output of a Holder short and free of secrets.
func (h *Holder) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "policy.Holder{%v, in flight: %d}", h.Load(), h.limiters.inFlight.Load())
}
