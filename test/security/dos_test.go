package security_test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// vmRSS is the resident set of process pid in bytes, from
// /proc/<pid>/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the gateway's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// contentMD5 is the Content-MD5 header value of b.
func contentMD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// rssGrowthLimit is how much the gateway's memory may grow while it refuses
// the nested bodies: 64 MiB, times 8 when it is built with -race (as
// BuildGateway does for a -race test binary), whose shadow memory costs
// "5-10x" (Go's race detector docs). Measured on the fixed gateway: +24 MiB
// without -race, +184 MiB with it; the naive decoder: +546 MiB and +1.5 GiB.
func rssGrowthLimit() int64 {
	if harness.RaceEnabled {
		return 8 * 64 * mib
	}
	return 64 * mib
}

// DeleteObjects bodies are parsed in memory: 2 MiB of nested elements
// costs a naive XML decoder far more than 2 MiB (a stack frame and a name
// per level). Sixteen at once must be refused as malformed without the
// gateway's memory growing by more than 64 MiB, and the real key the body
// also names must not be deleted.
func TestDeeplyNestedDeleteObjectsBodiesAreRefusedCheaply(t *testing.T) {
	e := start(t, "")
	b := harness.BucketName("nested")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	victim := []byte("must survive " + harness.RandomString(8))
	seed(t, b, "victim.jpg", victim)

	// Just under S3's 2 MiB cap on a DeleteObjects body, so that it reaches
	// the parser instead of being refused for its size.
	const prefix, suffix = "<Delete><Object><Key>victim.jpg</Key></Object>", "</Delete>"
	const nesting = (2*mib - len(prefix) - len(suffix) - 1) / len("<Object>")
	body := []byte(prefix + strings.Repeat("<Object>", nesting) + suffix)

	pid := e.g.Pid()
	before := vmRSS(t, pid)
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if rss := vmRSS(t, pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	results := make([]harness.S3Response, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := newRequest(t, http.MethodPost, e.url("/"+b+"?delete"), body)
			req.Header.Set("Content-MD5", contentMD5(body))
			resp, err := plainClient().Do(harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(body)))
			if err != nil {
				t.Errorf("DeleteObjects %d: %v", i, err)
				return
			}
			if results[i], err = harness.ReadS3Response(resp); err != nil {
				t.Errorf("DeleteObjects %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	for i, r := range results {
		if r.Status != 0 {
			wantError(t, fmt.Sprintf("DeleteObjects %d with %d nested elements", i, nesting), r, http.StatusBadRequest, "MalformedXML")
		}
	}
	grown := peak.Load() - before
	t.Logf("RSS %d MiB before, peak %d MiB while parsing (+%d KiB)", before/mib, peak.Load()/mib, grown>>10)
	if limit := rssGrowthLimit(); grown >= limit {
		t.Errorf("the gateway's RSS grew by %d MiB (from %d MiB) parsing 16 bodies of 2 MiB, want < %d MiB", grown/mib, before/mib, limit/mib)
	}
	if data, _, ok := stored(t, b, "victim.jpg"); !ok || !bytes.Equal(data, victim) {
		t.Errorf("MinIO lost %s/victim.jpg to a malformed DeleteObjects", b)
	}
}

// trickle is an upload body that sends its first byte, then holds the
// request open until release is closed: a slow client.
type trickle struct {
	sent    bool
	left    int
	release <-chan struct{}
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.sent {
		<-r.release
	}
	r.sent = true
	n := min(len(p), r.left, 1024)
	for i := range n {
		p[i] = 'x'
	}
	r.left -= n
	return n, nil
}

// slowUploadSize is over net/http's 256 KiB post-handler drain, so a
// refusal is answered at once instead of after the server has read the
// body.
const slowUploadSize = mib

// slowPut starts a PUT of slowUploadSize bytes to rawPath as u whose body
// stalls after its first byte until release is closed. Its response (or
// the error, as Message) arrives on the returned channel.
func slowPut(t *testing.T, e *env, u user, rawPath string, release <-chan struct{}) <-chan harness.S3Response {
	t.Helper()
	result := make(chan harness.S3Response, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, e.url(rawPath), &trickle{left: slowUploadSize, release: release})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = slowUploadSize
	req = harness.SignV4(req, u.AccessKey, u.SecretKey, "UNSIGNED-PAYLOAD")
	go func() {
		resp, err := plainClient().Do(req)
		if err != nil {
			result <- harness.S3Response{Message: err.Error()}
			return
		}
		r, err := harness.ReadS3Response(resp)
		if err != nil {
			r.Message = err.Error()
		}
		result <- r
	}()
	return result
}

func isSlowDown(r harness.S3Response) bool {
	return r.Status == http.StatusServiceUnavailable && r.Code == "SlowDown"
}

// inFlightConfig gives user u a bucket and max_in_flight 4.
func inFlightConfig(u user, bucket string) string {
	return "users:\n" + u.entry("    grants: [{buckets: \""+bucket+"\", actions: [read, write, list]}]\n    limits: {max_in_flight: 4}\n")
}

// A user's max_in_flight caps the requests that user has open at once, so
// one slow or malicious key cannot hold all of photogate's connections:
// of 10 slow uploads at once, 4 proceed and 6 get 503 SlowDown.
func TestSlowUploadsBeyondUsersMaxInFlightAreRefused(t *testing.T) {
	slow := newUser("slow")
	b := harness.BucketName("inflight")
	e := start(t, inFlightConfig(slow, b))
	makeBuckets(t, minio.MakeBucketOptions{}, b)

	const uploads = 10
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	results := make(chan harness.S3Response, uploads)
	for i := range uploads {
		go func(r <-chan harness.S3Response) { results <- <-r }(slowPut(t, e, slow, fmt.Sprintf("/%s/slow%02d", b, i), release))
	}
	// The refusals come at once; the admitted uploads wait for their body.
	var refused, other []harness.S3Response
	timeout := time.After(5 * time.Second)
collect:
	for len(refused)+len(other) < uploads-4 {
		select {
		case r := <-results:
			if isSlowDown(r) {
				refused = append(refused, r)
			} else {
				other = append(other, r)
			}
		case <-timeout:
			break collect
		}
	}
	releaseOnce.Do(func() { close(release) })
	for len(refused)+len(other) < uploads {
		if r := <-results; isSlowDown(r) {
			refused = append(refused, r)
		} else {
			other = append(other, r)
		}
	}
	if len(refused) != uploads-4 {
		t.Errorf("%d of %d concurrent slow uploads were refused with 503 SlowDown, want %d (max_in_flight 4); the others: %v", len(refused), uploads, uploads-4, other)
	}
	if n, _ := storedBytes(t, b); n > 4 {
		t.Errorf("MinIO holds %d objects from %d concurrent uploads of a user with max_in_flight 4", n, uploads)
	}
}

// A reload (SIGHUP) must not reset what is in flight: with 4 slow uploads
// held open, a fifth is refused before and after the reload alike
// (docs/policy.md, Reload: "requests in flight still count").
func TestReloadDoesNotResetUsersInFlight(t *testing.T) {
	slow := newUser("slow")
	b := harness.BucketName("reload")
	config := inFlightConfig(slow, b)
	e := start(t, config)
	makeBuckets(t, minio.MakeBucketOptions{}, b)

	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	var held []<-chan harness.S3Response
	for i := range 4 {
		held = append(held, slowPut(t, e, slow, fmt.Sprintf("/%s/held%d", b, i), release))
	}
	// Wait until photogate serves all four, so the fifth is the one over.
	deadline := time.Now().Add(5 * time.Second)
	for e.g.Metrics(t)["photogate_s3_requests_in_flight"] < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("precondition: photogate_s3_requests_in_flight is %v 5 s after 4 slow uploads started, want 4", e.g.Metrics(t)["photogate_s3_requests_in_flight"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	extra := func(name string) harness.S3Response {
		select {
		case r := <-slowPut(t, e, slow, "/"+b+"/"+name, release):
			return r
		case <-time.After(5 * time.Second):
			return harness.S3Response{Message: "admitted: still in flight after 5 s"}
		}
	}
	if r := extra("before"); !isSlowDown(r) {
		t.Fatalf("precondition: a fifth upload with 4 held open: got %s %s, want 503 SlowDown", r, r.Message)
	}
	// The same config again: only the reload itself is under test.
	if err := os.WriteFile(e.configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.g.Pid(), syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP photogate: %v", err)
	}
	e.waitLog(t, "SIGHUP: users and policy reloaded", 10*time.Second)
	if r := extra("after"); !isSlowDown(r) {
		t.Errorf("a fifth upload with 4 held open, after a reload: got %s %s, want 503 SlowDown", r, r.Message)
	}
	releaseOnce.Do(func() { close(release) })
	for i, h := range held {
		if r := <-h; r.Status != http.StatusOK {
			t.Errorf("held upload %d: %s %s", i, r, r.Message)
		}
	}
	assertAbsent(t, b, "before")
	assertAbsent(t, b, "after")
}
