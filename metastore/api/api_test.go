package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
)

const token = "s3cr3t-admin-token-for-tests"

func ptr[T any](v T) *T { return &v }

// records is the fixture library. Default order (sort=key) is bucket, then
// key: archive/… before photos/….
func records() []metastore.Record {
	paris := time.FixedZone("CEST", 2*3600)
	return []metastore.Record{
		{
			Bucket: "photos", Key: "2024/a.jpg", Size: 5_000_000, ETag: `"aaa"`, ContentType: "image/jpeg",
			LastModified: time.Date(2024, 5, 1, 14, 0, 0, 0, paris), // stored in a zone: the API must answer in UTC
			UserMeta:     map[string]string{"owner": "ann"}, Tags: map[string]string{"album": "paris"}, Owner: "ann",
			Format: "jpeg", MIME: "image/jpeg", Width: 8192, Height: 5464, DisplayWidth: 8192, DisplayHeight: 5464,
			Orientation: 1, Megapixels: 44.8, Aspect: "landscape",
			TakenAt: time.Date(2024, 5, 1, 12, 0, 0, 0, paris), TakenOffset: "+02:00",
			Make: "Canon", Model: "Canon EOS R5", Lens: "RF24-70mm F2.8 L IS USM", ISO: 100, FNumber: 2.8,
			ExposureTime: "1/250", FocalLength: 50, FocalLength35: 50,
			GPS:    &metastore.GPS{Lat: 48.8566, Lon: 2.3522, Alt: ptr(35.0)},
			Status: "ok",
		},
		{
			Bucket: "photos", Key: "2024/b.heic", Size: 2_000_000, ETag: `"bbb"`, ContentType: "image/heic",
			Tags:   map[string]string{"album": "travel"},
			Format: "heic", MIME: "image/heic", Width: 4032, Height: 3024, DisplayWidth: 3024, DisplayHeight: 4032,
			Orientation: 6, Megapixels: 12.2, Aspect: "portrait",
			TakenAt: time.Date(2024, 6, 15, 18, 30, 0, 0, time.UTC),
			Make:    "Apple", Model: "iPhone 15 Pro", ISO: 800, FNumber: 1.8,
			GPS:    &metastore.GPS{Lat: -17.7, Lon: 179.5}, // Fiji, next to the antimeridian
			Status: "ok",
		},
		{
			Bucket: "photos", Key: "2023/c.png", Size: 300_000, ContentType: "image/png; charset=binary",
			Format: "png", MIME: "image/png", Width: 800, Height: 600, Megapixels: 0.48, Aspect: "landscape",
			Status: "partial", Reason: "no EXIF",
		},
		{
			Bucket: "archive", Key: "old/d.jpg", Size: 8_000_000, ContentType: "image/jpeg",
			Tags:   map[string]string{"album": "nyc", "rating": "5"},
			Format: "jpeg", Width: 4000, Height: 4000, DisplayWidth: 4000, DisplayHeight: 4000,
			Orientation: 3, Megapixels: 16, Aspect: "square",
			TakenAt: time.Date(2019, 1, 1, 9, 0, 0, 0, time.UTC),
			Make:    "NIKON CORPORATION", Model: "NIKON D750", Lens: "50mm f/1.8", ISO: 3200,
			GPS:    &metastore.GPS{Lat: 40.7128, Lon: -74.0060},
			Status: "ok",
		},
		{
			Bucket: "photos", Key: "2024/e.webp", Size: 1_000_000, ContentType: "image/webp",
			Format: "webp", Width: 6000, Height: 4000, DisplayWidth: 6000, DisplayHeight: 4000,
			Orientation: 1, Megapixels: 24, Aspect: "landscape",
			TakenAt: time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC),
			Make:    "CANON", Model: "Canon EOS R5", ISO: 400,
			Status: "ok",
		},
		{
			// Odd metadata the index keeps as given: the API must still
			// answer (encoding/json refuses NaN) and show no GPS.
			Bucket: "photos", Key: "odd/f.jpg", Size: 10, ContentType: "image/jpeg",
			Format: "jpeg", FNumber: math.NaN(), Megapixels: math.Inf(1), FocalLength: math.NaN(),
			GPS:    &metastore.GPS{Lat: math.NaN(), Lon: 10},
			Status: "failed", Reason: "truncated EXIF",
		},
		{
			// A key that only survives HTTP path cleaning when escaped.
			Bucket: "photos", Key: "weird//x/../y.jpg", Size: 20, Status: "none",
		},
	}
}

