package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// Targets from the performance goals: photogate's ops/s over direct's.
func ratioTarget(size, op string) float64 {
	switch {
	case size == "16 MiB" && (op == "PUT" || op == "GET"):
		return 0.95
	case size == "64 KiB":
		return 0.90
	}
	return 0
}

const rssTargetMiB = 100

// side is one target's results for one cell, summed over the rounds.
type side struct {
	ops, errors, retries int
	bytes                int64
	elapsed              time.Duration
	lat                  []time.Duration
	roundRates           []float64
	failures             []failure
	cpu                  cpuTimes
	backendRequests      float64 // photogate's requests to MinIO; 0 for the others
}

func (s *side) opsPerSec() float64 { return float64(len(s.lat)) / s.elapsed.Seconds() }
func (s *side) mibPerSec() float64 { return float64(s.bytes) / (1 << 20) / s.elapsed.Seconds() }

type cell struct {
	size, op string
	bytes    int64
	sides    map[string]*side
}

type report struct {
	facts      []string
	directOnly bool
	cells      []*cell
	matrixHWM  int64 // photogate's VmHWM in kB after the matrix
	uploads    []upload
}

func (r *report) add(size string, bytes int64, op, target string, b batch) {
	var c *cell
	for _, x := range r.cells {
		if x.size == size && x.op == op {
			c = x
		}
	}
	if c == nil {
		c = &cell{size: size, op: op, bytes: bytes, sides: map[string]*side{}}
		r.cells = append(r.cells, c)
	}
	s := c.sides[target]
	if s == nil {
		s = &side{}
		c.sides[target] = s
	}
	s.ops += b.ops
	s.errors += b.errors
	s.retries += b.retries
	s.bytes += b.bytes
	s.elapsed += b.elapsed
	s.lat = append(s.lat, b.lat...)
	s.roundRates = append(s.roundRates, float64(len(b.lat))/b.elapsed.Seconds())
	s.failures = append(s.failures, b.failures...)
	s.cpu.client += b.cpu.client
	s.cpu.minio += b.cpu.minio
	s.cpu.gateway += b.cpu.gateway
	s.backendRequests += b.backendRequests
}

// cpuPerOp is CPU milliseconds per successful op.
func (s *side) cpuPerOp(d time.Duration) string {
	if len(s.lat) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000/float64(len(s.lat)))
}

// targetNames orders the sides in the report.
var targetNames = []string{"direct", "photogate", "versitygw", "rclone"}

// gatewayNames are the sides compared with direct.
var gatewayNames = targetNames[1:]

// cachedHEAD marks the cells a gateway answers without asking MinIO:
// rclone serves HEAD from its directory cache, so its HEAD figures are not
// a proxy's and are left out of the "ahead of every peer" verdict.
func cachedHEAD(target, op string) bool { return target == "rclone" && op == "HEAD" }

// label is a side's name in the tables, marked where its figures come
// from a cache.
func label(target, op string) string {
	if cachedHEAD(target, op) {
		return target + " †"
	}
	return target
}

const cachedHEADNote = "† rclone answers HEAD from its directory cache without asking MinIO, so its HEAD row measures a cache, not a proxy; it is left out of the verdict.\n"

// roundRatios are a gateway's ops/s over direct's, round by round, sorted.
func roundRatios(d, g *side) []float64 {
	var r []float64
	for i := range min(len(d.roundRates), len(g.roundRates)) {
		r = append(r, g.roundRates[i]/d.roundRates[i])
	}
	slices.Sort(r)
	return r
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	if len(x)%2 == 1 {
		return x[len(x)/2]
	}
	return (x[len(x)/2-1] + x[len(x)/2]) / 2
}

func (r *report) errorCount() int {
	n := 0
	for _, c := range r.cells {
		for _, s := range c.sides {
			n += s.errors
		}
	}
	for _, u := range r.uploads {
		if u.err != "" {
			n++
		}
	}
	return n
}

