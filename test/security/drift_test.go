package security_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// Keys with empty or dot segments, or a leading slash, are where the
// gateway's idea of a key and MinIO's can differ (path cleaning, slash
// collapsing). Each must be refused, or stored and indexed under the very
// key MinIO stored; `photogate check` then finds no drift.
func TestDotAndEmptyPathSegmentsDoNotDriftTheIndex(t *testing.T) {
	writer := newUser("writer")
	b, other := harness.BucketName("paths"), harness.BucketName("other")
	e := start(t, "users:\n"+writer.entry("    grants: [{buckets: \""+b+"\", actions: [read, write, list]}]\n"))
	makeBuckets(t, minio.MakeBucketOptions{}, b, other)
	paths := []string{
		"/" + b + "//key1",
		"/" + b + "///key2",
		"/" + b + "/dir//key3",
		"/" + b + "/a/./key4",
		"/" + b + "/./key5",
		"/" + b + "/a/../key6",
		"/" + b + "/../" + b + "/key7",
		"/" + b + "/..",
		"/" + b + "/a/..",
		"/" + b + "/key8/.",
		"/" + b + "/%2Fkey9",
		"/" + b + "/a%2F..%2Fkey10",
		"/" + b + "/../" + other + "/escaped", // a write grant on b only
		"/" + b + "/%2E%2E/" + other + "/escaped2",
	}
	for _, p := range paths {
		body := []byte("stored via " + p)
		r := send(t, signed(t, http.MethodPut, e.url(p), body, writer))
		t.Logf("PUT %s: %s", p, r)
	}
	if objs := listed(t, other); len(objs) > 0 {
		t.Errorf("a user with write on %s only stored %d objects in %s through dot segments: %v", b, len(objs), other, objs[0].Key)
	}
	// Whatever MinIO stored is indexed under the key MinIO stored.
	for _, o := range listed(t, b) {
		it, ok := e.object(t, b, o.Key)
		if !ok {
			t.Errorf("MinIO holds %s/%q but the index does not", b, o.Key)
			continue
		}
		if it.Size != o.Size {
			t.Errorf("%s/%q: index says %d bytes, MinIO %d", b, o.Key, it.Size, o.Size)
		}
	}
	st := e.stats(t)
	for _, bs := range st.Buckets {
		if bs.Bucket == b {
			if n := int64(len(listed(t, b))); bs.Objects != n {
				t.Errorf("the index counts %d objects in %s, MinIO holds %d", bs.Objects, b, n)
			}
		}
	}
	e.wantNoDrift(t, b, other)
}

// Two <TagSet> elements: a decoder that keeps the last while MinIO keeps
// the first (or the other way round) lets the index and MinIO disagree on
// an object's tags. S3 answers MalformedXML.
func TestPutObjectTaggingWithTwoTagSetsIsRefused(t *testing.T) {
	e := start(t, "")
	b := harness.BucketName("tags")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	c := e.client(t, e.admin())
	jpeg := photo(t)
	if _, err := c.PutObject(t.Context(), b, "tagged.jpg", bytes.NewReader(jpeg), int64(len(jpeg)), "", "", minio.PutObjectOptions{
		UserTags: map[string]string{"album": "holiday"},
	}); err != nil {
		t.Fatalf("PutObject with tags: %v", err)
	}
	body := []byte(`<Tagging><TagSet><Tag><Key>album</Key><Value>forged</Value></Tag></TagSet>` +
		`<TagSet><Tag><Key>visibility</Key><Value>public</Value></Tag></TagSet></Tagging>`)
	req := newRequest(t, http.MethodPut, e.url("/"+b+"/tagged.jpg?tagging"), body)
	req.Header.Set("Content-MD5", contentMD5(body))
	r := send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(body)))
	wantError(t, "PutObjectTagging with two TagSets", r, http.StatusBadRequest, "MalformedXML")

	got, err := suite.Backend.Client().GetObjectTagging(t.Context(), b, "tagged.jpg", minio.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatalf("MinIO GetObjectTagging: %v", err)
	}
	if m := got.ToMap(); len(m) != 1 || m["album"] != "holiday" {
		t.Errorf("MinIO's tags of %s/tagged.jpg changed to %v, want album=holiday", b, m)
	}
	if it, ok := e.waitObject(t, b, "tagged.jpg", 10*time.Second); !ok || !maps.Equal(it.Tags, got.ToMap()) {
		t.Errorf("the index has tags %v for %s/tagged.jpg, MinIO %v", it.Tags, b, got.ToMap())
	}
	e.wantNoDrift(t, b)
}

