package policy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const throttleConfig = `
users:
  - name: slow
    access_key: AKIASLOW
    secret_key: slow-secret
    grants: [{buckets: "*", actions: [write]}]
    limits: {upload_bytes_per_second: 512KiB}
  - name: fast
    access_key: AKIAFAST
    secret_key: fast-secret
    grants: [{buckets: "*", actions: [write]}]
`

// Time in a synctest bubble is virtual: these tests measure seconds of
// throttling without taking them.
func TestThrottleSlowsUploads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		h := holder(t, throttleConfig, Options{Observer: obs})
		body := bytes.Repeat([]byte("x"), 1<<20)
		start := time.Now()
		n, err := io.Copy(io.Discard, h.Caller("AKIASLOW").Throttle(context.Background(), bytes.NewReader(body)))
		elapsed := time.Since(start)
		if err != nil || n != 1<<20 {
			t.Fatalf("copied %d, %v", n, err)
		}
		// 1 MiB at 512 KiB/s with a 64 KiB burst: (1024-64)/512 s.
		if elapsed < 1500*time.Millisecond || elapsed > 2*time.Second {
			t.Errorf("1 MiB at 512 KiB/s took %v, want about 1.875 s", elapsed)
		}
		if obs.waits != 1 || obs.waited < 1500*time.Millisecond || obs.waited > elapsed {
			t.Errorf("observer saw %d waits totalling %v; want one of about %v", obs.waits, obs.waited, elapsed)
		}
	})
}

func TestThrottleIsPerUserAcrossUploads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, throttleConfig, Options{})
		start := time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				r := h.Caller("AKIASLOW").Throttle(context.Background(), bytes.NewReader(make([]byte, 512<<10)))
				if _, err := io.Copy(io.Discard, r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if elapsed := time.Since(start); elapsed < 1500*time.Millisecond {
			t.Errorf("two 512 KiB uploads in parallel took %v: the limit is per user, not per upload", elapsed)
		}
	})
}

func TestThrottleUnlimitedReturnsReader(t *testing.T) {
	h := holder(t, throttleConfig, Options{})
	r := strings.NewReader("body")
	if got := h.Caller("AKIAFAST").Throttle(context.Background(), r); got != io.Reader(r) {
		t.Error("unlimited user's body was wrapped")
	}
	if got := h.Caller("").Throttle(context.Background(), r); got != io.Reader(r) {
		t.Error("anonymous body was wrapped")
	}
}

func TestThrottleStopsWhenClientGoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, throttleConfig, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		r := h.Caller("AKIASLOW").Throttle(ctx, bytes.NewReader(make([]byte, 10<<20)))
		go func() {
			time.Sleep(500 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		_, err := io.Copy(io.Discard, r)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 600*time.Millisecond {
			t.Errorf("throttled reader ignored cancellation for %v", elapsed)
		}
	})
}

func TestThrottleFollowsReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, throttleConfig, Options{})
		r := h.Caller("AKIASLOW").Throttle(context.Background(), bytes.NewReader(make([]byte, 4<<20)))
		// Halfway through, the limit rises to 4 MiB/s (burst 512 KiB).
		buf := make([]byte, 32<<10)
		start := time.Now()
		for read := 0; read < 1<<20; {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			read += n
		}
		h.Swap(compile(t, strings.Replace(throttleConfig, "512KiB", "4MiB", 1)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		// 1 MiB at 512 KiB/s (~1.9 s), then 3 MiB at 4 MiB/s (~0.75 s).
		if elapsed := time.Since(start); elapsed < 2*time.Second || elapsed > 3500*time.Millisecond {
			t.Errorf("took %v, want about 2.6 s", elapsed)
		}
	})
}

// One check on the real clock, kept short: 48 KiB at 64 KiB/s (16 KiB burst).
func TestThrottleRealClock(t *testing.T) {
	h := holder(t, strings.Replace(throttleConfig, "512KiB", "64KiB", 1), Options{})
	start := time.Now()
	if _, err := io.Copy(io.Discard, h.Caller("AKIASLOW").Throttle(context.Background(), bytes.NewReader(make([]byte, 48<<10)))); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 450*time.Millisecond {
		t.Errorf("48 KiB at 64 KiB/s took %v, want at least 0.5 s", elapsed)
	}
}

func TestThrottleLiftedByReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := holder(t, throttleConfig, Options{})
		r := h.Caller("AKIASLOW").Throttle(context.Background(), bytes.NewReader(make([]byte, 8<<20)))
		if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
			t.Fatal(err)
		}
		h.Swap(compile(t, strings.Replace(throttleConfig, "limits: {upload_bytes_per_second: 512KiB}", "", 1)))
		start := time.Now()
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
			t.Errorf("7 MiB after the limit was lifted took %v", elapsed)
		}
	})
}
