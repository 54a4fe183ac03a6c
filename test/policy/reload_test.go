package policy_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

const (
	reloadedMsg = "SIGHUP: users and policy reloaded"
	rejectedMsg = "SIGHUP: configuration rejected; keeping the current users and policy"
)

// TestReload: SIGHUP applies a rewritten config to a running photogate
// and to clients already connected; an invalid config is rejected with a
// log line naming the problem and the policy in force stays, even where the
// rejected config would have taken rights away.
func TestReload(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("hup")
	x, bob := newUser("xavier"), newUser("bob")
	readOnly := "users:\n" + x.entry("    grants:\n      - buckets: \"hup-*\"\n        actions: [read, list]\n")
	readWrite := "users:\n" + x.entry("    grants:\n      - buckets: \"hup-*\"\n        actions: [read, write, list]\n")
	// Invalid (bob's misspelt action), and it would take X's write away
	// if any of it were applied.
	invalid := "users:\n" + x.entry("    grants:\n      - buckets: \"hup-*\"\n        actions: [read, list]\n") +
		bob.entry("    grants:\n      - buckets: \"hup-*\"\n        actions: [read, wirte]\n")
	e := start(t, readOnly, x, bob)
	e.makeBuckets(t, bucket)

	// One client for the whole test, counting the connections it opens.
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c, err := minio.New(e.g.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(x.AccessKey, x.SecretKey, ""), Region: region, MaxRetries: 1, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string) ([]byte, error) {
		body := harness.RandomBytes(20_000)
		_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"})
		return body, err
	}
	list := func() {
		t.Helper()
		for o := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("X ListObjects %s: %v", bucket, o.Err)
			}
		}
	}
	hup := func(config string) {
		t.Helper()
		writeConfig(t, e.configPath, config)
		if err := syscall.Kill(e.g.Pid(), syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP photogate (pid %d): %v", e.g.Pid(), err)
		}
	}

	// Read-only: the PUT is refused.
	_, err = put("before.jpg")
	wantMinioErr(t, "X PutObject with read and list only", err, http.StatusForbidden, "AccessDenied")
	assertAbsent(t, bucket, "before.jpg")

	// Grant write and reload. The client keeps its connection.
	list()
	dialsBefore := dials.Load()
	hup(readWrite)
	e.waitLog(t, reloadedMsg, 1, 15*time.Second)
	body, err := put("after-grant.jpg")
	if err != nil {
		t.Fatalf("X PutObject after SIGHUP granted write: %v", err)
	}
	assertStored(t, bucket, "after-grant.jpg", body)
	if d := dials.Load() - dialsBefore; d != 0 {
		t.Errorf("X's client opened %d new connections across the reload, want it to keep using its open one", d)
	}

	// An invalid config is rejected and logged; the old policy stays.
	hup(invalid)
	rejected := e.waitLog(t, rejectedMsg, 1, 15*time.Second)
	logged := rejected[0].String()
	if !strings.Contains(logged, "wirte") || !strings.Contains(logged, "bob") {
		t.Errorf("rejection log line does not name the problem (bob's action \"wirte\"): %s", logged)
	}
	t.Logf("rejection logged: %s", logged)
	body, err = put("after-rejected.jpg")
	if err != nil {
		t.Fatalf("X PutObject after an invalid config was rejected on SIGHUP (write must still be granted): %v", err)
	}
	assertStored(t, bucket, "after-rejected.jpg", body)
	if n := e.logCount(reloadedMsg); n != 1 {
		t.Errorf("photogate logged %q %d times, want once (the invalid config must not load)", reloadedMsg, n)
	}
	// bob, who exists only in the rejected config, is unknown.
	_, err = e.minio(t, bob).ListBuckets(t.Context())
	wantMinioErr(t, "bob (only in the rejected config) ListBuckets", err, http.StatusForbidden, "InvalidAccessKeyId")
}