// allKeys is every fixture as bucket/key in default order.
func allKeys() []string {
	return []string{
		"archive/old/d.jpg", "photos/2023/c.png", "photos/2024/a.jpg", "photos/2024/b.heic",
		"photos/2024/e.webp", "photos/odd/f.jpg", "photos/weird//x/../y.jpg",
	}
}

func openStore(t *testing.T) *metastore.Store {
	t.Helper()
	st, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, r := range records() {
		if err := st.Commit(ctx, 0, metastore.Put(r)); err != nil {
			t.Fatalf("commit %s/%s: %v", r.Bucket, r.Key, err)
		}
	}
	return st
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	srv *httptest.Server
	log *syncBuffer
}

// newServer mounts the API the way serve does: at "/api/" on an admin mux
// that also has other routes.
func newServer(t *testing.T, index api.Searcher, cfg api.Config) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Index = index
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/api/", api.New(cfg))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, log: logs}
}

func newFixture(t *testing.T) *fixture {
	return newServer(t, openStore(t), api.Config{Token: token})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, pathAndQuery, auth string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func (f *fixture) get(t *testing.T, pathAndQuery string) response {
	t.Helper()
	return f.do(t, http.MethodGet, pathAndQuery, "Bearer "+token)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return v
}

func checkJSONHeaders(t *testing.T, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

func (f *fixture) search(t *testing.T, query string) api.SearchResponse {
	t.Helper()
	r := f.get(t, "/api/v1/search?"+query)
	if r.status != http.StatusOK {
		t.Fatalf("search %q: %d %s", query, r.status, r.body)
	}
	checkJSONHeaders(t, r)
	return decode[api.SearchResponse](t, r)
}

func keysOf(items []api.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Bucket + "/" + it.Key
	}
	return out
}

func TestAuth(t *testing.T) {
	store := openStore(t)
	on := newServer(t, store, api.Config{Token: token})
	off := newServer(t, store, api.Config{})

	for _, tc := range []struct {
		name   string
		f      *fixture
		path   string
		auth   string
		status int
	}{
		{"no header", on, "/api/v1/stats", "", http.StatusUnauthorized},
		{"wrong token", on, "/api/v1/stats", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", on, "/api/v1/stats", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"token plus suffix", on, "/api/v1/stats", "Bearer " + token + "x", http.StatusUnauthorized},
		{"basic scheme", on, "/api/v1/stats", "Basic " + token, http.StatusUnauthorized},
		{"bare token", on, "/api/v1/stats", token, http.StatusUnauthorized},
		{"unknown route needs auth first", on, "/api/v1/nope", "", http.StatusUnauthorized},
		{"search needs auth", on, "/api/v1/search", "", http.StatusUnauthorized},
		{"object needs auth", on, "/api/v1/objects/photos/2024/a.jpg", "Bearer x", http.StatusUnauthorized},
		{"right token", on, "/api/v1/stats", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", on, "/api/v1/stats", "bearer " + token, http.StatusOK},
		{"unknown route with auth", on, "/api/v1/nope", "Bearer " + token, http.StatusNotFound},
		{"disabled, no header", off, "/api/v1/stats", "", http.StatusForbidden},
		{"disabled, any token", off, "/api/v1/search", "Bearer " + token, http.StatusForbidden},
		{"disabled, empty bearer", off, "/api/v1/search", "Bearer ", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.f.do(t, http.MethodGet, tc.path, tc.auth)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			checkJSONHeaders(t, r)
			if tc.status != http.StatusOK {
				e := decode[api.ErrorResponse](t, r)
				if e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("error body %s", r.body)
				}
			}
			switch tc.status {
			case http.StatusUnauthorized:
				if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			case http.StatusForbidden:
				if !strings.Contains(string(r.body), "PHOTOGATE_ADMIN_TOKEN") {
					t.Errorf("403 does not tell the operator what to set: %s", r.body)
				}
			}
		})
	}
	// The rest of the admin mux is untouched by the API.
	if r := on.do(t, http.MethodGet, "/healthz", ""); r.status != http.StatusOK {
		t.Errorf("/healthz: %d", r.status)
	}
	for _, f := range []*fixture{on, off} {
		if logs := f.log.String(); strings.Contains(logs, token) || strings.Contains(logs, token[:10]) {
			t.Errorf("the token reached the log:\n%s", logs)
		}
	}
	if !strings.Contains(on.log.String(), "authentication failed") {
		t.Errorf("failed logins are not logged:\n%s", on.log.String())
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, http.MethodPost, "/api/v1/search", "Bearer "+token)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("status %d Allow %q", r.status, r.header.Get("Allow"))
	}
	checkJSONHeaders(t, r)
	if e := decode[api.ErrorResponse](t, r); e.Error.Code != api.CodeMethodNotAllowed {
		t.Errorf("code %q", e.Error.Code)
	}
	if r := f.do(t, http.MethodHead, "/api/v1/stats", "Bearer "+token); r.status != http.StatusOK {
		t.Errorf("HEAD: %d", r.status)
	}
}