// lossyProxy forwards TCP between photogate and MinIO and, for every
// request whose first bytes start with dropPrefix, forwards the request
// but closes both connections instead of returning the response: a
// backend that did the work and whose answer was lost.
type lossyProxy struct {
	ln         net.Listener
	target     string
	dropPrefix []byte
	dropped    atomic.Int32
	wg         sync.WaitGroup
}

func startLossyProxy(t *testing.T, target, dropPrefix string) *lossyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target, dropPrefix: []byte(dropPrefix)}
	p.wg.Add(1)
	go p.serve(t.Context())
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *lossyProxy) addr() string { return p.ln.Addr().String() }

func (p *lossyProxy) serve(ctx context.Context) {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.relay(ctx, client)
		}()
	}
}

// relay pipes one connection. A request matching dropPrefix arms the
// connection: the next bytes MinIO sends back (its response) are
// swallowed and both sides are closed.
func (p *lossyProxy) relay(ctx context.Context, client net.Conn) {
	defer client.Close()
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var armed atomic.Bool
	done := make(chan struct{}, 2)
	go func() { // client -> server, watching for the request to lose
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if bytes.HasPrefix(buf[:n], p.dropPrefix) {
					armed.Store(true)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // server -> client, unless armed
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && armed.Load() {
				p.dropped.Add(1)
				client.Close()
				server.Close()
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					client.Close()
				}
				return
			}
		}
	}()
	<-done
	client.Close()
	server.Close()
	<-done
}

// A PUT MinIO completed but whose response never reached photogate: the
// client must see a 5xx (photogate cannot know), yet the object is in
// MinIO, so the index must learn of it within seconds and no write intent
// may stay pending.
func TestLostBackendResponseIsReconciled(t *testing.T) {
	requireSetup(t)
	b := harness.BucketName("lost")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	proxy := startLossyProxy(t, suite.Backend.Addr(), "PUT /"+b+"/lost.jpg")
	e := startWith(t, "", harness.GatewayOptions{
		BackendEndpoint:  "http://" + proxy.addr(),
		BackendAccessKey: suite.Backend.AccessKey(),
		BackendSecretKey: suite.Backend.SecretKey(),
	})
	jpeg := photo(t)
	r := send(t, signed(t, http.MethodPut, e.url("/"+b+"/lost.jpg"), jpeg, e.admin()))
	if proxy.dropped.Load() == 0 {
		t.Fatalf("precondition: the proxy dropped no response (PUT answered %s)", r)
	}
	if r.Status < 500 {
		t.Errorf("PUT whose backend response was lost: got %s, want a 5xx", r)
	}
	if data, _, ok := stored(t, b, "lost.jpg"); !ok || !bytes.Equal(data, jpeg) {
		t.Fatalf("precondition: MinIO does not hold the photo whose response was dropped")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, indexed := e.object(t, b, "lost.jpg")
		pending, found := pendingIntents(e.g.Metrics(t))
		if indexed && found && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the lost response: indexed %v, photogate_index_pending_intents %v (exposed %v)", indexed, pending, found)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.wantNoDrift(t, b)
}

func pendingIntents(samples map[string]float64) (float64, bool) {
	for k, v := range samples {
		if k == "photogate_index_pending_intents" || strings.HasPrefix(k, "photogate_index_pending_intents{") {
			return v, true
		}
	}
	return 0, false
}