// percentile is the nearest-rank percentile of d (sorted in place).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**MISS**"
}

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }

	p("## MinIO direct vs through photogate and its peers\n\n")
	for _, f := range r.facts {
		p("- %s\n", f)
	}
	p("- client: aws-sdk-go-v2 with default settings (checksums when supported; plain HTTP, so signed payloads), path style, %d requests in flight\n", concurrency)
	p("- each cell in short rounds (%s) alternating direct, photogate and the peers, each round starting with the next one; ops/s and latencies are over all rounds; after each batch the run waits until MinIO and the gateways are idle, so the CPU a batch leaves behind is counted as its own and slows no other batch\n", roundsDesc())
	p("- peers (when present): versitygw %s in S3-proxy mode (`--disable-data-integrity-check`, path style) and rclone %s `serve s3` (defaults: no VFS cache), in front of the same MinIO\n",
		harness.VersityGWVersion, harness.RcloneVersion)
	p("- load average at the end: %s\n", loadAvg())
	if load := loadAvg1(); load > float64(runtime.NumCPU()) {
		p("- **warning: load average %.1f on %d CPUs: other work shared the machine, so throughput and latency are noisy and the ops/s ratios favour photogate (its extra process wins extra CPU share from the other work); the CPU ms/op columns and the CPU-bound ratio stay valid**\n", load, runtime.NumCPU())
	}
	p("\n")

	p("### Throughput, latency and CPU per op\n\n")
	p("CPU is user + system time per op of this benchmark client, of MinIO and of the gateway itself (photogate or a peer); the three share the machine's cores. ")
	p("*backend req/op* is photogate's photogate_backend_requests_total per op: 1.00 when nothing but the forwarded request reaches MinIO.\n\n")
	p("| size | op | target | ops | ops/s | MiB/s | p50 ms | p99 ms | CPU ms/op client | MinIO | gateway itself | backend req/op | errors | retries |\n")
	p("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	cached := false
	for _, c := range r.cells {
		for _, name := range targetNames {
			s := c.sides[name]
			if s == nil {
				continue
			}
			cached = cached || cachedHEAD(name, c.op)
			mib, gw, reqs := "—", "—", "—"
			if s.bytes > 0 {
				mib = fmt.Sprintf("%.1f", s.mibPerSec())
			}
			if name != "direct" {
				gw = s.cpuPerOp(s.cpu.gateway)
			}
			if name == "photogate" && len(s.lat) > 0 {
				reqs = fmt.Sprintf("%.2f", s.backendRequests/float64(s.ops))
			}
			p("| %s | %s | %s | %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", c.size, c.op, label(name, c.op), s.ops,
				s.opsPerSec(), mib, ms(percentile(s.lat, 0.50)), ms(percentile(s.lat, 0.99)),
				s.cpuPerOp(s.cpu.client), s.cpuPerOp(s.cpu.minio), gw, reqs, s.errors, s.retries)
		}
	}
	if cached {
		p("\n%s", cachedHEADNote)
	}
	r.peersMarkdown(p)

	if !r.directOnly {
		p("\n### photogate / direct\n\n")
		p("Targets are judged on the median of the per-round ops/s ratios, which a burst of load in one round cannot move; the ratio over all rounds is shown beside it. ")
		p("*CPU-bound* is (client + MinIO CPU per op, direct) / (client + MinIO + photogate CPU per op, through photogate): the ops/s ratio to expect when the three saturate the same cores, and a figure that other load on the machine barely moves.\n\n")
		p("| size | op | ops/s ratio, median of rounds | min–max over rounds | ops/s ratio, all rounds | CPU-bound | p50 ratio | p99 ratio | target | result |\n")
		p("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, c := range r.cells {
			d, g := c.sides["direct"], c.sides["photogate"]
			if d == nil || g == nil {
				continue
			}
			per := roundRatios(d, g)
			med := median(per)
			latRatio := func(q float64) string {
				return fmt.Sprintf("%.2f", float64(percentile(g.lat, q))/float64(percentile(d.lat, q)))
			}
			want, result := "—", "—"
			if t := ratioTarget(c.size, c.op); t > 0 {
				want, result = fmt.Sprintf("≥ %.2f", t), passMiss(med >= t && g.errors == 0)
			}
			cpuBound := (d.cpu.client + d.cpu.minio).Seconds() / float64(len(d.lat)) /
				((g.cpu.client + g.cpu.minio + g.cpu.gateway).Seconds() / float64(len(g.lat)))
			p("| %s | %s | %.2f | %.2f–%.2f | %.2f | %.2f | %s | %s | %s | %s |\n", c.size, c.op, med, per[0], per[len(per)-1],
				g.opsPerSec()/d.opsPerSec(), cpuBound, latRatio(0.50), latRatio(0.99), want, result)
		}
	}

	if len(r.uploads) > 0 {
		p("\n### 2 GiB streaming multipart upload\n\n")
		p("minio-go PutObject of a generated stream of unknown size (16 MiB parts, 4 in flight); photogate restarted just before its upload.\n\n")
		p("| target | time s | MiB/s | ratio |\n| --- | ---: | ---: | ---: |\n")
		var direct float64
		for _, u := range r.uploads {
			rate := float64(bigUploadSize) / (1 << 20) / u.elapsed.Seconds()
			ratio := "—"
			if u.target == "direct" {
				direct = rate
			} else if direct > 0 {
				ratio = fmt.Sprintf("%.2f", rate/direct)
			}
			if u.err != "" {
				rate, ratio = 0, "failed"
			}
			p("| %s | %.1f | %.1f | %s |\n", u.target, u.elapsed.Seconds(), rate, ratio)
		}
		for _, u := range r.uploads {
			if u.target != "photogate" {
				continue
			}
			p("\n### photogate peak RSS (VmHWM)\n\n")
			p("| when | peak RSS MiB | target | result |\n| --- | ---: | ---: | --- |\n")
			p("| after start | %.1f | | |\n", float64(u.hwmBefore)/1024)
			p("| after the 2 GiB upload | %.1f | < %d | %s |\n", float64(u.hwmKB)/1024, rssTargetMiB,
				passMiss(u.hwmKB > 0 && u.hwmKB < rssTargetMiB*1024 && u.err == ""))
			p("| after the whole matrix above (previous process) | %.1f | | |\n", float64(r.matrixHWM)/1024)
		}
	}

	var fails []string
	for _, c := range r.cells {
		for _, name := range targetNames {
			if s := c.sides[name]; s != nil {
				for _, f := range s.failures {
					kind := "failed"
					if f.retried {
						kind = "failed, then succeeded on retry"
					}
					fails = append(fails, fmt.Sprintf("- %s %s %s %s (%s): status %d, request id %q: %s",
						c.size, f.op, f.target, f.key, kind, f.status, f.requestID, f.err))
				}
			}
		}
	}
	for _, u := range r.uploads {
		if u.err != "" {
			fails = append(fails, "- "+u.target+": "+u.err)
		}
	}
	if len(fails) > 0 {
		p("\n### Failures (first %d per cell and side)\n\n%s\n", keepFailures, strings.Join(fails, "\n"))
	}
	return w.String()
}

