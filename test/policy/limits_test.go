package policy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// checkSlowDown fails unless resp is 503 SlowDown with a Retry-After of
// whole seconds, at least 1.
func checkSlowDown(t *testing.T, what string, resp harness.S3Response) {
	t.Helper()
	if resp.Status != http.StatusServiceUnavailable || resp.Code != "SlowDown" {
		t.Errorf("%s: %s, want 503 SlowDown", what, resp)
		return
	}
	ra := resp.Header.Get("Retry-After")
	if n, err := strconv.Atoi(ra); err != nil || n < 1 {
		t.Errorf("%s: 503 SlowDown with Retry-After %q, want whole seconds >= 1: %s", what, ra, resp)
	}
}

// TestRateLimit: a key limited to 2 requests per second (burst 2) that
// hammers photogate gets 503 SlowDown with Retry-After, and
// aws-sdk-go-v2's retryer absorbs it: its calls succeed.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("rate")
	rater := newUser("rater")
	cfg := "users:\n" + rater.entry("    grants:\n      - buckets: \"rate-*\"\n        actions: [read, write, list]\n"+
		"    limits:\n      requests_per_second: 2\n      burst: 2\n")
	e := start(t, cfg, rater)
	e.makeBuckets(t, bucket)
	photo := harness.RandomBytes(20_000)
	seed(t, bucket, "photo.jpg", photo)
	url := e.objectURL(bucket, "photo.jpg")
	get := func() harness.S3Response {
		return harness.SendS3(t, plainClient(), signedBytes(t, http.MethodGet, url, nil, rater))
	}

	// exhaust empties the user's token bucket: GETs 20 ms apart until one
	// is served right after a refusal. That one took the token the moment
	// it was refilled, so the bucket held almost nothing (at most 20 ms of
	// refill) after it, and the next token is about 0.5 s later. It
	// returns that request's id and when it was sent.
	exhaust := func() (requestID string, sent time.Time) {
		t.Helper()
		refused := false
		for range 200 {
			sent := time.Now()
			switch resp := get(); resp.Status {
			case http.StatusServiceUnavailable:
				checkSlowDown(t, "GET while exhausting the bucket", resp)
				refused = true
			case http.StatusOK:
				if refused {
					return resp.Header.Get("X-Amz-Request-Id"), sent
				}
			default:
				t.Fatalf("GET while exhausting the bucket: %s", resp)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("200 GETs 20 ms apart by a user limited to 2/s (burst 2) never saw a refusal followed by a served request")
		return "", time.Time{}
	}
	// served is when photogate started serving the request with id,
	// from its log line (written at the end, with the duration).
	served := func(id string) (start, end time.Time, status int) {
		t.Helper()
		l, ok := e.g.LogFor(id, 5*time.Second)
		if !ok {
			t.Fatalf("no photogate log line for request id %s", id)
		}
		end, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			t.Fatalf("log line time %q: %v", l.Time, err)
		}
		return end.Add(-time.Duration(l.DurationMS * float64(time.Millisecond))), end, l.Status
	}

	t.Run("hammer", func(t *testing.T) {
		const n = 12
		var wg sync.WaitGroup
		resps := make([]harness.S3Response, n)
		begin := time.Now()
		for i := range n {
			wg.Go(func() { resps[i] = get() })
		}
		wg.Wait()
		elapsed := time.Since(begin)
		ok, slow := 0, 0
		for i, r := range resps {
			switch r.Status {
			case http.StatusOK:
				ok++
				if !bytes.Equal(r.Body, photo) {
					t.Errorf("GET %d: 200 with %d bytes, want the %d seeded bytes", i, len(r.Body), len(photo))
				}
			case http.StatusServiceUnavailable:
				slow++
				checkSlowDown(t, fmt.Sprintf("GET %d of %d at once", i, n), r)
				if !strings.Contains(r.Message, "2 requests per second") {
					t.Errorf("GET %d: SlowDown message %q does not name the limit of 2 requests per second", i, r.Message)
				}
			default:
				t.Errorf("GET %d of %d at once: %s, want 200 or 503 SlowDown", i, n, r)
			}
		}
		// Burst 2, plus what 2/s refills while the hammer lasts.
		maxOK := 2 + int(2*elapsed.Seconds()) + 1
		if ok < 1 || ok > maxOK || slow < n-maxOK {
			t.Errorf("%d GETs at once in %v: %d served, %d SlowDown; want 1..%d served and the rest SlowDown", n, elapsed, ok, slow, maxOK)
		}
		t.Logf("%d GETs at once in %v: %d served, %d refused with SlowDown", n, elapsed, ok, slow)
	})

	t.Run("sdk-default-retryer", func(t *testing.T) {
		var (
			wire    *wireLog
			emptyID string
			out     *s3.GetObjectOutput
			err     error
		)
		// The SDK's backoff is jittered from zero: now and then all three
		// of its attempts come before any token can be back (~500 ms after
		// the bucket emptied), which says nothing about photogate. Such a
		// run is tried again; a refusal after the refill fails at once.
		for try := 1; ; try++ {
			var c *s3.Client
			c, wire = e.sdk(t, rater, 0)
			var empty time.Time
			emptyID, empty = exhaust()
			// The next token comes about 0.5 s after empty. Call while it is
			// still missing, so the SDK's first attempt is refused and its
			// default retryer (standard mode: 3 attempts, backoff jittered
			// over 0-2 s, then 0-4 s) must absorb the SlowDown.
			time.Sleep(time.Until(empty.Add(250 * time.Millisecond)))
			out, err = c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("photo.jpg")})
			if err == nil {
				break
			}
			recs := wire.all()
			gaveUpEarly := len(recs) > 0 && recs[len(recs)-1].At.Before(empty.Add(450*time.Millisecond))
			if !gaveUpEarly || try == 3 {
				t.Fatalf("GetObject with the default retryer after the user's tokens ran out: %v\nattempts: %v", err, recs)
			}
			t.Logf("try %d: the SDK's jittered backoff spent its 3 attempts before a token could be back: %v", try, recs)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, photo) {
			t.Errorf("GetObject: %d bytes (%v), want the %d seeded bytes", len(got), err, len(photo))
		}
		recs := wire.all()
		t.Logf("default retryer, attempts: %v", recs)
		if len(recs) == 0 {
			t.Fatalf("the SDK client recorded no attempts")
		}
		if recs[0].Status != http.StatusServiceUnavailable {
			// Served at once: fine only if the machine was so slow that
			// the attempt reached photogate after the refill. Judge by
			// photogate's own clock.
			emptyStart, _, _ := served(emptyID)
			_, firstEnd, _ := served(recs[0].RequestID)
			if refill := emptyStart.Add(470 * time.Millisecond); firstEnd.Before(refill) {
				t.Errorf("the SDK's first attempt was served (%s) and done %v after the request that emptied the bucket began; at 2 requests/s no token can be back before ~500 ms",
					recs[0], firstEnd.Sub(emptyStart))
			} else {
				t.Logf("the first attempt reached photogate after the refill (done %v after the bucket was emptied): the machine is slow; the retry path was not exercised this time", firstEnd.Sub(emptyStart))
			}
		}
		for _, r := range recs {
			if r.Status == http.StatusServiceUnavailable && r.RetryAfter == "" {
				t.Errorf("a SlowDown the SDK received has no Retry-After: %s", r)
			}
		}
	})

	t.Run("sdk-max-attempts", func(t *testing.T) {
		c, wire := e.sdk(t, rater, 10)
		exhaust()
		const n = 4 // more contenders only stretch the jittered backoff
		bodies := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			bodies[i] = harness.RandomBytes(10_000 + i)
			wg.Go(func() {
				_, errs[i] = c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket),
					Key: aws.String(fmt.Sprintf("sdk/%d.jpg", i)), Body: bytes.NewReader(bodies[i]), ContentType: aws.String("image/jpeg")})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("PutObject sdk/%d.jpg with retry.AddWithMaxAttempts(10): %v", i, err)
				continue
			}
			assertStored(t, bucket, fmt.Sprintf("sdk/%d.jpg", i), bodies[i])
		}
		if wire.count(http.StatusServiceUnavailable) == 0 {
			t.Errorf("%d concurrent PutObjects right after the user's tokens ran out met no SlowDown: %v", n, wire.all())
		}
		t.Logf("%d concurrent PutObjects: %d attempts, %d refused with SlowDown and retried", n, len(wire.all()), wire.count(http.StatusServiceUnavailable))
	})
}

