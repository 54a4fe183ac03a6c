package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// BenchmarkPhotoPUT uploads real photos (a 140 KB JPEG, 8 in flight)
// through photogate with renditions on and off, in alternating rounds, and
// prints ops/s, p50 and photogate's CPU per upload: during the uploads, and
// until the renders they queued are done. Uploads never wait for their
// renders; on a machine without a spare core the renders share the CPU
// with the uploads, and the CPU column says how much.
func BenchmarkPhotoPUT(b *testing.B) {
	e := setup(b)
	if e.gateway == nil {
		b.Skip("PHOTOGATE_BENCH_DIRECT_ONLY is set")
	}
	offTarget := secondGateway(b, e, "photogate-no-renditions", "PHOTOGATE_RENDITIONS=false")
	photo := harness.ReadPhoto(b, "jpeg/pentax_k3ii_sunrise.jpg")
	const perRound, rounds = 60, 3
	type sums struct {
		ops                int
		elapsed            time.Duration
		putCPU, drainedCPU time.Duration
		p50                []time.Duration
	}
	got := map[string]*sums{}
	for r := range rounds {
		for _, t := range []*target{e.gateway, offTarget} {
			keys := keysFor(fmt.Sprintf("photos/%d", r), perRound)
			cpu0 := procCPU(t.pid())
			res := t.runBatch(b.Context(), "PUT", keys, photo)
			if res.errors > 0 {
				b.Fatalf("%s: %d of %d failed; first: %s", t.name, res.errors, res.ops, res.failures[0].err)
			}
			cpu1 := procCPU(t.pid())
			waitRendered(b, t)
			s := got[t.name]
			if s == nil {
				s = &sums{}
				got[t.name] = s
			}
			s.ops += res.ops
			s.elapsed += res.elapsed
			s.putCPU += cpu1 - cpu0
			s.drainedCPU += procCPU(t.pid()) - cpu0
			s.p50 = append(s.p50, percentile(res.lat, 0.5))
		}
	}
	b.Logf("%d uploads of a %d KB JPEG per gateway, 8 in flight, %d alternating rounds:", perRound*rounds, len(photo)>>10, rounds)
	b.Logf("%-24s %8s %10s %14s %22s", "", "ops/s", "p50 ms", "CPU ms/upload", "CPU ms/upload+render")
	for _, name := range []string{e.gateway.name, offTarget.name} {
		s := got[name]
		b.Logf("%-24s %8.1f %10.1f %14.2f %22.2f", name, float64(s.ops)/s.elapsed.Seconds(),
			float64(percentile(s.p50, 0.5).Microseconds())/1000,
			float64(s.putCPU.Microseconds())/1000/float64(s.ops), float64(s.drainedCPU.Microseconds())/1000/float64(s.ops))
	}
}

// secondGateway starts another photogate, with env, in front of the
// bench's MinIO and returns it as a target with its own bucket; it stops
// when the benchmark ends.
func secondGateway(b *testing.B, e *env, name string, env ...string) *target {
	b.Helper()
	dir := filepath.Join(dataRoot, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	gw, err := harness.LaunchGateway(harness.GatewayOptions{Binary: e.gw.Binary(), Backend: e.minio, DataDir: dir, Env: env})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Stop() })
	t, err := newTarget(b.Context(), name, gw.Endpoint(), gw.AccessKey(), gw.SecretKey(), e.httpClient)
	if err != nil {
		b.Fatal(err)
	}
	t.gw = gw
	if err := t.createBucket(b.Context()); err != nil {
		b.Fatal(err)
	}
	return t
}

// waitRendered waits until t's gateway has no render queued or running.
func waitRendered(b *testing.B, t *target) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m := t.gw.Metrics(b)
		if m[`photogate_index_jobs_queued{kind="rendition"}`] == 0 && m["photogate_index_pending_intents"] == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: renders did not finish", t.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
