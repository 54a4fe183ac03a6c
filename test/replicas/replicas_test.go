// Package replicas_test runs three photogate processes on one PostgreSQL
// index and one MinIO, as several replicas behind one Service would: a
// write acknowledged by one replica is what every other replica reads at
// once, and a replica killed with SIGKILL mid-write leaves intents that
// the others resolve once its lease runs out, so the index ends equal to
// the backend object by object.
package replicas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/test/harness"
)

const bucket = "shared"

// lease is the replicas' intent lease: short, so that a killed replica's
// intents are claimed within seconds.
const lease = 2 * time.Second

// cluster is MinIO, PostgreSQL and three photogate replicas sharing them,
// all with the same users and admin token, as one Deployment's pods are.
type cluster struct {
	m        *harness.MinIO
	bin      string
	replicas []*harness.Gateway
	clients  []*minio.Client
	http     *http.Client
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, "")
}

// startClusterWith starts the cluster with config (users:, policy:) as
// every replica's PHOTOGATE_CONFIG, and extra environment.
func startClusterWith(t *testing.T, config string, env ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO, PostgreSQL and the photogate binary")
	}
	ctx := context.Background()
	dsn := harness.StartPostgres(t).CreateDatabase(t, "replicas")
	m := harness.StartMinIO(t)
	if err := m.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BuildGateway(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{m: m, bin: bin, http: &http.Client{Timeout: 30 * time.Second}}
	ak, sk, token := "PG"+harness.RandomString(18), harness.RandomString(40), harness.RandomString(32)
	env = append([]string{"PHOTOGATE_INDEX_URL=" + dsn, "PHOTOGATE_INDEX_LEASE=" + lease.String()}, env...)
	if config != "" {
		path := filepath.Join(t.TempDir(), "photogate.yaml")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, "PHOTOGATE_CONFIG="+path)
	}
	for range 3 {
		g := harness.StartGateway(t, harness.GatewayOptions{
			Binary: bin, Backend: m, AccessKey: ak, SecretKey: sk, AdminToken: token, Env: env,
		})
		client, err := minio.New(g.Addr(), &minio.Options{
			Creds:      credentials.NewStaticV4(ak, sk, ""),
			MaxRetries: 1, // an error is an error: only acknowledged operations count
		})
		if err != nil {
			t.Fatal(err)
		}
		c.replicas = append(c.replicas, g)
		c.clients = append(c.clients, client)
	}
	return c
}

// api calls replica i's admin API and decodes a 200 answer into v.
func (c *cluster) api(t *testing.T, i int, method, path string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, c.replicas[i].AdminEndpoint()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.replicas[i].AdminToken())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("replica %d: %s %s: %v", i, method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("replica %d: %s %s: %v", i, method, path, err)
		}
	}
	return resp.StatusCode
}

func (c *cluster) search(t *testing.T, i int, prefix string) []api.Item {
	t.Helper()
	var page api.SearchResponse
	q := url.Values{"bucket": {bucket}, "prefix": {prefix}}
	if code := c.api(t, i, http.MethodGet, "/api/v1/search?"+q.Encode(), &page); code != http.StatusOK {
		t.Fatalf("search on replica %d: HTTP %d", i, code)
	}
	return page.Items
}

func (c *cluster) indexed(t *testing.T, i int, key string) bool {
	t.Helper()
	code := c.api(t, i, http.MethodGet, "/api/v1/objects/"+bucket+"/"+url.PathEscape(key), nil)
	if code != http.StatusOK && code != http.StatusNotFound {
		t.Fatalf("object %s on replica %d: HTTP %d", key, i, code)
	}
	return code == http.StatusOK
}

// TestWriteOnOneReplicaIsReadOnEveryOther: uploaded through A, found by a
// search on B with no wait and no retry; deleted through C, gone on A.
func TestWriteOnOneReplicaIsReadOnEveryOther(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	jpeg := harness.ReadPhoto(t, "jpeg/iphone4s_lensinfo_gps_orient6.jpg")
	for round := range 5 {
		key := fmt.Sprintf("coherent/%d.jpg", round)
		info, err := c.clients[0].PutObject(ctx, bucket, key, bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectOptions{ContentType: "image/jpeg"})
		if err != nil {
			t.Fatal(err)
		}
		items := c.search(t, 1, key)
		if len(items) != 1 || items[0].Key != key || items[0].ETag != info.ETag || items[0].Size != int64(len(jpeg)) {
			t.Fatalf("round %d: search on B right after the upload through A found %+v, want %s (etag %s)", round, items, key, info.ETag)
		}
		if err := c.clients[2].RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if items := c.search(t, 0, key); len(items) != 0 {
			t.Fatalf("round %d: search on A right after the delete through C still finds %+v", round, items)
		}
		if c.indexed(t, 0, key) {
			t.Fatalf("round %d: A still has the record of %s deleted through C", round, key)
		}
	}
}

