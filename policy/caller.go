package policy

import "fmt"

// Caller is one request's view of the policy: its identity, the Engine and
// that identity's limiters, resolved once by Holder.Caller. Every decision
// about the request is a method of its Caller, so a reload (Swap) while the
// request runs cannot have it judged by two policies: a request keeps the
// Engine it started with to the end. A Caller is cheap, immutable and safe
// for concurrent use; make one per request, not one per user.
type Caller struct {
	h         *Holder
	engine    *Engine
	accessKey string
	user      *user         // nil: anonymous, or a key a reload removed
	limiters  *userLimiters // nil only for a key a reload removed
}

// Caller resolves accessKey ("" for an anonymous request) against the
// current Engine. An access key the Engine does not know (a reload removed
// it after the signature was verified) yields a Caller that is refused
// everything but Admit.
func (h *Holder) Caller(accessKey string) *Caller {
	s := h.snap.Load()
	return &Caller{h: h, engine: s.engine, accessKey: accessKey, user: s.engine.users[accessKey], limiters: s.users[accessKey]}
}

// Name is the configured name of the caller: what quotas (Usage), logs and
// metrics call it, and what the index should record uploads under. It is ""
// for anonymous callers and unknown keys, never an unauthenticated string.
func (c *Caller) Name() string {
	if c.user == nil {
		return ""
	}
	return c.user.name
}

// Engine is the policy this Caller is judged by.
func (c *Caller) Engine() *Engine { return c.engine }

// Format keeps any fmt output of a Caller short and free of secrets.
func (c *Caller) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "policy.Caller{name: %q, %v}", c.Name(), c.engine)
}
