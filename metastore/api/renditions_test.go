package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
)

// shelf is an in-memory api.Renditions: the HTTP behaviour of the routes
// is tested here; metastore/renditions and test/renditions test the real
// Library against MinIO.
type shelf struct {
	mu      sync.Mutex
	images  map[string][]byte // bucket/key/etag/size
	failed  map[string]string // bucket/key/etag
	queue   *metastore.Store
	opened  int
	pending int
}

func (s *shelf) Renders(format string) bool { return format == "jpeg" || format == "heic" }

func (s *shelf) Open(_ context.Context, bucket, key, etag, size string) (io.ReadCloser, int64, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened++
	b, ok := s.images[bucket+"/"+key+"/"+etag+"/"+size]
	if !ok {
		return nil, 0, "", false, nil
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), "image/webp", true, nil
}

func (s *shelf) Failure(_ context.Context, bucket, key, etag string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.failed[bucket+"/"+key+"/"+etag]
	return r, ok, nil
}

func (s *shelf) Pending(ctx context.Context, rec metastore.Record) (metastore.Job, error) {
	s.mu.Lock()
	s.pending++
	s.mu.Unlock()
	j := metastore.Job{Kind: "rendition", Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag}
	id, err := s.queue.Enqueue(ctx, j)
	j.ID, j.State = id, metastore.JobQueued
	return j, err
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func renditionFixture(t *testing.T) (*fixture, *shelf, *clock, *metastore.Store) {
	t.Helper()
	st := openStore(t)
	sh := &shelf{
		images: map[string][]byte{`photos/2024/a.jpg/"aaa"/thumb`: []byte("RIFF-thumb-a")},
		failed: map[string]string{`photos/2024/b.heic/"bbb"`: "heic: nothing decodable"},
		queue:  st,
	}
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	f := newServer(t, st, api.Config{Token: token, Renditions: sh, Jobs: st, URLKey: []byte("0123456789abcdef0123456789abcdef"), Now: c.Now})
	return f, sh, c, st
}

func TestRenditionAnswers(t *testing.T) {
	f, sh, _, _ := renditionFixture(t)
	r := f.get(t, "/api/v1/renditions/photos/2024/a.jpg?size=thumb")
	if r.status != http.StatusOK || string(r.body) != "RIFF-thumb-a" || r.header.Get("Content-Type") != "image/webp" ||
		!strings.HasSuffix(r.header.Get("ETag"), `-thumb"`) || r.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("thumb: %d %q %v", r.status, r.body, r.header)
	}
	etag := r.header.Get("ETag")
	opened := sh.opened
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/renditions/photos/2024/a.jpg", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("If-None-Match", inm)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: %d, want 304", inm, resp.StatusCode)
		}
	}
	if sh.opened != opened {
		t.Errorf("a 304 read the rendition")
	}
	if r := f.do(t, http.MethodHead, "/api/v1/renditions/photos/2024/a.jpg", "Bearer "+token); r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != "12" {
		t.Errorf("HEAD: %d %q %v", r.status, r.body, r.header)
	}

	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/renditions/photos/2024/b.heic?size=preview", http.StatusNotFound, api.CodeRenditionFailed},
		{"/api/v1/renditions/photos/2023/c.png", http.StatusNotFound, api.CodeNotRendered},
		{"/api/v1/renditions/photos/nope.jpg", http.StatusNotFound, api.CodeNotFound},
		{"/api/v1/renditions/photos/2024/a.jpg?v=other", http.StatusNotFound, api.CodeNotFound},
		{"/api/v1/renditions/photos/2024/a.jpg?size=big", http.StatusBadRequest, api.CodeInvalidParameter},
		{"/api/v1/renditions/photos/2024/a.jpg?expires=1", http.StatusBadRequest, api.CodeInvalidParameter},
		{"/api/v1/renditions/photos/2024/a.jpg?sign=yes", http.StatusBadRequest, api.CodeInvalidParameter},
		{"/api/v1/renditions/photos/2024/a.jpg?sign=true&ttl=48h", http.StatusBadRequest, api.CodeInvalidParameter},
	}
	for _, c := range cases {
		r := f.get(t, c.path)
		if got := decode[api.ErrorResponse](t, r); r.status != c.status || got.Error.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.path, r.status, r.body, c.status, c.code)
		}
	}
	if r := f.get(t, "/api/v1/renditions/photos/2024/b.heic"); !strings.Contains(string(r.body), "nothing decodable") {
		t.Errorf("failed rendition without its reason: %s", r.body)
	}
	if r := f.do(t, http.MethodGet, "/api/v1/renditions/photos/2024/a.jpg", ""); r.status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", r.status)
	}
}

func TestRenditionPendingQueuesOnce(t *testing.T) {
	f, sh, _, st := renditionFixture(t)
	delete(sh.images, `photos/2024/a.jpg/"aaa"/thumb`)
	r := f.get(t, "/api/v1/renditions/photos/2024/a.jpg")
	p := decode[api.RenditionPending](t, r)
	if r.status != http.StatusAccepted || p.State != "queued" || p.Job.ID == 0 || r.header.Get("Retry-After") != "1" ||
		r.header.Get("ETag") != "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("pending: %d %s %v", r.status, r.body, r.header)
	}
	j, ok, err := st.GetJob(context.Background(), p.Job.ID)
	if err != nil || !ok || j.Key != "2024/a.jpg" {
		t.Fatalf("the queued job: %+v %v %v", j, ok, err)
	}
}