// hasPeers reports whether any cell has a peer's side.
func (r *report) hasPeers() bool {
	for _, c := range r.cells {
		for _, name := range gatewayNames[1:] {
			if c.sides[name] != nil {
				return true
			}
		}
	}
	return false
}

// peersMarkdown renders the gateways side by side, one column per cell:
// ops/s over direct (median of rounds), p50 and p99, and CPU per op of
// MinIO and of each gateway itself, then whether photogate is ahead of
// every peer.
func (r *report) peersMarkdown(p func(format string, a ...any)) {
	if !r.hasPeers() {
		return
	}
	header := func(first string) {
		p("| %s |", first)
		for _, c := range r.cells {
			p(" %s %s |", c.size, c.op)
		}
		p("\n| --- |%s\n", strings.Repeat(" ---: |", len(r.cells)))
	}
	row := func(name string, value func(c *cell) string) {
		p("| %s |", name)
		for _, c := range r.cells {
			p(" %s |", value(c))
		}
		p("\n")
	}
	mark := func(name string, c *cell, v string) string {
		if cachedHEAD(name, c.op) {
			return v + " †"
		}
		return v
	}
	ratio := func(name string, c *cell) (float64, bool) {
		d, g := c.sides["direct"], c.sides[name]
		if d == nil || g == nil || len(g.lat) == 0 {
			return 0, false
		}
		return median(roundRatios(d, g)), true
	}

	p("\n### Gateways side by side\n\n")
	p("ops/s over direct, median of the per-round ratios (higher is better):\n\n")
	header("gateway")
	for _, name := range gatewayNames {
		row(name, func(c *cell) string {
			if v, ok := ratio(name, c); ok {
				return mark(name, c, fmt.Sprintf("%.2f", v))
			}
			return "—"
		})
	}
	for _, q := range []struct {
		name string
		p    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		p("\nLatency %s in ms:\n\n", q.name)
		header("target")
		for _, name := range targetNames {
			row(name, func(c *cell) string {
				if s := c.sides[name]; s != nil && len(s.lat) > 0 {
					return mark(name, c, ms(percentile(s.lat, q.p)))
				}
				return "—"
			})
		}
	}
	p("\nCPU ms per op (user + system, from each process's CPU clock in ns, so other load barely moves it):\n\n")
	header("process")
	for _, name := range targetNames {
		who := "MinIO, behind " + name
		if name == "direct" {
			who = "MinIO, direct"
		}
		row(who, func(c *cell) string {
			if s := c.sides[name]; s != nil {
				return mark(name, c, s.cpuPerOp(s.cpu.minio))
			}
			return "—"
		})
	}
	for _, name := range gatewayNames {
		row(name+" itself", func(c *cell) string {
			if s := c.sides[name]; s != nil {
				return mark(name, c, s.cpuPerOp(s.cpu.gateway))
			}
			return "—"
		})
	}
	p("\nphotogate ahead of every peer (ops/s ratio over direct, median of rounds):\n\n")
	header("verdict")
	row("photogate", func(c *cell) string {
		own, ok := ratio("photogate", c)
		if !ok {
			return "—"
		}
		var behind []string
		for _, name := range gatewayNames[1:] {
			if v, ok := ratio(name, c); ok && !cachedHEAD(name, c.op) && v > own {
				behind = append(behind, name)
			}
		}
		if len(behind) == 0 {
			return "ahead"
		}
		return "**behind " + strings.Join(behind, ", ") + "**"
	})
	p("\n%s", cachedHEADNote)
}

