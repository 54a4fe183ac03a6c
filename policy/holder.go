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
	observer Observer
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
}

// NewHolder returns a Holder serving e, which must come from Compile.
func NewHolder(e *Engine, opts Options) *Holder {
	if e == nil {
		panic("policy.NewHolder: nil Engine")
	}
	h := &Holder{usage: opts.Usage, observer: opts.Observer, ledger: newLedger()}
	h.limiters.auth = newAuthLimiter(e.auth)
	h.snap.Store(&snapshot{engine: e, users: rebuild(nil, e)})
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
	next := &snapshot{engine: e, users: rebuild(old.users, e)}
	h.limiters.auth.configure(e.auth)
	h.snap.Store(next)
	return old.engine
}

// Format keeps any fmt output of a Holder short and free of secrets.
func (h *Holder) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "policy.Holder{%v, in flight: %d}", h.Load(), h.limiters.inFlight.Load())
}