func TestSignedRenditionURLs(t *testing.T) {
	f, _, c, _ := renditionFixture(t)
	r := f.get(t, "/api/v1/renditions/photos/2024/a.jpg?size=thumb&sign=true&ttl=10m")
	su := decode[api.SignedURL](t, r)
	if r.status != http.StatusOK {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	// Rounded up to the next whole window, then one more: between one and
	// two TTLs away, and equal for every URL signed in the same window.
	if left := su.Expires.Sub(c.Now()); left <= 10*time.Minute || left > 20*time.Minute || su.Expires.Unix()%600 != 0 {
		t.Errorf("expires %v, %v from now", su.Expires, left)
	}
	c.add(time.Second)
	if again := decode[api.SignedURL](t, f.get(t, "/api/v1/renditions/photos/2024/a.jpg?size=thumb&sign=true&ttl=10m")); again.URL != su.URL {
		t.Errorf("URLs signed a second apart differ: %s, %s", su.URL, again.URL)
	}
	r = f.do(t, http.MethodGet, su.URL, "")
	if r.status != http.StatusOK || string(r.body) != "RIFF-thumb-a" || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("signed URL: %d %q %v", r.status, r.body, r.header)
	}
	// A signature is no credential anywhere else, nor with the admin
	// token's routes' methods.
	u, _ := url.Parse(su.URL)
	sig := u.Query().Get("sig")
	for _, path := range []string{"/api/v1/stats?sig=" + sig, "/api/v1/jobs?sig=" + sig} {
		if r := f.do(t, http.MethodGet, path, ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", path, r.status)
		}
	}
	if r := f.do(t, http.MethodPost, su.URL, ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to a signed URL: %d", r.status)
	}
	exp, _ := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
	c.add(time.Unix(exp, 0).Sub(c.Now()))
	if r := f.do(t, http.MethodGet, su.URL, ""); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "expired") {
		t.Errorf("at its expiry: %d %s, want 403 expired", r.status, r.body)
	}
}

func TestSignedURLsNeedAKey(t *testing.T) {
	st := openStore(t)
	f := newServer(t, st, api.Config{Token: token, Renditions: &shelf{queue: st}})
	if r := f.get(t, "/api/v1/renditions/photos/2024/a.jpg?sign=true"); r.status != http.StatusNotImplemented {
		t.Errorf("sign without a key: %d", r.status)
	}
	if r := f.do(t, http.MethodGet, "/api/v1/renditions/photos/2024/a.jpg?v=x&expires=9999999999&sig=00", ""); r.status != http.StatusForbidden {
		t.Errorf("a signed URL without a key: %d", r.status)
	}
}

func TestJobRoutes(t *testing.T) {
	f, _, _, st := renditionFixture(t)
	ctx := context.Background()
	var ids []uint64
	for i := range 5 {
		id, err := st.Enqueue(ctx, metastore.Job{Kind: "rendition", Bucket: "photos", Key: "k" + strconv.Itoa(i), ETag: "e"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := st.Fail(ctx, ids[1], "too large"); err != nil {
		t.Fatal(err)
	}
	page := decode[api.JobsResponse](t, f.get(t, "/api/v1/jobs?limit=2"))
	if len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].ID != ids[0] {
		t.Fatalf("first page: %+v", page)
	}
	rest := decode[api.JobsResponse](t, f.get(t, "/api/v1/jobs?limit=10&after="+page.NextCursor))
	if len(rest.Items) != 3 || rest.NextCursor != "" {
		t.Errorf("second page: %+v", rest)
	}
	failed := decode[api.JobsResponse](t, f.get(t, "/api/v1/jobs?state=failed"))
	if len(failed.Items) != 1 || failed.Items[0].ID != ids[1] || failed.Items[0].LastError != "too large" || failed.Items[0].State != "failed" {
		t.Errorf("failed: %+v", failed)
	}
	one := decode[api.JobsResponse](t, f.get(t, "/api/v1/jobs?bucket=photos&key=k3"))
	if len(one.Items) != 1 || one.Items[0].ID != ids[3] {
		t.Errorf("by object: %+v", one)
	}
	j := decode[api.Job](t, f.get(t, "/api/v1/jobs/"+strconv.FormatUint(ids[2], 10)))
	if j.Key != "k2" || j.State != "queued" || j.Created.IsZero() {
		t.Errorf("job: %+v", j)
	}
	if r := f.get(t, "/api/v1/jobs/999999"); r.status != http.StatusNotFound {
		t.Errorf("unknown job: %d", r.status)
	}
	if r := f.get(t, "/api/v1/jobs/retry"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET retry: %d", r.status)
	}
	rr := decode[api.RetryResponse](t, f.do(t, http.MethodPost, "/api/v1/jobs/retry?kind=rendition", "Bearer "+token))
	if rr.Retried != 1 {
		t.Errorf("retried %d, want 1", rr.Retried)
	}
	if j := decode[api.Job](t, f.get(t, "/api/v1/jobs/"+strconv.FormatUint(ids[1], 10))); j.State != "queued" {
		t.Errorf("after retry: %+v", j)
	}
	for _, q := range []string{"state=done", "limit=1001", "bucket=photos", "key=k", "after=-1", "kind=rendition&x=1"} {
		if r := f.get(t, "/api/v1/jobs?"+q); r.status != http.StatusBadRequest {
			t.Errorf("jobs?%s: %d, want 400", q, r.status)
		}
	}
}