// machineFacts describes where and with what the numbers were taken.
func machineFacts() []string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	minioVersion := "unknown"
	if bin, err := harness.FindMinIO(); err == nil {
		if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil {
			for line := range strings.Lines(string(out)) {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/minio/minio" {
					minioVersion = f[2]
				}
			}
		}
	}
	gw := "photogate built without -race"
	if p := os.Getenv("PHOTOGATE_BIN"); p != "" {
		gw = "photogate from PHOTOGATE_BIN=" + p
	}
	facts := []string{
		"date: " + time.Now().UTC().Format("2006-01-02 15:04 MST"),
		fmt.Sprintf("machine: %s, nproc %d, GOMAXPROCS %d (client; MinIO and photogate use their defaults), %s %s/%s",
			cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH),
		"load average at the start: " + loadAvg(),
		"MinIO " + minioVersion + ", single drive, same machine; " + gw,
		"data of MinIO and photogate under " + dataRoot + " (" + fsType(dataRoot) + ")",
	}
	if harness.RaceEnabled {
		facts = append(facts, "**warning: the benchmark client was built with -race; its numbers are not representative**")
	}
	return facts
}

// loadAvg1 is the 1 minute load average.
func loadAvg1() float64 {
	var l float64
	fmt.Sscan(loadAvg(), &l)
	return l
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func roundsDesc() string {
	var d []string
	for _, sz := range sizes {
		d = append(d, fmt.Sprintf("%s: %d × %d ops", sz.label, sz.rounds, sz.perRound))
	}
	return strings.Join(d, ", ")
}

// fsType names the file system holding dir: tmpfs, or "disk".
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
		return "tmpfs: no fsync cost on either side"
	}
	return "disk"
}
