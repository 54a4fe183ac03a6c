package bench

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// BenchmarkIndexEngines uploads 64 KiB objects (8 in flight) through two
// photogates in front of the same MinIO, one indexing into its bbolt file,
// the other into a private PostgreSQL (fsync on for both, data on the same
// medium), in alternating
// rounds, and prints uploads per second, p50 and photogate's own CPU per
// indexed upload. The CPU figure does not depend on load: it is the one to
// trust for scaling out on two shared cores.
func BenchmarkIndexEngines(b *testing.B) {
	e := setup(b)
	if e.gateway == nil {
		b.Skip("PHOTOGATE_BENCH_DIRECT_ONLY is set")
	}
	// PostgreSQL's data on the same medium as bbolt's, MinIO's and
	// photogate's (tmpfs when memory allows, see chooseDataDir), so that
	// neither side pays for fsyncs the other does not. The postgres user
	// cannot enter dataRoot itself (root's, 0700): its parent it can.
	if filepath.Dir(dataRoot) == "/dev/shm" {
		b.Setenv("TMPDIR", "/dev/shm")
	}
	pg := harness.StartPostgres(b)
	pgTarget := secondGateway(b, e, "photogate-postgres", "PHOTOGATE_INDEX_URL="+pg.CreateDatabase(b, "bench"))
	bolt := e.gateway
	body := harness.RandomBytes(64 << 10)
	const perRound, rounds = 400, 3
	type sums struct {
		ops     int
		elapsed time.Duration
		cpu     time.Duration
		p50     []time.Duration
	}
	got := map[string]*sums{}
	for r := range rounds {
		for _, t := range []*target{bolt, pgTarget} {
			keys := keysFor(fmt.Sprintf("engines/%d", r), perRound)
			cpu0 := procCPU(t.pid())
			res := t.runBatch(b.Context(), "PUT", keys, body)
			if res.errors > 0 {
				b.Fatalf("%s: %d of %d failed; first: %s", t.name, res.errors, res.ops, res.failures[0].err)
			}
			s := got[t.name]
			if s == nil {
				s = &sums{}
				got[t.name] = s
			}
			s.ops += res.ops
			s.elapsed += res.elapsed
			s.cpu += procCPU(t.pid()) - cpu0
			s.p50 = append(s.p50, percentile(res.lat, 0.5))
		}
	}
	b.Logf("%d indexed 64 KiB uploads per engine, 8 in flight, %d alternating rounds:", perRound*rounds, rounds)
	b.Logf("%-20s %8s %8s %16s", "", "ops/s", "p50 ms", "CPU ms/upload")
	for _, name := range []string{bolt.name, pgTarget.name} {
		s := got[name]
		b.Logf("%-20s %8.1f %8.2f %16.3f", name, float64(s.ops)/s.elapsed.Seconds(),
			float64(percentile(s.p50, 0.5).Microseconds())/1000, float64(s.cpu.Microseconds())/1000/float64(s.ops))
	}
	bs, ps := got[bolt.name], got[pgTarget.name]
	b.Logf("PostgreSQL / bbolt: %.2f× the uploads per second, %.2f× the CPU per upload",
		(float64(ps.ops)/ps.elapsed.Seconds())/(float64(bs.ops)/bs.elapsed.Seconds()),
		(float64(ps.cpu)/float64(ps.ops))/(float64(bs.cpu)/float64(bs.ops)))
}
