package replicas_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

// readyBalancer is a round-robin load balancer in front of the replicas
// that sends requests only to replicas whose /readyz passes, polled every
// 100 ms, as a Kubernetes Service does with its endpoints.
type readyBalancer struct {
	replicas []*harness.Gateway
	ready    []atomic.Bool
	next     atomic.Uint64
	failed   atomic.Int64 // requests the balancer could not deliver
	proxies  []*httputil.ReverseProxy
}

func newReadyBalancer(t *testing.T, replicas []*harness.Gateway) *httptest.Server {
	b := &readyBalancer{replicas: replicas, ready: make([]atomic.Bool, len(replicas))}
	for _, g := range replicas {
		u, err := url.Parse(g.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			b.failed.Add(1)
			t.Errorf("balancer → %s: %v", u.Host, err)
			w.WriteHeader(http.StatusBadGateway)
		}
		b.proxies = append(b.proxies, p)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.poll(ctx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	b.pollOnce()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv
}

func (b *readyBalancer) poll(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		b.pollOnce()
	}
}

func (b *readyBalancer) pollOnce() {
	client := &http.Client{Timeout: 2 * time.Second}
	for i, g := range b.replicas {
		resp, err := client.Get(g.AdminEndpoint() + "/readyz")
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			// A slow answer on a loaded machine says nothing: like a
			// probe's failureThreshold, keep the last verdict.
			continue
		}
		ok := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ready[i].Store(ok)
	}
}

func (b *readyBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range len(b.replicas) {
		i := int(b.next.Add(1) % uint64(len(b.replicas)))
		if b.ready[i].Load() {
			b.proxies[i].ServeHTTP(w, r)
			return
		}
	}
	b.failed.Add(1)
	w.WriteHeader(http.StatusServiceUnavailable)
}

// TestRollingRestartServesEveryRequest: each replica is restarted in turn
// (SIGTERM, wait for the exit, start) while clients upload and read back
// through a load balancer that follows /readyz. photogate's drain (its
// /readyz fails at once after SIGTERM while it keeps serving for
// PHOTOGATE_SHUTDOWN_DRAIN) lets the balancer take it out before its port
// closes: the clients see no 5xx and no connection error.
func TestRollingRestartServesEveryRequest(t *testing.T) {
	c := startClusterWith(t, "", "PHOTOGATE_SHUTDOWN_DRAIN=1500ms")
	lb := newReadyBalancer(t, c.replicas)
	u, _ := url.Parse(lb.URL)
	client, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(c.replicas[0].AccessKey(), c.replicas[0].SecretKey(), ""),
		MaxRetries: 1, // every failure counts: no retry hides one
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopLoad := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		ops      atomic.Int64
		failures atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			body := harness.RandomBytes(4 << 10)
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("rolling/%d/%d", w, n)
				_, err := client.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
				if err == nil {
					var obj *minio.Object
					if obj, err = client.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{}); err == nil {
						var got []byte
						if got, err = io.ReadAll(obj); err == nil && !bytes.Equal(got, body) {
							err = fmt.Errorf("read back %d bytes that differ", len(got))
						}
						obj.Close()
					}
				}
				if err != nil {
					failures.Add(1)
					t.Errorf("%s: %v", key, err)
					continue
				}
				ops.Add(1)
			}
		})
	}
	time.Sleep(time.Second)
	for i, g := range c.replicas {
		before := ops.Load()
		if err := g.Stop(); err != nil {
			t.Fatalf("replica %d did not stop cleanly: %v", i, err)
		}
		if err := g.Start(); err != nil {
			t.Fatalf("replica %d did not start again: %v", i, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !readyNow(g) {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not ready after its restart", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // the balancer sees it back
		t.Logf("replica %d restarted; %d operations meanwhile", i, ops.Load()-before)
	}
	stopLoad()
	wg.Wait()
	t.Logf("%d put+get operations, %d failed, %d undeliverable at the balancer", ops.Load(), failures.Load(), lb.Config.Handler.(*readyBalancer).failed.Load())
	if failures.Load() > 0 || lb.Config.Handler.(*readyBalancer).failed.Load() > 0 {
		t.Fatal("clients saw errors during the rolling restart")
	}
	if ops.Load() < 100 {
		t.Fatalf("only %d operations: the load did not run", ops.Load())
	}
}

func readyNow(g *harness.Gateway) bool {
	resp, err := (&http.Client{Timeout: time.Second}).Get(g.AdminEndpoint() + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
