package policy

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Admit is called once per request, after authentication and before
// anything else, for every request including anonymous ones. It enforces
// the global max_in_flight, the user's own max_in_flight and the user's
// requests per second, refusing with SlowDown (503, Retry-After) rather
// than queueing: SDKs back off and retry, and a queue would hold
// connections and memory. On success the caller must call release exactly
// once when the request ends; extra calls are harmless.
func (c *Caller) Admit(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("admit: %w", err)
	}
	h, name := c.h, c.Name()

	// Counted even when unlimited, so that a reload that sets a cap sees
	// the requests already running.
	n := h.limiters.inFlight.Add(1)
	if limit := c.engine.maxInFlight; limit > 0 && n > limit {
		h.limiters.inFlight.Add(-1)
		h.refused(ReasonInFlight, name)
		return nil, slowDown(time.Second, fmt.Sprintf("photogate is serving its limit of %d requests at once; retry shortly.", limit))
	}
	ul := c.limiters
	var userInFlight *atomic.Int64
	if ul != nil {
		userInFlight = ul.inFlight
		if n := userInFlight.Add(1); ul.maxInFlight > 0 && n > ul.maxInFlight {
			userInFlight.Add(-1)
			h.limiters.inFlight.Add(-1)
			h.refused(ReasonUserInFlight, name)
			return nil, slowDown(time.Second, fmt.Sprintf("User %s already has %d requests in flight, its limit; retry shortly.", name, ul.maxInFlight))
		}
	}
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			h.limiters.inFlight.Add(-1)
			if userInFlight != nil {
				userInFlight.Add(-1)
			}
		}
	}

	if ul != nil && ul.requests != nil {
		now := time.Now()
		r := ul.requests.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now) // the refused request takes no token
			if !r.OK() {
				d = time.Second // cannot happen: burst is at least 1
			}
			release()
			h.refused(ReasonRateLimited, name)
			return nil, slowDown(d, fmt.Sprintf("Please reduce your request rate: %s limited to %g requests per second.", who(name), float64(ul.requests.Limit())))
		}
	}
	return release, nil
}

// who names the subject of a rate-limit message.
func who(name string) string {
	if name == "" {
		return "anonymous requests are"
	}
	return "user " + name + " is"
}

// InFlight is the number of requests admitted and not released, for a
// gauge.
func (h *Holder) InFlight() int64 { return h.limiters.inFlight.Load() }