func TestSearchFilters(t *testing.T) {
	f := newFixture(t)
	allKeys := allKeys()
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", allKeys},
		{"bucket=archive", []string{"archive/old/d.jpg"}},
		{"bucket=photos&prefix=2024/", []string{"photos/2024/a.jpg", "photos/2024/b.heic", "photos/2024/e.webp"}},
		{"prefix=old/", []string{"archive/old/d.jpg"}},
		{"taken_after=2024-05-01", []string{"photos/2024/a.jpg", "photos/2024/b.heic", "photos/2024/e.webp"}},
		{"taken_after=2024-05-01&taken_before=2024-05-02", []string{"photos/2024/a.jpg"}},
		{"taken_before=2020-01-01", []string{"archive/old/d.jpg"}},
		// a.jpg was taken at 10:00 UTC; RFC 3339 with an offset, in UTC, and with fractions.
		{"taken_after=" + url.QueryEscape("2024-05-01T12:00:00+02:00") + "&taken_before=2024-05-01T10:00:00.001Z", []string{"photos/2024/a.jpg"}},
		{"taken_after=2024-05-01T10:00:01Z&taken_before=2024-06-01", []string{"photos/2024/e.webp"}},
		// An unencoded + arrives as a space; it is read as the offset it was.
		{"taken_after=2024-05-01T12:00:00+02:00&taken_before=2024-05-01T12:00:01+02:00", []string{"photos/2024/a.jpg"}},
		{"make=canon", []string{"photos/2024/a.jpg", "photos/2024/e.webp"}},
		{"make=Nikon+Corporation", []string{"archive/old/d.jpg"}},
		{"model=iphone+15+pro", []string{"photos/2024/b.heic"}},
		{"lens=" + url.QueryEscape("rf24-70mm f2.8 l is usm"), []string{"photos/2024/a.jpg"}},
		{"format=PNG", []string{"photos/2023/c.png"}},
		{"content_type=image/heic", []string{"photos/2024/b.heic"}},
		{"content_type=image/png", []string{"photos/2023/c.png"}},
		{"tag=album=paris", []string{"photos/2024/a.jpg"}},
		{"tag=album=nyc&tag=rating=5", []string{"archive/old/d.jpg"}},
		{"tag=album=nyc&tag=rating=4", nil},
		{"tag=album=Paris", nil}, // tags are case-sensitive, like S3's
		{"tag=album=paris&tag=album=paris", []string{"photos/2024/a.jpg"}},
		{"has_gps=true", []string{"archive/old/d.jpg", "photos/2024/a.jpg", "photos/2024/b.heic"}},
		{"has_gps=false", []string{"photos/2023/c.png", "photos/2024/e.webp", "photos/odd/f.jpg", "photos/weird//x/../y.jpg"}},
		{"bbox=-10,35,20,60", []string{"photos/2024/a.jpg"}},
		{"bbox=" + url.QueryEscape("-80, 30, -70, 45"), []string{"archive/old/d.jpg"}},
		{"bbox=170,-30,-170,0", []string{"photos/2024/b.heic"}}, // crosses the antimeridian
		{"bbox=-170,-30,170,0", nil},                            // the same numbers the other way round: not Fiji
		{"near=48.85,2.35,5", []string{"photos/2024/a.jpg"}},
		{"near=48.85,2.35,0.001", nil},
		{"near=-17.7,-179.9,100", []string{"photos/2024/b.heic"}}, // across the antimeridian
		{"orientation=6", []string{"photos/2024/b.heic"}},
		{"orientation=3", []string{"archive/old/d.jpg"}},
		{"aspect=portrait", []string{"photos/2024/b.heic"}},
		{"aspect=Square", []string{"archive/old/d.jpg"}},
		{"min_width=6000", []string{"photos/2024/a.jpg", "photos/2024/e.webp"}},
		{"min_height=4032", []string{"photos/2024/a.jpg", "photos/2024/b.heic"}}, // display size after orientation
		{"min_width=0", allKeys},
		{"min_megapixels=20", []string{"photos/2024/a.jpg", "photos/2024/e.webp", "photos/odd/f.jpg"}}, // +Inf is stored as given
		{"min_megapixels=12.2&max_size=2000000", []string{"photos/2024/b.heic", "photos/2024/e.webp", "photos/odd/f.jpg"}},
		{"min_size=5000000", []string{"archive/old/d.jpg", "photos/2024/a.jpg"}},
		{"max_size=300000", []string{"photos/2023/c.png", "photos/odd/f.jpg", "photos/weird//x/../y.jpg"}},
		{"min_size=300000&max_size=300000", []string{"photos/2023/c.png"}},
		{"iso_min=800", []string{"archive/old/d.jpg", "photos/2024/b.heic"}},
		{"iso_max=400", []string{"photos/2024/a.jpg", "photos/2024/e.webp"}},
		{"iso_min=100&iso_max=100", []string{"photos/2024/a.jpg"}},
		{"sort=key", allKeys},
		{"sort=-key&bucket=photos&prefix=2024/", []string{"photos/2024/e.webp", "photos/2024/b.heic", "photos/2024/a.jpg"}},
		{"sort=taken&taken_after=2000-01-01", []string{"archive/old/d.jpg", "photos/2024/a.jpg", "photos/2024/e.webp", "photos/2024/b.heic"}},
		{"sort=-taken&taken_after=2000-01-01", []string{"photos/2024/b.heic", "photos/2024/e.webp", "photos/2024/a.jpg", "archive/old/d.jpg"}},
		{"sort=size&min_size=1000000", []string{"photos/2024/e.webp", "photos/2024/b.heic", "photos/2024/a.jpg", "archive/old/d.jpg"}},
		{"sort=-size&min_size=1000000", []string{"archive/old/d.jpg", "photos/2024/a.jpg", "photos/2024/b.heic", "photos/2024/e.webp"}},
		{"limit=2", allKeys[:2]},
		{"limit=1000", allKeys},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got := keysOf(f.search(t, tc.query).Items)
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSearchBadParameters(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ query, param string }{
		{"bukcet=photos", "bukcet"}, // a typo must not silently widen the search
		{"tags=album=paris", "tags"},
		{"bucket=", "bucket"},
		{"bucket=a&bucket=b", "bucket"},
		{"bucket=%00", "bucket"},
		{"prefix=", "prefix"},
		{"taken_after=yesterday", "taken_after"},
		{"taken_after=2024-13-01", "taken_after"},
		{"taken_after=2024-05-01T10:00:00", "taken_after"}, // no zone: ambiguous
		{"taken_before=2024-02-30", "taken_before"},
		{"taken_after=2024-05-02&taken_before=2024-05-01", "taken_before"},
		{"taken_after=2024-05-01&taken_before=2024-05-01", "taken_before"},
		{"make=", "make"},
		{"model=a&model=b", "model"},
		{"lens=", "lens"},
		{"format=", "format"},
		{"content_type=", "content_type"},
		{"tag=album", "tag"},
		{"tag==paris", "tag"},
		{"tag=", "tag"},
		{"tag=album=paris&tag=album=nyc", "tag"},
		{"has_gps=yes", "has_gps"},
		{"has_gps=1", "has_gps"},
		{"bbox=1,2,3", "bbox"},
		{"bbox=1,2,3,4,5", "bbox"},
		{"bbox=a,2,3,4", "bbox"},
		{"bbox=NaN,2,3,4", "bbox"},
		{"bbox=0,0,Inf,1", "bbox"},
		{"bbox=0,-91,1,1", "bbox"},
		{"bbox=0,10,1,5", "bbox"},    // min latitude above max
		{"bbox=-181,0,1,1", "bbox"},  // longitude out of range
		{"near=48,2", "near"},        // no radius
		{"near=48,2,0", "near"},      // zero radius
		{"near=48,2,-1", "near"},     // negative radius
		{"near=91,2,1", "near"},      // latitude out of range
		{"near=48,2,100000", "near"}, // beyond half the globe
		{"orientation=0", "orientation"},
		{"orientation=9", "orientation"},
		{"orientation=up", "orientation"},
		{"aspect=", "aspect"},
		{"min_width=-1", "min_width"},
		{"min_width=1.5", "min_width"},
		{"min_height=x", "min_height"},
		{"min_megapixels=-1", "min_megapixels"},
		{"min_megapixels=NaN", "min_megapixels"},
		{"min_megapixels=1,2", "min_megapixels"},
		{"min_size=-5", "min_size"},
		{"min_size=1k", "min_size"},
		{"max_size=0", "max_size"}, // 0 would read as "no limit" to the index
		{"max_size=99999999999999999999", "max_size"},
		{"min_size=10&max_size=5", "max_size"},
		{"iso_min=-1", "iso_min"},
		{"iso_max=0", "iso_max"},
		{"iso_min=800&iso_max=100", "iso_max"},
		{"sort=name", "sort"},
		{"sort=-", "sort"},
		{"sort=", "sort"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"cursor=!!!", "cursor"},
		{"cursor=", "cursor"},
		{"cursor=AQ", "cursor"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := f.get(t, "/api/v1/search?"+tc.query)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkJSONHeaders(t, r)
			e := decode[api.ErrorResponse](t, r)
			if e.Error.Code != api.CodeInvalidParameter || e.Error.Param != tc.param || e.Error.Message == "" {
				t.Fatalf("got %+v, want param %q", e.Error, tc.param)
			}
		})
	}
	// A query string that does not parse at all.
	r := f.get(t, "/api/v1/search?make=%zz")
	if r.status != http.StatusBadRequest || decode[api.ErrorResponse](t, r).Error.Code != api.CodeInvalidParameter {
		t.Fatalf("malformed query: %d %s", r.status, r.body)
	}
}

