package policy

import (
	"container/list"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// authSettings configure the per-address limiter of failed signatures.
// perSecond 0 turns it off.
type authSettings struct {
	perSecond    float64
	burst        float64
	maxAddresses int
}

func (s authSettings) enabled() bool { return s.perSecond > 0 }

// authLimiter is a token bucket per client address that only failed
// signature checks drain. Its job is to make guessing secrets (or access
// keys) by brute force impractical from one address without ever slowing
// down a client that signs correctly.
//
// Memory is bounded: entries are kept in least-recently-failed order,
// entries idle long enough to have refilled completely are dropped (they
// are indistinguishable from an address never seen), and beyond
// maxAddresses the least recently failing address is forgotten. The
// settings live here, not per entry, so a reload reconfigures every
// address at once.
type authLimiter struct {
	mu       sync.Mutex
	settings authSettings
	entries  map[string]*list.Element // values are *failureBucket
	order    list.List                // front: most recent failure
}

type failureBucket struct {
	key    string
	tokens float64 // as of last
	last   time.Time
}

func newAuthLimiter(s authSettings) *authLimiter {
	return &authLimiter{settings: s, entries: make(map[string]*list.Element)}
}

func (a *authLimiter) configure(s authSettings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settings = s
	if !s.enabled() {
		clear(a.entries)
		a.order.Init()
		return
	}
	for len(a.entries) > s.maxAddresses {
		a.remove(a.order.Back())
	}
}

// wait is how long the address must wait before its next attempt; 0: now.
func (a *authLimiter) wait(ip string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.settings.enabled() {
		return 0
	}
	el := a.entries[addressKey(ip)]
	if el == nil {
		return 0
	}
	tokens := a.tokensAt(el.Value.(*failureBucket), now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / a.settings.perSecond * float64(time.Second))
}

// fail takes a token from the address's bucket.
func (a *authLimiter) fail(ip string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.settings.enabled() {
		return
	}
	a.sweep(now)
	key := addressKey(ip)
	if el := a.entries[key]; el != nil {
		b := el.Value.(*failureBucket)
		b.tokens, b.last = max(a.tokensAt(b, now)-1, 0), now
		a.order.MoveToFront(el)
		return
	}
	for len(a.entries) > 0 && len(a.entries) >= a.settings.maxAddresses {
		a.remove(a.order.Back())
	}
	a.entries[key] = a.order.PushFront(&failureBucket{key: key, tokens: a.settings.burst - 1, last: now})
}

func (a *authLimiter) tokensAt(b *failureBucket, now time.Time) float64 {
	return min(b.tokens+now.Sub(b.last).Seconds()*a.settings.perSecond, a.settings.burst)
}

// sweep drops entries idle long enough to be full again. The list is in
// order of last failure, so the idle ones are all at the back.
func (a *authLimiter) sweep(now time.Time) {
	refill := time.Duration(a.settings.burst / a.settings.perSecond * float64(time.Second))
	for el := a.order.Back(); el != nil && now.Sub(el.Value.(*failureBucket).last) >= refill; el = a.order.Back() {
		a.remove(el)
	}
}

func (a *authLimiter) remove(el *list.Element) {
	if el == nil {
		return
	}
	delete(a.entries, el.Value.(*failureBucket).key)
	a.order.Remove(el)
}

func (a *authLimiter) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}

// addressKey is the unit an attacker pays per: an IPv4 address, or an IPv6
// /64 (one host usually owns a whole /64, so counting single IPv6 addresses
// would let it rotate through 2^64 of them). "host:port" is accepted.
func addressKey(ip string) string {
	host := ip
	if h, _, err := net.SplitHostPort(ip); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		// Not an IP (a unix socket, a test): bound what is stored.
		return host[:min(len(host), 64)]
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// AuthAllowed reports whether the client at ip may have a signature checked
// at all: nil, or SlowDown (503, with Retry-After) when the address has
// failed too often. Call it before verifying a signature, so a throttled
// guesser learns nothing, not even whether its guess was right.
func (h *Holder) AuthAllowed(ip string) error {
	d := h.limiters.auth.wait(ip, time.Now())
	if d == 0 {
		return nil
	}
	h.refused(ReasonAuthThrottled, "")
	return slowDown(d, fmt.Sprintf("Too many failed authentication attempts from your address; retry in %s.", retryAfter(d)))
}

// AuthFailed records that a request from ip failed authentication: a wrong
// signature (SignatureDoesNotMatch) or an unknown access key
// (InvalidAccessKeyId).
func (h *Holder) AuthFailed(ip string) {
	h.limiters.auth.fail(ip, time.Now())
}

// retryAfter formats d rounded up to the whole seconds Retry-After carries.
func retryAfter(d time.Duration) string {
	return fmt.Sprintf("%ds", retrySeconds(d))
}
