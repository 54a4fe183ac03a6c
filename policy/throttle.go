package policy

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/time/rate"
)

// Throttle wraps an upload body so it is read no faster than the user's
// upload_bytes_per_second, shared by all of that user's uploads. It returns
// r itself when the user has no such limit. Waits end early when ctx ends
// (the client went away); the reader then fails with ctx's error.
func (c *Caller) Throttle(ctx context.Context, r io.Reader) io.Reader {
	ul := c.limiters
	if ul == nil || ul.upload == nil {
		return r
	}
	return &throttledReader{ctx: ctx, r: r, lim: ul.upload, h: c.h, name: c.Name()}
}

type throttledReader struct {
	ctx    context.Context
	r      io.Reader
	lim    *rate.Limiter
	h      *Holder
	name   string
	waited time.Duration // so far; reported once, when the body ends
	done   bool
}

// Read reads at most a burst, then waits for the bytes it got. Waiting
// after the read keeps the limiter exact (a short read pays only for what
// it read), and the next Read cannot start before the wait is over, which
// is what pushes back on the client through TCP.
func (t *throttledReader) Read(p []byte) (int, error) {
	if b := t.lim.Burst(); b > 0 && len(p) > b {
		p = p[:b]
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if werr := t.wait(n); werr != nil {
			err = werr
		}
	}
	if err != nil && !t.done {
		// One observation per upload: how long this request was held back.
		t.done = true
		t.h.waited(t.name, t.waited)
	}
	return n, err
}

// wait is rate.Limiter.WaitN, in pieces no larger than the current burst (a
// reload may shrink it between Read and here), adding up how long it
// actually waited.
func (t *throttledReader) wait(n int) error {
	for retries := 0; n > 0; {
		k := min(n, max(t.lim.Burst(), 1))
		now := time.Now()
		r := t.lim.ReserveN(now, k)
		if !r.OK() {
			// The burst shrank between Burst and ReserveN: take the new one.
			if retries++; retries > 3 {
				return fmt.Errorf("upload bandwidth limit: cannot reserve %d bytes (burst %d)", k, t.lim.Burst())
			}
			continue
		}
		n -= k
		d := r.DelayFrom(now)
		if d <= 0 {
			continue
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
			t.waited += d
		case <-t.ctx.Done():
			timer.Stop()
			r.Cancel() // give back what was not used
			return fmt.Errorf("upload bandwidth limit: %w", context.Cause(t.ctx))
		}
	}
	return nil
}
