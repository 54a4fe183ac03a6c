package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/test/harness"
)

// TestBackendRequestsPerOperation pins the hot path's cost to the backend:
// with the index kept (as `photogate serve` does) and no size limit, quota
// or type policy in force, each of PUT, GET, HEAD and DELETE of an object
// reaches the backend exactly once. Every further request is CPU and
// latency taken from the backend for each client operation (issue 17).
//
// The count is photogate_backend_requests_total over all its labels, so a
// request the index makes under another operation's name (a HeadObject
// read-back during a DELETE, say) counts too; the labels of what was sent
// are in the failure message. Each operation must also reuse photogate's
// connection to the backend: a new TCP connection per request costs the
// backend as much as a request.
func TestBackendRequestsPerOperation(t *testing.T) {
	for _, kind := range allBackends {
		t.Run(kind.name, func(t *testing.T) {
			var dialed atomic.Int64
			testBackendRequests(t, newStack(t, countingConnections(kind, &dialed), stackOptions{index: true}), &dialed)
		})
	}
}

func testBackendRequests(t *testing.T, s *stack, dialed *atomic.Int64) {
	ctx := context.Background()
	s.bucket(t, "hotpath")
	c := s.client(t)
	body := harness.RandomBytes(64 << 10)
	const key = "dir/object.bin"

	ops := []struct {
		name string
		do   func() error
	}{
		{"PUT", func() error {
			_, err := c.PutObject(ctx, "hotpath", key, bytes.NewReader(body), int64(len(body)),
				minio.PutObjectOptions{ContentType: "application/octet-stream"})
			return err
		}},
		{"HEAD", func() error {
			info, err := c.StatObject(ctx, "hotpath", key, minio.StatObjectOptions{})
			if err == nil && info.Size != int64(len(body)) {
				err = fmt.Errorf("HEAD says %d bytes, want %d", info.Size, len(body))
			}
			return err
		}},
		{"GET", func() error {
			obj, err := c.GetObject(ctx, "hotpath", key, minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			got, err := io.ReadAll(obj)
			if err == nil && !bytes.Equal(got, body) {
				err = fmt.Errorf("GET returned %d bytes that differ from the %d put", len(got), len(body))
			}
			return err
		}},
		{"DELETE", func() error {
			return c.RemoveObject(ctx, "hotpath", key, minio.RemoveObjectOptions{})
		}},
	}
	// The first request opens photogate's connection to the backend.
	if _, err := c.BucketExists(ctx, "hotpath"); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		clientBefore := counterSum(t, s.metrics, "photogate_s3_requests_total")
		before := backendRequests(t, s.metrics)
		connsBefore := dialed.Load()
		if err := op.do(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		after := settledBackendRequests(t, s.metrics)
		if n := counterSum(t, s.metrics, "photogate_s3_requests_total") - clientBefore; n != 1 {
			t.Fatalf("%s: the client sent %d requests to photogate, want 1 (the count below would not be per operation)", op.name, n)
		}
		sent := diffCounts(before, after)
		total := 0
		for _, n := range sent {
			total += n
		}
		if total != 1 {
			t.Errorf("%s made %d backend requests, want exactly 1; by operation/outcome: %s",
				op.name, total, describeCounts(sent))
		}
		if n := dialed.Load() - connsBefore; n != 0 {
			t.Errorf("%s opened %d new connections to the backend, want 0 (the idle one is reused)", op.name, n)
		}
	}
	if _, found := s.stored(t, "hotpath", key); found {
		t.Error("the object is still at the backend after DELETE")
	}
}

// countingConnections is kind with photogate reaching its server through a
// TCP relay that counts the connections photogate opens.
func countingConnections(kind backendKind, dialed *atomic.Int64) backendKind {
	return backendKind{kind.name, func(t *testing.T) *origin {
		o := kind.start(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		target := strings.TrimPrefix(o.endpoint, "http://")
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			conns []net.Conn
		)
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
		wg.Go(func() {
			for {
				client, err := ln.Accept()
				if err != nil {
					return
				}
				dialed.Add(1)
				server, err := net.Dial("tcp", target)
				if err != nil {
					client.Close()
					continue
				}
				mu.Lock()
				conns = append(conns, client, server)
				mu.Unlock()
				for _, dir := range [][2]net.Conn{{client, server}, {server, client}} {
					wg.Go(func() {
						_, _ = io.Copy(dir[0], dir[1])
						// Either side ending ends the pair, as a direct
						// connection would.
						dir[0].Close()
						dir[1].Close()
					})
				}
			}
		})
		o.endpoint = "http://" + ln.Addr().String()
		return o
	}}
}

// TestBackendRequestsUnderConcurrency is the same count with requests in
// flight together, as a benchmark or a busy library sends them: workers on
// distinct keys must not make the index read keys back (which it does for
// keys it sees contended), and photogate must keep reusing its pooled
// connections to the backend instead of opening one per request.
func TestBackendRequestsUnderConcurrency(t *testing.T) {
	const workers, perWorker = 8, 10
	for _, kind := range allBackends {
		t.Run(kind.name, func(t *testing.T) {
			var dialed atomic.Int64
			s := newStack(t, countingConnections(kind, &dialed), stackOptions{index: true})
			ctx := context.Background()
			s.bucket(t, "busy")
			c := s.client(t)
			body := harness.RandomBytes(64 << 10)
			before := backendRequests(t, s.metrics)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					for i := range perWorker {
						key := fmt.Sprintf("w%d/%d", w, i)
						if err := putHeadGetDelete(ctx, c, "busy", key, body); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			sent := diffCounts(before, settledBackendRequests(t, s.metrics))
			total := 0
			for _, n := range sent {
				total += n
			}
			if want := 4 * workers * perWorker; total != want {
				t.Errorf("%d operations made %d backend requests, want %d; by operation/outcome: %s",
					want, total, want, describeCounts(sent))
			}
			// About one connection per request in flight; a pool that
			// keeps fewer idle than are in flight reconnects all the time
			// (hundreds of connections here). net/http may dial one more
			// when a connection comes back idle just as a request started
			// dialing, so a few extra are no fault.
			if n := dialed.Load(); n > workers+2 {
				t.Errorf("photogate opened %d connections to the backend for %d requests in flight, want at most %d", n, workers, workers+2)
			}
		})
	}
}

func putHeadGetDelete(ctx context.Context, c *minio.Client, bucket, key string, body []byte) error {
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("PUT %s: %w", key, err)
	}
	if _, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); err != nil {
		return fmt.Errorf("HEAD %s: %w", key, err)
	}
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	n, err := io.Copy(io.Discard, obj)
	obj.Close()
	if err != nil || n != int64(len(body)) {
		return fmt.Errorf("GET %s: %d bytes, %v", key, n, err)
	}
	if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("DELETE %s: %w", key, err)
	}
	return nil
}

// backendRequests is photogate_backend_requests_total by
// "operation/outcome".
func backendRequests(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, f := range families {
		if f.GetName() != "photogate_backend_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var op, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "operation":
					op = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			counts[op+"/"+outcome] = int(m.GetCounter().GetValue())
		}
	}
	return counts
}

// settledBackendRequests waits until no backend request has been made for
// a while, so that one the index sends after the response (a read-back in
// the background) is counted against the operation that caused it.
func settledBackendRequests(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	const quiet = 300 * time.Millisecond
	last := backendRequests(t, reg)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(quiet)
		now := backendRequests(t, reg)
		if maps.Equal(now, last) {
			return now
		}
		last = now
	}
	t.Fatal("photogate kept sending backend requests for 10 s after the operation")
	return nil
}

// counterSum is the sum of a counter family over all its labels.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return int(sum)
}

func diffCounts(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

func describeCounts(c map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, c[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