// TestUploadBandwidth: upload_bytes_per_second 1MiB makes a 3 MiB upload
// take about 3 s (less the ⅛ s burst), while the same upload by an
// unlimited user is fast.
func TestUploadBandwidth(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("bw")
	slow, fast := newUser("slow"), newUser("fast")
	grants := "    grants:\n      - buckets: \"bw-*\"\n        actions: [read, write, list]\n"
	cfg := "users:\n" + slow.entry(grants+"    limits:\n      upload_bytes_per_second: 1MiB\n") + fast.entry(grants)
	e := start(t, cfg, slow, fast)
	e.makeBuckets(t, bucket)

	upload := func(u user, key string) time.Duration {
		t.Helper()
		body := harness.RandomBytes(3 << 20)
		begin := time.Now()
		if _, err := e.minio(t, u).PutObject(t.Context(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("%s PutObject %s (3 MiB): %v", u.Name, key, err)
		}
		d := time.Since(begin)
		assertStored(t, bucket, key, body)
		return d
	}
	unlimited := upload(fast, "fast.jpg")
	limited := upload(slow, "slow.jpg")
	t.Logf("3 MiB upload: unlimited user %v, user limited to 1 MiB/s %v", unlimited.Round(time.Millisecond), limited.Round(time.Millisecond))
	if limited < 2*time.Second {
		t.Errorf("3 MiB upload by a user limited to 1 MiB/s took %v, want at least 2s", limited)
	}
	if limited-unlimited < time.Second {
		t.Errorf("3 MiB upload: limited user %v, unlimited user %v; want the limit to cost over a second", limited, unlimited)
	}
}

// TestAuthFailureLimit: wrong signatures from one address get 403
// SignatureDoesNotMatch until auth_failure_burst is used up, then 503
// SlowDown with Retry-After, and so does a correctly signed request from
// the same address: the address is refused before any signature is
// checked. No secret reaches photogate's log.
func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("brute")
	victim := newUser("victim")
	cfg := "users:\n" + victim.entry("    grants:\n      - buckets: \"brute-*\"\n        actions: [read, write, list]\n") +
		"policy:\n  limits:\n    auth_failures_per_minute: 5\n    auth_failure_burst: 5\n"
	e := start(t, cfg, victim)
	e.makeBuckets(t, bucket)
	guesser := victim
	guesser.SecretKey = harness.RandomString(40)
	e.noLeak("wrong secret the guesser signed with", guesser.SecretKey)
	body := harness.RandomBytes(5_000)

	// Control: the right secret works (and never drains the limiter).
	for i := range 3 {
		key := fmt.Sprintf("control-%d.jpg", i)
		if resp := harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(bucket, key), body, victim)); resp.Status != http.StatusOK {
			t.Fatalf("control: correctly signed PUT %s: %s", key, resp)
		}
		assertStored(t, bucket, key, body)
	}

	// Five wrong signatures: the burst.
	for i := range 5 {
		key := fmt.Sprintf("guess-%d.jpg", i)
		resp := harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(bucket, key), body, guesser))
		if resp.Status != http.StatusForbidden || resp.Code != "SignatureDoesNotMatch" {
			t.Errorf("wrong-secret PUT %d of the burst of 5: %s, want 403 SignatureDoesNotMatch", i+1, resp)
		}
		assertAbsent(t, bucket, key)
	}
	// Past the burst: refused before the signature is looked at.
	for i := range 3 {
		key := fmt.Sprintf("guess-more-%d.jpg", i)
		resp := harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(bucket, key), body, guesser))
		checkSlowDown(t, fmt.Sprintf("wrong-secret PUT %d past the burst", i+1), resp)
		assertAbsent(t, bucket, key)
	}
	// Even the right secret, from the same address, must wait.
	resp := harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(bucket, "right-secret.jpg"), body, victim))
	checkSlowDown(t, "correctly signed PUT from the throttled address", resp)
	assertAbsent(t, bucket, "right-secret.jpg")
	resp = harness.SendS3(t, plainClient(), signedBytes(t, http.MethodGet, e.objectURL(bucket, "control-0.jpg"), nil, e.admin()))
	checkSlowDown(t, "correctly signed GET by another user from the throttled address", resp)
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra > 60 {
		t.Errorf("Retry-After %d s for an address that gets 5 attempts a minute, want at most 60", ra)
	}

	// A reload keeps the addresses' failure counts: it is no way to reset
	// the limiter.
	writeConfig(t, e.configPath, cfg)
	if err := syscall.Kill(e.g.Pid(), syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
	e.waitLog(t, reloadedMsg, 1, 15*time.Second)
	resp = harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(bucket, "after-reload.jpg"), body, victim))
	checkSlowDown(t, "correctly signed PUT from the throttled address after a SIGHUP reload", resp)
	assertAbsent(t, bucket, "after-reload.jpg")

	// Nothing of the secrets in the log so far (start checks again, with
	// the whole log, once the gateway has stopped).
	stderr := e.g.Stderr()
	for label, s := range map[string]string{"victim's secret": victim.SecretKey, "guessed secret": guesser.SecretKey, "env user's secret": e.g.SecretKey()} {
		if strings.Contains(stderr, s) {
			t.Errorf("photogate's stderr contains the %s", label)
		}
	}
	if !strings.Contains(stderr, "SignatureDoesNotMatch") {
		t.Errorf("photogate's stderr does not mention the failed signatures at all; tail:\n%s", tail(stderr, 2048))
	}
}