// Every parameter the API accepts is exercised by TestSearchFilters.
func TestSearchParamsListed(t *testing.T) {
	want := []string{"aspect", "bbox", "bucket", "content_type", "cursor", "format", "has_gps", "iso_max", "iso_min",
		"lens", "limit", "make", "max_size", "min_height", "min_megapixels", "min_size", "min_width", "model", "near",
		"orientation", "prefix", "sort", "tag", "taken_after", "taken_before"}
	if got := api.SearchParams(); !slices.Equal(got, want) {
		t.Fatalf("SearchParams() = %q", got)
	}
}

func TestItemShape(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/api/v1/search?bucket=photos&prefix=2024/a")
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
		Next  *string                      `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Items) != 1 {
		t.Fatalf("%v: %s", err, r.body)
	}
	if raw.Next != nil {
		t.Errorf("next_cursor on the last page: %q", *raw.Next)
	}
	wantFields := []string{"bucket", "key", "size", "etag", "content_type", "last_modified", "taken_at", "taken_offset",
		"make", "model", "lens", "iso", "f_number", "exposure_time", "focal_length", "focal_length_35mm", "format", "mime",
		"width", "height", "display_width", "display_height", "orientation", "megapixels", "aspect", "gps", "tags",
		"user_metadata", "owner", "extraction"}
	got := sortedKeys(raw.Items[0])
	slices.Sort(wantFields)
	if !slices.Equal(got, wantFields) {
		t.Fatalf("fields\n got %q\nwant %q", got, wantFields)
	}
	exact := map[string]string{
		"bucket":        `"photos"`,
		"key":           `"2024/a.jpg"`,
		"size":          `5000000`,
		"etag":          `"\"aaa\""`,
		"last_modified": `"2024-05-01T12:00:00Z"`,
		"taken_at":      `"2024-05-01T10:00:00Z"`,
		"taken_offset":  `"+02:00"`,
		"gps":           `{"lat":48.8566,"lon":2.3522,"alt":35}`,
		"tags":          `{"album":"paris"}`,
		"user_metadata": `{"owner":"ann"}`,
		"extraction":    `{"status":"ok"}`,
		"f_number":      `2.8`,
		"megapixels":    `44.8`,
	}
	for k, v := range exact {
		if string(raw.Items[0][k]) != v {
			t.Errorf("%s = %s, want %s", k, raw.Items[0][k], v)
		}
	}

	// Unknown metadata is left out, not sent as zero.
	r = f.get(t, "/api/v1/search?bucket=photos&prefix=2023/")
	raw.Items = nil
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Items) != 1 {
		t.Fatalf("%v: %s", err, r.body)
	}
	for _, k := range []string{"gps", "taken_at", "taken_offset", "make", "iso", "f_number", "tags", "user_metadata", "orientation", "etag", "last_modified"} {
		if v, ok := raw.Items[0][k]; ok {
			t.Errorf("%s present for a photo without it: %s", k, v)
		}
	}
	if got := string(raw.Items[0]["extraction"]); got != `{"status":"partial","reason":"no EXIF"}` {
		t.Errorf("extraction = %s", got)
	}

	// NaN and Inf in stored metadata do not break the page.
	r = f.get(t, "/api/v1/search?prefix=odd/")
	if r.status != http.StatusOK {
		t.Fatalf("odd record: %d %s", r.status, r.body)
	}
	raw.Items = nil
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Items) != 1 {
		t.Fatalf("%v: %s", err, r.body)
	}
	for _, k := range []string{"gps", "f_number", "megapixels", "focal_length"} {
		if v, ok := raw.Items[0][k]; ok {
			t.Errorf("%s present for a non-finite value: %s", k, v)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ filter string }{
		{"sort=key"}, {"sort=-key"}, {"sort=taken&taken_after=2000-01-01"}, {"sort=-taken&taken_after=2000-01-01"},
		{"sort=size"}, {"sort=-size"}, {"bucket=photos"}, {"has_gps=false&sort=-size"},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			want := keysOf(f.search(t, tc.filter+"&limit=1000").Items)
			for _, limit := range []string{"1", "2", "3"} {
				var got []string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatalf("limit %s: pagination does not end", limit)
					}
					q := tc.filter + "&limit=" + limit
					if cursor != "" {
						q += "&cursor=" + url.QueryEscape(cursor)
					}
					page := f.search(t, q)
					got = append(got, keysOf(page.Items)...)
					if page.NextCursor == "" {
						break
					}
					cursor = page.NextCursor
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %s:\n got %q\nwant %q", limit, got, want)
				}
			}
		})
	}

	// A cursor is tied to its query: replayed with other filters, it is
	// refused instead of returning a wrong page.
	page := f.search(t, "bucket=photos&limit=1")
	r := f.get(t, "/api/v1/search?bucket=archive&limit=1&cursor="+url.QueryEscape(page.NextCursor))
	if e := decode[api.ErrorResponse](t, r); r.status != http.StatusBadRequest || e.Error.Param != "cursor" {
		t.Fatalf("foreign cursor: %d %s", r.status, r.body)
	}
	// The page size may change between pages.
	next := f.search(t, "bucket=photos&limit=2&cursor="+url.QueryEscape(page.NextCursor))
	if got := keysOf(next.Items); !slices.Equal(got, []string{"photos/2024/a.jpg", "photos/2024/b.heic"}) {
		t.Fatalf("second page with another limit: %q", got)
	}
}

func TestObject(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/api/v1/objects/photos/2024/a.jpg")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	checkJSONHeaders(t, r)
	it := decode[api.Item](t, r)
	if it.Bucket != "photos" || it.Key != "2024/a.jpg" || it.Make != "Canon" || it.Owner != "ann" || it.GPS == nil || it.GPS.Alt == nil ||
		*it.GPS.Alt != 35 || !it.TakenAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("item %+v", it)
	}
	// The same shape as a search item.
	if s := f.search(t, "bucket=photos&prefix=2024/a.jpg"); len(s.Items) != 1 || !itemsEqual(s.Items[0], it) {
		t.Fatalf("object and search disagree:\n%+v\n%+v", s.Items, it)
	}

	// A key with empty and dot segments, escaped so no mux cleans it.
	r = f.get(t, "/api/v1/objects/photos/"+url.PathEscape("weird//x/../y.jpg"))
	if r.status != http.StatusOK || decode[api.Item](t, r).Key != "weird//x/../y.jpg" {
		t.Fatalf("escaped key: %d %s", r.status, r.body)
	}

	for _, path := range []string{
		"/api/v1/objects/photos/2024/missing.jpg",
		"/api/v1/objects/nobucket/2024/a.jpg",
		"/api/v1/objects/photos/2024", // a prefix is not an object
	} {
		r := f.get(t, path)
		if r.status != http.StatusNotFound {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		checkJSONHeaders(t, r)
		if e := decode[api.ErrorResponse](t, r); e.Error.Code != api.CodeNotFound {
			t.Fatalf("%s: %s", path, r.body)
		}
	}
	for _, path := range []string{"/api/v1/objects/photos/", "/api/v1/objects/photos"} {
		r = f.get(t, path)
		if e := decode[api.ErrorResponse](t, r); r.status != http.StatusBadRequest || e.Error.Param != "key" {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	r = f.get(t, "/api/v1/objects/photos/2024/a.jpg?versionId=1")
	if e := decode[api.ErrorResponse](t, r); r.status != http.StatusBadRequest || e.Error.Param != "versionId" {
		t.Fatalf("unknown parameter: %d %s", r.status, r.body)
	}
}

func itemsEqual(a, b api.Item) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestFacets(t *testing.T) {
	f := newFixture(t)
	facets := func(q string) api.FacetsResponse {
		t.Helper()
		r := f.get(t, "/api/v1/facets?"+q)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		checkJSONHeaders(t, r)
		return decode[api.FacetsResponse](t, r)
	}
	got := facets("field=make")
	want := api.FacetsResponse{Field: "make", Values: []api.FacetValue{
		{Value: "Canon", Count: 2}, {Value: "Apple", Count: 1}, {Value: "NIKON CORPORATION", Count: 1},
	}}
	if !facetsEqual(got, want) {
		t.Fatalf("make: %+v", got)
	}
	got = facets("field=year&bucket=photos")
	if !facetsEqual(got, api.FacetsResponse{Field: "year", Values: []api.FacetValue{{Value: "2024", Count: 3}}}) {
		t.Fatalf("year: %+v", got)
	}
	got = facets("field=format&bucket=archive")
	if !facetsEqual(got, api.FacetsResponse{Field: "format", Values: []api.FacetValue{{Value: "jpeg", Count: 1}}}) {
		t.Fatalf("format: %+v", got)
	}
	// No values is an empty list, not null.
	if r := f.get(t, "/api/v1/facets?field=lens&bucket=empty"); !strings.Contains(string(r.body), `"values":[]`) {
		t.Fatalf("empty facets: %s", r.body)
	}
	for q, param := range map[string]string{
		"":                         "field",
		"field=camera":             "field",
		"field=":                   "field",
		"field=make&field=model":   "field",
		"field=make&bucket=":       "bucket",
		"field=make&buckets=a":     "buckets",
		"field=make&prefix=2024/":  "prefix",
		"bucket=photos&sort=count": "sort",
	} {
		r := f.get(t, "/api/v1/facets?"+q)
		if e := decode[api.ErrorResponse](t, r); r.status != http.StatusBadRequest || e.Error.Param != param {
			t.Errorf("%q: %d %s, want param %s", q, r.status, r.body, param)
		}
	}
}

func facetsEqual(a, b api.FacetsResponse) bool {
	return a.Field == b.Field && slices.Equal(a.Values, b.Values)
}

func TestStats(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	if _, err := store.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "photos", Keys: []string{"2024/z.jpg"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Enqueue(ctx, metastore.Job{Kind: "extract", Bucket: "photos", Key: "2024/a.jpg"}); err != nil {
		t.Fatal(err)
	}
	f := newServer(t, store, api.Config{Token: token})
	r := f.get(t, "/api/v1/stats")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	checkJSONHeaders(t, r)
	got := decode[api.StatsResponse](t, r)
	var total int64
	for _, rec := range records() {
		total += rec.Size
	}
	if got.Objects != 7 || got.Bytes != total || got.PendingIntents != 1 || got.SchemaVersion != metastore.SchemaVersion {
		t.Errorf("totals %+v", got)
	}
	wantBuckets := []api.BucketStats{
		{Bucket: "archive", Objects: 1, Bytes: 8_000_000},
		{Bucket: "photos", Objects: 6, Bytes: total - 8_000_000},
	}
	if !slices.Equal(got.Buckets, wantBuckets) {
		t.Errorf("buckets %+v", got.Buckets)
	}
	wantStatus := map[string]int64{"ok": 4, "partial": 1, "failed": 1, "none": 1}
	if len(got.Extraction) != len(wantStatus) {
		t.Errorf("extraction %v", got.Extraction)
	}
	for k, v := range wantStatus {
		if got.Extraction[k] != v {
			t.Errorf("extraction %v, want %v", got.Extraction, wantStatus)
		}
	}
	if got.Jobs["extract"] != (api.JobStats{Queued: 1}) {
		t.Errorf("jobs %+v", got.Jobs)
	}
	if r := f.get(t, "/api/v1/stats?bucket=photos"); r.status != http.StatusBadRequest {
		t.Errorf("stats with a parameter: %d", r.status)
	}

	// An empty index has empty lists and maps, not nulls.
	empty, err := metastore.Open(filepath.Join(t.TempDir(), "empty.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	r = newServer(t, empty, api.Config{Token: token}).get(t, "/api/v1/stats")
	for _, want := range []string{`"buckets":[]`, `"extraction":{}`, `"jobs":{}`, `"objects":0`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("empty stats lack %s: %s", want, r.body)
		}
	}
	if r := newServer(t, empty, api.Config{Token: token}).get(t, "/api/v1/search"); !strings.Contains(string(r.body), `"items":[]`) {
		t.Errorf("empty search: %s", r.body)
	}
}

// failing is an index that cannot answer.
type failing struct{ block bool }

var errDisk = errors.New("read /var/lib/photogate/index.db: input/output error")

func (f failing) wait(ctx context.Context) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return errDisk
}

func (f failing) Search(ctx context.Context, _ metastore.Query) (metastore.Page, error) {
	return metastore.Page{}, f.wait(ctx)
}

func (f failing) Facets(ctx context.Context, _, _ string) ([]metastore.Facet, error) {
	return nil, f.wait(ctx)
}

func (f failing) Stats(ctx context.Context) (metastore.Stats, error) {
	return metastore.Stats{}, f.wait(ctx)
}

func (f failing) Get(ctx context.Context, _, _ string) (metastore.Record, bool, error) {
	return metastore.Record{}, false, f.wait(ctx)
}

func TestInternalErrorsStayInTheLog(t *testing.T) {
	f := newServer(t, failing{}, api.Config{Token: token})
	for _, path := range []string{"/api/v1/search", "/api/v1/facets?field=make", "/api/v1/stats", "/api/v1/objects/b/k"} {
		r := f.get(t, path)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		checkJSONHeaders(t, r)
		e := decode[api.ErrorResponse](t, r)
		if e.Error.Code != api.CodeInternal || e.Error.RequestID == "" || strings.Contains(string(r.body), "index.db") {
			t.Fatalf("%s: %s", path, r.body)
		}
		if logs := f.log.String(); !strings.Contains(logs, e.Error.RequestID) || !strings.Contains(logs, "input/output error") {
			t.Fatalf("log lacks the details:\n%s", logs)
		}
	}
}

func TestTimeout(t *testing.T) {
	f := newServer(t, failing{block: true}, api.Config{Token: token, Timeout: 50 * time.Millisecond})
	r := f.get(t, "/api/v1/search?make=canon")
	if e := decode[api.ErrorResponse](t, r); r.status != http.StatusServiceUnavailable || e.Error.Code != api.CodeTimeout {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// With no token but signed requests admitted, the token path must stay
// shut: an empty bearer credential would otherwise match the empty token.
func TestSignedOnlyAPIRefusesBearer(t *testing.T) {
	admitted := 0
	f := newServer(t, openStore(t), api.Config{Signed: func(r *http.Request) error {
		if r.Header.Get("X-Test-Signer") != "admin" {
			return errors.New("not an admin")
		}
		admitted++
		return nil
	}})
	for _, auth := range []string{"Bearer ", "Bearer", "Bearer x", ""} {
		if got := f.do(t, http.MethodGet, "/api/v1/stats", auth); got.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, got.status)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	req.Header.Set("X-Test-Signer", "admin")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || admitted != 1 {
		t.Fatalf("signed admin: %d (admitted %d)", resp.StatusCode, admitted)
	}
}

func TestStatsCountsUsers(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/api/v1/stats")
	st := decode[api.StatsResponse](t, r)
	if r.status != http.StatusOK || st.SchemaVersion != metastore.SchemaVersion {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Only a.jpg has an owner in the fixture.
	if want := []api.UserStats{{User: "ann", Objects: 1, Bytes: 5_000_000}}; !slices.Equal(st.Users, want) {
		t.Fatalf("users = %+v, want %+v", st.Users, want)
	}
}

func TestBackupRoute(t *testing.T) {
	st := openStore(t)
	f := newServer(t, st, api.Config{Token: token, Backup: st.Backup})
	if r := f.do(t, http.MethodGet, "/api/v1/backup", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("backup without the token: %d", r.status)
	}
	if r := f.do(t, http.MethodPost, "/api/v1/backup", "Bearer "+token); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST backup: %d", r.status)
	}
	r := f.get(t, "/api/v1/backup")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="photogate-index-`) ||
		r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("backup: %d %v", r.status, r.header)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := metastore.Open(path, metastore.Options{NoSync: true})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer restored.Close()
	if err := restored.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := restored.Stats(context.Background()); got.Objects != int64(len(records())) {
		t.Fatalf("backup holds %d objects, want %d", got.Objects, len(records()))
	}
	// Without a Backup function the route does not exist.
	if r := newFixture(t).get(t, "/api/v1/backup"); r.status != http.StatusNotFound {
		t.Fatalf("backup route without Backup: %d", r.status)
	}
	// A backup that fails before writing anything is an API error.
	failing := newServer(t, st, api.Config{Token: token, Backup: func(context.Context, io.Writer) (int64, error) {
		return 0, errors.New("disk on fire")
	}})
	if r := failing.get(t, "/api/v1/backup"); r.status != http.StatusInternalServerError || strings.Contains(string(r.body), "disk on fire") {
		t.Fatalf("failing backup: %d %s", r.status, r.body)
	}
}