// TestBackupSaysPgDump: with the index in PostgreSQL photogate serves no
// snapshot route, and photogate backup says what to use instead.
func TestBackupSaysPgDump(t *testing.T) {
	c := startCluster(t)
	if code := c.api(t, 0, http.MethodGet, "/api/v1/backup", nil); code != http.StatusNotFound {
		t.Fatalf("GET /api/v1/backup: HTTP %d, want 404", code)
	}
	cmd := exec.Command(c.bin, "backup", "--out", filepath.Join(t.TempDir(), "index.db"), "--admin-url", c.replicas[0].AdminEndpoint())
	cmd.Env = harness.ClientEnv(t.TempDir(), "PHOTOGATE_ADMIN_TOKEN="+c.replicas[0].AdminToken())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pg_dump") {
		t.Fatalf("photogate backup: %v\n%s\nwant a failure that names pg_dump", err, out)
	}
}

// ledger remembers the last acknowledged operation per key. A key is
// written by one worker only, one operation at a time, so the ledger is
// exact. An operation that failed may still have happened (its replica was
// killed after MinIO acted): its key is retired, never written again, and
// only the final check judges it.
type ledger struct {
	mu    sync.Mutex
	alive map[string]bool // acknowledged upload, not deleted since
	gone  map[string]bool // acknowledged delete, not uploaded since
}

func (l *ledger) set(key string, alive bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, key)
	delete(l.gone, key)
	if alive {
		l.alive[key] = true
	} else {
		l.gone[key] = true
	}
}

func (l *ledger) retire(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, key)
	delete(l.gone, key)
}

// TestKillReplicaDuringConcurrentWrites: 16 workers upload and delete
// through all three replicas while one replica at a time is killed with
// SIGKILL and restarted. Afterwards no intent is left (the killed
// replicas' were claimed and resolved by live ones), check finds zero
// drift, every acknowledged upload is indexed and every acknowledged
// delete is not.
func TestKillReplicaDuringConcurrentWrites(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	jpeg := harness.ReadPhoto(t, "jpeg/iphone4s_lensinfo_gps_orient6.jpg")
	l := &ledger{alive: map[string]bool{}, gone: map[string]bool{}}
	var down [3]atomic.Bool
	var acked, failed atomic.Int64

	const workers, kills = 16, 5
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 13))
			generation := make(map[int]int) // slot -> current key generation
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				replica := r.IntN(len(c.replicas))
				if down[replica].Load() {
					continue
				}
				slot := r.IntN(8)
				key := fmt.Sprintf("w%02d/s%d-g%d.jpg", w, slot, generation[slot])
				var err error
				upload := r.IntN(3) < 2
				if upload {
					data := append(append([]byte{}, jpeg...), byte(i), byte(i>>8)) // unique bytes, still a photo
					_, err = c.clients[replica].PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "image/jpeg"})
				} else {
					err = c.clients[replica].RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
				}
				if err != nil {
					failed.Add(1)
					l.retire(key)
					generation[slot]++
					continue
				}
				acked.Add(1)
				l.set(key, upload)
			}
		})
	}
	for k := range kills {
		time.Sleep(time.Duration(400+rand.IntN(400)) * time.Millisecond)
		victim := k % len(c.replicas)
		down[victim].Store(true)
		c.replicas[victim].Kill() // mid-flight: requests are cut at every stage
		time.Sleep(300 * time.Millisecond)
		if err := c.replicas[victim].Start(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("restart of replica %d after kill %d: %v", victim, k, err)
		}
		down[victim].Store(false)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	// The killed replicas' intents belong to replica ids that no longer
	// beat: a live replica claims them once the lease has run out and
	// resolves them at its next pass, one lease later at most.
	waitStart := time.Now()
	deadline := waitStart.Add(6 * lease)
	leftover := -1
	for {
		var st api.StatsResponse
		if code := c.api(t, 1, http.MethodGet, "/api/v1/stats", &st); code != http.StatusOK {
			t.Fatalf("stats: HTTP %d", code)
		}
		if leftover < 0 {
			leftover = st.PendingIntents
		}
		if st.PendingIntents == 0 {
			t.Logf("%d intents pending after the last kill, all resolved within %v", leftover, time.Since(waitStart).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d intents still pending %v after the last kill", st.PendingIntents, 6*lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var rep reconcile.Report
	if code := c.api(t, 2, http.MethodPost, "/api/v1/check", &rep); code != http.StatusOK {
		t.Fatalf("check: HTTP %d", code)
	}
	if len(rep.Drift) != 0 {
		t.Fatalf("index and backend differ after %d kills: %+v", kills, rep.Drift)
	}
	for key := range l.alive {
		if !c.indexed(t, 0, key) {
			t.Errorf("acknowledged upload %s is not indexed", key)
		}
	}
	for key := range l.gone {
		if c.indexed(t, 1, key) {
			t.Errorf("acknowledged delete of %s is still indexed", key)
		}
	}
	t.Logf("%d kills; %d operations acknowledged, %d cut; %d objects in MinIO, %d indexed; %d keys acknowledged alive, %d deleted",
		kills, acked.Load(), failed.Load(), rep.Objects, rep.Indexed, len(l.alive), len(l.gone))
	if len(l.alive) == 0 || failed.Load() == 0 {
		t.Fatalf("%d acknowledged uploads, %d cut operations: the test exercised nothing", len(l.alive), failed.Load())
	}
}
