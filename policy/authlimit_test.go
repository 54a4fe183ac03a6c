package policy

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

const authConfig = `
users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]
policy:
  limits: {auth_failures_per_minute: 6, auth_failure_burst: 3, auth_failure_max_addresses: 100}
`

func TestAuthFailureLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		h := holder(t, authConfig, Options{Observer: obs})
		const ip = "192.0.2.7:51234"
		for i := range 3 {
			if err := h.AuthAllowed(ip); err != nil {
				t.Fatalf("attempt %d refused: %v", i+1, err)
			}
			h.AuthFailed(ip)
		}
		err := h.AuthAllowed(ip)
		e := wantCode(t, err, s3err.SlowDown)
		if e.RetryAfter != 10 { // 6 per minute: one token every 10 s
			t.Errorf("RetryAfter %d, want 10", e.RetryAfter)
		}
		if obs.last() != ReasonAuthThrottled {
			t.Errorf("observer %q", obs.last())
		}
		// Another port of the same address is the same client; another
		// address is not affected.
		if h.AuthAllowed("192.0.2.7:60000") == nil || h.AuthAllowed("192.0.2.7") == nil {
			t.Error("port change escaped the limiter")
		}
		wantNil(t, h.AuthAllowed("192.0.2.8:1"))

		time.Sleep(4 * time.Second)
		if err := h.AuthAllowed(ip); s3err.From(err).RetryAfter != 6 {
			t.Errorf("after 4 s: %v, want RetryAfter 6", err)
		}
		time.Sleep(6 * time.Second)
		wantNil(t, h.AuthAllowed(ip))
		h.AuthFailed(ip)
		if h.AuthAllowed(ip) == nil {
			t.Error("one refilled token allowed two failures")
		}

		// State survives a reload; turning the limiter off forgets it.
		h.Swap(compile(t, authConfig))
		if h.AuthAllowed(ip) == nil {
			t.Error("reload reset the address's failures")
		}
		h.Swap(compile(t, strings.Replace(authConfig, "auth_failures_per_minute: 6", "auth_failures_per_minute: 0", 1)))
		wantNil(t, h.AuthAllowed(ip))
		h.AuthFailed(ip)
		if h.limiters.auth.size() != 0 {
			t.Error("disabled limiter keeps state")
		}
	})
}

func TestAuthFailureIPv6Prefix(t *testing.T) {
	h := holder(t, authConfig, Options{})
	for i := range 3 {
		h.AuthFailed(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
	}
	if h.AuthAllowed("2001:db8:1:2:ffff::1") == nil {
		t.Error("rotating addresses inside one /64 escaped the limiter")
	}
	wantNil(t, h.AuthAllowed("2001:db8:1:3::1"))
	// IPv4-mapped IPv6 is the IPv4 address.
	for range 3 {
		h.AuthFailed("::ffff:198.51.100.1")
	}
	if h.AuthAllowed("198.51.100.1:80") == nil {
		t.Error("IPv4-mapped address escaped the limiter")
	}
}

func TestAuthFailureMemoryBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, authConfig, Options{})
		// Many addresses: never more than auth_failure_max_addresses kept,
		// and the least recently failing is the one forgotten.
		for i := range 1000 {
			h.AuthFailed(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
			if n := h.limiters.auth.size(); n > 100 {
				t.Fatalf("%d addresses tracked, cap 100", n)
			}
		}
		if h.limiters.auth.size() != 100 {
			t.Fatalf("%d tracked", h.limiters.auth.size())
		}
		hot := "203.0.113.9"
		for range 3 {
			h.AuthFailed(hot)
		}
		for i := range 99 {
			h.AuthFailed(fmt.Sprintf("10.9.0.%d", i))
		}
		if h.AuthAllowed(hot) == nil {
			t.Error("an address among the 100 most recent was evicted")
		}

		// Idle entries go once they would be full again (burst 3 at 6/min:
		// 30 s), at the next failure from anywhere.
		time.Sleep(31 * time.Second)
		h.AuthFailed("192.0.2.1")
		if n := h.limiters.auth.size(); n != 1 {
			t.Errorf("%d entries after the idle sweep, want 1", n)
		}

		// A reload that lowers the cap trims at once.
		for i := range 50 {
			h.AuthFailed(fmt.Sprintf("10.1.0.%d", i))
		}
		h.Swap(compile(t, strings.Replace(authConfig, "auth_failure_max_addresses: 100", "auth_failure_max_addresses: 10", 1)))
		if n := h.limiters.auth.size(); n != 10 {
			t.Errorf("%d entries after lowering the cap to 10", n)
		}
	})
}

func TestAuthFailureDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, `users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]`, Options{})
		for i := range 20 {
			if err := h.AuthAllowed("192.0.2.1"); err != nil {
				t.Fatalf("failure %d refused: default burst is 20", i+1)
			}
			h.AuthFailed("192.0.2.1")
		}
		if err := h.AuthAllowed("192.0.2.1"); s3err.From(err).RetryAfter != 6 {
			t.Errorf("after 20 failures: %v, want SlowDown RetryAfter 6 (10 per minute)", err)
		}
		time.Sleep(time.Minute)
		for range 10 {
			wantNil(t, h.AuthAllowed("192.0.2.1"))
			h.AuthFailed("192.0.2.1")
		}
		if h.AuthAllowed("192.0.2.1") == nil {
			t.Error("more than 10 failures a minute after the burst")
		}
	})
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"192.0.2.1:8080":         "192.0.2.1",
		"[2001:db8::1]:443":      "2001:db8::/64",
		"2001:db8:0:0:1::1":      "2001:db8::/64",
		"fe80::1%eth0":           "fe80::/64",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"@":                      "@",
		strings.Repeat("x", 300): strings.Repeat("x", 64),
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
