// Package gallery_test drives the web gallery in a real headless Chromium
// (Debian's chromium, through chromedp) against photogate in front of a
// real MinIO: sign-in, the grid, a camera filter, the photo view's EXIF,
// tag edits (checked at MinIO), drag-and-drop upload (checked at MinIO),
// the map, and a user with read on one bucket who never sees another's
// photos, even by editing the URL. The session, CSRF and header rules are
// checked with plain HTTP beside it. A failing browser step saves a
// screenshot under test/gallery/artifacts.
package gallery_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/photogate/photogate/test/harness"
)

// The library the test uploads: bucket, key, photo in testdata/photos.
var library = []struct{ bucket, key, file string }{
	{"photos", "2015/canon.jpg", "jpeg/canon_sx60hs_orient6.jpg"},
	{"photos", "2014/iphone.jpg", "jpeg/iphone4s_lensinfo_gps_orient6.jpg"},
	{"photos", "2017/pentax.jpg", "jpeg/pentax_k3ii_sunrise.jpg"},
	{"photos", "2017/pentax.webp", "webp/pentax_k3ii_sunrise_exif.webp"},
	{"holidays", "beach/landscape.jpg", "orientation/landscape_1.jpg"},
}

type env struct {
	g       *harness.Gateway
	m       *harness.MinIO
	viewer  struct{ key, secret string }
	limited struct{ key, secret string } // reads holidays at 0.2 requests a second
	single  struct{ key, secret string } // reads and lists every bucket, one request at a time
	chrome  string
}

func start(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: needs MinIO, the photogate binary and chromium")
	}
	e := &env{chrome: harness.Require(t, "chromium")}
	e.m = harness.StartMinIO(t)
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.viewer.key, e.viewer.secret = "PGVIEW"+strings.ToUpper(harness.RandomString(12)), harness.RandomString(40)
	e.single.key, e.single.secret = "PGONE"+strings.ToUpper(harness.RandomString(12)), harness.RandomString(40)
	e.limited.key, e.limited.secret = "PGSLOW"+strings.ToUpper(harness.RandomString(12)), harness.RandomString(40)
	config := fmt.Sprintf("users:\n  - name: viewer\n    access_key: %s\n    secret_key: %s\n    grants:\n      - buckets: holidays\n        actions: [read, list]\n"+
		"  - name: limited\n    access_key: %s\n    secret_key: %s\n    grants:\n      - buckets: holidays\n        actions: [read]\n    limits: {requests_per_second: 0.2, burst: 3}\n"+
		"  - name: single\n    access_key: %s\n    secret_key: %s\n    grants:\n      - buckets: \"*\"\n        actions: [read, list]\n    limits: {max_in_flight: 1}\n"+
		"policy:\n  buckets:\n    - bucket: photos\n      allowed_types: [\"image/*\"]\n", e.viewer.key, e.viewer.secret, e.limited.key, e.limited.secret, e.single.key, e.single.secret)
	path := filepath.Join(t.TempDir(), "photogate.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	e.g = harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: e.m, Env: []string{"PHOTOGATE_CONFIG=" + path}})
	ctx := context.Background()
	c := e.g.Client()
	for _, b := range []string{"photos", "holidays"} {
		if err := c.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range library {
		data := photo(t, p.file)
		if _, err := c.PutObject(ctx, p.bucket, p.key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s/%s: %v", p.bucket, p.key, err)
		}
	}
	return e
}

func photo(t *testing.T, name string) []byte {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "testdata", "photos", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// browser is one isolated browser profile (its own cookies).
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []string // the page's console messages and uncaught errors
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(e.chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			line = fmt.Sprintf("uncaught: %s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if ex := d.Exception; ex != nil {
				line += " " + ex.Description + string(ex.Value)
			}
		case *runtime.EventConsoleAPICalled:
			line = string(ev.Type) + ":"
			for _, a := range ev.Args {
				line += " " + string(a.Value) + a.Description
			}
		default:
			return
		}
		b.mu.Lock()
		b.console = append(b.console, line)
		b.mu.Unlock()
	}))
	b.ctx = ctx
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser on a context without a deadline (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// do runs steps with a deadline; on failure it saves a screenshot and the
// page's text, and fails the test.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	shot := ""
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		dir := filepath.Join("artifacts")
		_ = os.MkdirAll(dir, 0o755)
		name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()+"-"+what)+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			abs, _ := filepath.Abs(name)
			shot = "screenshot: " + abs
		}
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	b.t.Fatalf("%s: %v\n%s\nconsole:\n%s\npage text:\n%s", what, err, shot, console, text)
}

// eval runs JavaScript and decodes its value.
func eval[T any](b *browser, what, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds.
func (b *browser) waitFor(what, predicate string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(25*time.Second))); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) signIn(galleryURL, accessKey, secretKey string) {
	b.t.Helper()
	b.do("open the gallery", chromedp.Navigate(galleryURL))
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("access-key"), accessKey),
		chromedp.SendKeys(chromedp.ID("secret-key"), secretKey),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
}

// gridKeys are the keys of the photos the grid shows.
func gridKeys(b *browser) []string {
	return eval[[]string](b, "grid keys", `[...document.querySelectorAll("#grid .tile button")].map(b => b.dataset.key).sort()`)
}

func TestGalleryInABrowser(t *testing.T) {
	e := start(t)
	galleryURL := e.g.AdminEndpoint() + "/gallery/"
	b := e.browser(t)

	began := time.Now()
	b.signIn(galleryURL+"?bucket=photos", e.g.AccessKey(), e.g.SecretKey())
	b.waitFor("the grid shows the photos bucket", `document.querySelectorAll("#grid .tile").length === 4`)
	t.Logf("sign-in to a shown grid: %v", time.Since(began))
	if got, want := gridKeys(b), []string{"2014/iphone.jpg", "2015/canon.jpg", "2017/pentax.jpg", "2017/pentax.webp"}; !slices.Equal(got, want) {
		t.Fatalf("grid shows %q, want %q", got, want)
	}
	if alts := eval[[]string](b, "alt texts", `[...document.querySelectorAll("#grid img.thumb")].map(i => i.alt)`); len(alts) != 4 || slices.Contains(alts, "") {
		t.Errorf("thumbnails without alt text: %q", alts)
	}
	buckets := eval[[]string](b, "bucket choices", `[...document.querySelectorAll("#f-bucket option")].map(o => o.value)`)
	if !slices.Equal(buckets, []string{"holidays", "photos"}) {
		t.Errorf("bucket choices %q, want holidays and photos", buckets)
	}
	// The admin token never reaches the browser: not in the page, its
	// scripts, nor any answer the page read.
	if eval[bool](b, "token", fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, e.g.AdminToken())) {
		t.Error("the admin token is in the page")
	}

	t.Run("camera filter", func(t *testing.T) {
		b.t = t
		b.waitFor("the camera list", `[...document.querySelectorAll("#f-make option")].some(o => o.value.toLowerCase() === "canon")`)
		b.do("choose Canon", chromedp.SetValue(chromedp.ID("f-make"), "Canon"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("f-make").dispatchEvent(new Event("change"))`))
		b.waitFor("the grid narrows to the Canon", `document.querySelectorAll("#grid .tile").length === 1`)
		if got := gridKeys(b); !slices.Equal(got, []string{"2015/canon.jpg"}) {
			t.Fatalf("Canon filter shows %q", got)
		}
		if loc := eval[string](b, "URL", `location.search`); !strings.Contains(loc, "make=Canon") {
			t.Errorf("the URL does not keep the filter: %q", loc)
		}
	})

	t.Run("timeline", func(t *testing.T) {
		b.t = t
		b.do("all photos", chromedp.Navigate(galleryURL+"?bucket=photos"))
		b.waitFor("years", `[...document.querySelectorAll("#timeline button.year")].some(y => y.textContent.startsWith("2017"))`)
		b.do("pick 2017", chromedp.Click(chromedp.CSS(`#timeline button.year:first-of-type`)))
		b.waitFor("the grid narrows to 2017", `document.querySelectorAll("#grid .tile").length === 2`)
		if got := gridKeys(b); !slices.Equal(got, []string{"2017/pentax.jpg", "2017/pentax.webp"}) {
			t.Fatalf("2017 shows %q", got)
		}
		b.waitFor("month counts", `document.querySelector('#timeline .months button[aria-label="Oct 2017"]').textContent === "Oct 2"`)
		if march := eval[string](b, "March", `document.querySelector('#timeline .months button[aria-label="Mar 2017"]').textContent`); march != "Mar 0" {
			t.Errorf("March 2017 shows %q, want Mar 0", march)
		}
		b.do("pick October", chromedp.Click(chromedp.CSS(`#timeline .months button[aria-label="Oct 2017"]`)))
		b.waitFor("October", `location.search.includes("taken_after=2017-10-01") && location.search.includes("taken_before=2017-10-31")`)
		b.waitFor("the grid keeps October's photos", `document.querySelectorAll("#grid .tile").length === 2`)
		b.do("pick March", chromedp.Click(chromedp.CSS(`#timeline .months button[aria-label="Mar 2017"]`)))
		b.waitFor("March is empty", `document.getElementById("status").textContent === "No photos match."`)
	})

	t.Run("photo view", func(t *testing.T) {
		b.t = t
		b.do("back to the Canon", chromedp.Navigate(galleryURL+"?bucket=photos&make=Canon"))
		b.do("open the Canon photo", chromedp.Click(chromedp.CSS(`#grid .tile button[data-key="2015/canon.jpg"]`)))
		b.waitFor("the EXIF panel", `!!document.querySelector('#v-exif dd[data-field="camera"]')`)
		exif := eval[map[string]string](b, "EXIF", `Object.fromEntries([...document.querySelectorAll("#v-exif dd")].map(d => [d.dataset.field, d.textContent]))`)
		for field, want := range map[string]string{
			"camera": "Canon PowerShot SX60 HS", "dimensions": "1536 × 2048", "taken": "2015-02-09 22:47:44", "format": "JPEG",
		} {
			if !strings.Contains(exif[field], want) {
				t.Errorf("EXIF %s = %q, want it to contain %q (panel %v)", field, exif[field], want, exif)
			}
		}
		if dl := eval[string](b, "download link", `document.getElementById("v-download").href`); !strings.HasPrefix(dl, e.g.Endpoint()+"/photos/2015/canon.jpg?") || !strings.Contains(dl, "X-Amz-Signature=") {
			t.Errorf("download link %q is not a presigned URL of the S3 listener", dl)
		} else if resp, err := http.Get(dl); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("the presigned download: %v %v", resp, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(body, photo(t, "jpeg/canon_sx60hs_orient6.jpg")) {
				t.Error("the download is not the original")
			}
		}

		// Tags go through PutObjectTagging; MinIO must hold them.
		b.do("add a tag",
			chromedp.Click(chromedp.ID("v-tag-add")),
			chromedp.SendKeys(chromedp.CSS(`#v-tag-rows .tag-row:last-child input:nth-child(1)`), "trip"),
			chromedp.SendKeys(chromedp.CSS(`#v-tag-rows .tag-row:last-child input:nth-child(2)`), "iceland"),
			chromedp.Click(chromedp.CSS(`#v-tags button[type=submit]`)),
		)
		b.waitFor("saved", `document.getElementById("v-tag-status").textContent === "Saved."`)
		got, err := e.m.Client().GetObjectTagging(context.Background(), "photos", "2015/canon.jpg", minio.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m := got.ToMap(); m["trip"] != "iceland" || len(m) != 1 {
			t.Fatalf("MinIO holds tags %v, want trip=iceland", m)
		}

		// Keyboard: → is the next photo of the (filtered) grid: there is
		// none; Esc closes.
		b.do("Esc closes", chromedp.KeyEvent(kb.Escape))
		b.waitFor("closed", `!document.getElementById("viewer").open`)
	})

	t.Run("keyboard navigation", func(t *testing.T) {
		b.t = t
		b.do("all photos", chromedp.Navigate(galleryURL+"?bucket=photos"))
		b.waitFor("grid", `document.querySelectorAll("#grid .tile").length === 4`)
		first := eval[string](b, "first", `document.querySelector("#grid .tile button").dataset.key`)
		second := eval[string](b, "second", `document.querySelectorAll("#grid .tile button")[1].dataset.key`)
		b.do("open the first", chromedp.Click(chromedp.CSS(`#grid .tile button`)))
		b.waitFor("caption", fmt.Sprintf(`document.getElementById("v-caption").textContent === %q`, first))
		b.do("→", chromedp.KeyEvent(kb.ArrowRight))
		b.waitFor("the next photo", fmt.Sprintf(`document.getElementById("v-caption").textContent === %q`, second))
		if loc := eval[string](b, "URL", `location.search`); !strings.Contains(loc, "photo=") {
			t.Errorf("the URL does not name the open photo: %q", loc)
		}
		b.do("←", chromedp.KeyEvent(kb.ArrowLeft))
		b.waitFor("back", fmt.Sprintf(`document.getElementById("v-caption").textContent === %q`, first))
		b.do("Esc", chromedp.KeyEvent(kb.Escape))
		b.waitFor("closed", `!document.getElementById("viewer").open`)
	})

	t.Run("drag and drop upload", func(t *testing.T) {
		b.t = t
		data := photo(t, "orientation/tiny_f1-exif.jpg")
		drop := fmt.Sprintf(`(() => {
			const bytes = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
			const dt = new DataTransfer();
			dt.items.add(new File([bytes], "dropped.jpg", {type: "image/jpeg"}));
			window.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true}));
			window.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`, base64.StdEncoding.EncodeToString(data))
		b.do("drop a photo", chromedp.Evaluate[chromedp.Void](drop))
		b.waitFor("uploaded", `[...document.querySelectorAll("#uploads li")].some(li => li.className === "done")`)
		b.waitFor("it appears in the grid", `!!document.querySelector('#grid .tile button[data-key="dropped.jpg"]')`)
		stored, err := e.m.Client().GetObject(context.Background(), "photos", "dropped.jpg", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(stored)
		stored.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("MinIO holds %d bytes (%v), want the %d dropped", len(got), err, len(data))
		}
		// A refusal shows the S3 error's message: not a photo.
		refuse := `(() => {
			const dt = new DataTransfer();
			dt.items.add(new File(["#!/bin/sh\necho not a photo\n"], "script.jpg", {type: "image/jpeg"}));
			window.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`
		b.do("drop a non-photo", chromedp.Evaluate[chromedp.Void](refuse))
		b.waitFor("refused", `[...document.querySelectorAll("#uploads li.failed .msg")].some(m => m.textContent.startsWith("refused: "))`)
		msg := eval[string](b, "refusal", `document.querySelector("#uploads li.failed .msg").textContent`)
		t.Logf("refusal shown: %s", msg)
		if _, err := e.m.Client().StatObject(context.Background(), "photos", "script.jpg", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("the refused upload is at MinIO: %v", err)
		}
	})

	t.Run("map", func(t *testing.T) {
		b.t = t
		b.do("map view", chromedp.Navigate(galleryURL+"?bucket=photos&view=map"))
		// The photos with a place, as the index has them.
		withGPS := eval[int](b, "photos with GPS", `fetch("/gallery/api/search?bucket=photos&has_gps=true").then(r => r.json()).then(d => d.items.length)`)
		if withGPS < 2 {
			t.Fatalf("the index has %d photos with GPS in photos, want at least the iPhone's and the Pentax's", withGPS)
		}
		b.waitFor("markers", fmt.Sprintf(`document.getElementById("status").textContent.startsWith("%d photos with a place")`, withGPS))
		b.waitFor("drawn", `document.querySelectorAll("#map .leaflet-interactive, #map .marker-cluster").length > 0`)
		b.do("search this area", chromedp.Click(chromedp.ID("map-search")))
		b.waitFor("a bbox search", `location.search.includes("bbox=") && !document.getElementById("grid").hidden`)
		b.waitFor("the grid shows the photos with a place", fmt.Sprintf(`document.querySelectorAll("#grid .tile").length === %d`, withGPS))
	})

	t.Run("a page of a hundred and infinite scroll", func(t *testing.T) {
		b.t = t
		ctx := context.Background()
		if err := e.g.Client().MakeBucket(ctx, "many", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		tiny := photo(t, "orientation/tiny_f1-exif.jpg")
		const n = 130
		for i := range n {
			if _, err := e.g.Client().PutObject(ctx, "many", fmt.Sprintf("p%03d.jpg", i), bytes.NewReader(tiny), int64(len(tiny)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		began := time.Now()
		b.do("open the bucket", chromedp.Navigate(galleryURL+"?bucket=many"))
		b.waitFor("the first page", `document.querySelectorAll("#grid .tile").length === 100`)
		t.Logf("navigation to a grid of 100 tiles: %v", time.Since(began))
		b.do("scroll", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
		b.waitFor("the second page", fmt.Sprintf(`document.querySelectorAll("#grid .tile").length === %d`, n))
	})

	t.Run("a reader of one bucket", func(t *testing.T) {
		v := e.browser(t)
		v.signIn(galleryURL, e.viewer.key, e.viewer.secret)
		v.waitFor("the holidays photo", `document.querySelectorAll("#grid .tile").length === 1`)
		if got := gridKeys(v); !slices.Equal(got, []string{"beach/landscape.jpg"}) {
			t.Fatalf("the viewer sees %q", got)
		}
		if got := eval[[]string](v, "buckets", `[...document.querySelectorAll("#f-bucket option")].map(o => o.value)`); !slices.Equal(got, []string{"holidays"}) {
			t.Fatalf("the viewer is offered buckets %q", got)
		}
		// Editing the URL to another bucket shows nothing of it.
		v.do("edit the URL", chromedp.Navigate(galleryURL+"?bucket=photos&photo=2015/canon.jpg"))
		v.waitFor("refused", `document.getElementById("status").textContent.includes("no read grant on bucket photos")`)
		if n := eval[int](v, "tiles", `document.querySelectorAll("#grid .tile").length`); n != 0 {
			keys := gridKeys(v)
			if slices.ContainsFunc(keys, func(k string) bool { return !strings.HasPrefix(k, "beach/") }) {
				t.Fatalf("the viewer sees photos of another bucket: %q", keys)
			}
		}
		for _, path := range []string{
			"search?bucket=photos", "facets?field=make&bucket=photos", "photo?bucket=photos&key=2015%2Fcanon.jpg",
			"search?bucket=photos&bucket=holidays", "search",
		} {
			status := eval[int](v, path, fmt.Sprintf(`fetch("/gallery/api/%s").then(r => r.status)`, path))
			if status != http.StatusForbidden && status != http.StatusBadRequest {
				t.Errorf("GET /gallery/api/%s as the viewer: %d, want 403", path, status)
			}
		}
		if text := eval[string](v, "page", `document.body.innerText`); strings.Contains(text, "PowerShot") || strings.Contains(text, "iphone") || strings.Contains(text, "pentax") {
			t.Errorf("the viewer's page mentions another bucket's photos:\n%s", text)
		}
	})
}

// TestGallerySessions checks sign-in, the cookie, CSRF and the headers
// with plain HTTP.
func TestGallerySessions(t *testing.T) {
	e := start(t)
	base := e.g.AdminEndpoint() + "/gallery/"
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	resp := get(t, c, base)
	csp := resp.Header.Get("Content-Security-Policy")
	if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", resp.Header)
	}

	if resp := get(t, c, base+"api/search?bucket=photos"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("search without a session: %d", resp.StatusCode)
	}
	if resp := post(t, c, base+"api/session", "", map[string]string{"access_key": e.g.AccessKey(), "secret_key": "wrong"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong secret: %d", resp.StatusCode)
	}
	resp = post(t, c, base+"api/session", "", map[string]string{"access_key": e.g.AccessKey(), "secret_key": e.g.SecretKey()})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var sess struct{ CSRF string }
	if err := json.NewDecoder(resp.Body).Decode(&sess); err != nil || sess.CSRF == "" {
		t.Fatalf("session answer: %v", err)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Expires="} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, e.g.SecretKey()) {
		t.Error("the session cookie carries the secret key")
	}
	if resp := get(t, c, base+"api/search?bucket=photos"); resp.StatusCode != http.StatusOK {
		t.Fatalf("search with the session: %d", resp.StatusCode)
	}

	// State-changing requests need the CSRF token, and the same origin.
	tagsBody := map[string]any{"bucket": "photos", "key": "2015/canon.jpg", "tags": map[string]string{"x": "y"}}
	for name, token := range map[string]string{"no token": "", "wrong token": strings.Repeat("0", 64)} {
		if resp := put(t, c, base+"api/tags", token, tagsBody, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("tags with %s: %d, want 403", name, resp.StatusCode)
		}
	}
	if resp := put(t, c, base+"api/tags", sess.CSRF, tagsBody, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tags from another origin: %d, want 403", resp.StatusCode)
	}
	got, err := e.m.Client().GetObjectTagging(context.Background(), "photos", "2015/canon.jpg", minio.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ToMap()) != 0 {
		t.Fatalf("a refused tag edit reached MinIO: %v", got.ToMap())
	}
	if resp := put(t, c, base+"api/tags", sess.CSRF, tagsBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("tags with the token: %d", resp.StatusCode)
	}
	if got, _ := e.m.Client().GetObjectTagging(context.Background(), "photos", "2015/canon.jpg", minio.GetObjectTaggingOptions{}); got == nil || got.ToMap()["x"] != "y" {
		t.Fatalf("MinIO tags after the edit: %v", got)
	}
	// Tag rules are S3's, enforced on the S3 path: an invalid tag is
	// refused with S3's error and changes nothing.
	bad := map[string]any{"bucket": "photos", "key": "2015/canon.jpg", "tags": map[string]string{strings.Repeat("k", 200): "v"}}
	if resp := put(t, c, base+"api/tags", sess.CSRF, bad, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an over-long tag key: %d, want 400", resp.StatusCode)
	}
	want, _ := tags.NewTags(map[string]string{"x": "y"}, true)
	if got, _ := e.m.Client().GetObjectTagging(context.Background(), "photos", "2015/canon.jpg", minio.GetObjectTaggingOptions{}); got == nil || got.String() != want.String() {
		t.Fatalf("MinIO tags after a refused edit: %v", got)
	}

	// A key with '?', '#' and '%' is the key the edit names, never a
	// shorter one.
	odd := "2015/odd ?x=1#y 100%.jpg"
	img := photo(t, "jpeg/canon_sx60hs_orient6.jpg")
	for _, key := range []string{odd, "2015/odd "} {
		if _, err := e.g.Client().PutObject(context.Background(), "photos", key, bytes.NewReader(img), int64(len(img)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if resp := put(t, c, base+"api/tags", sess.CSRF, map[string]any{"bucket": "photos", "key": odd, "tags": map[string]string{"odd": "yes"}}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("tags of an odd key: %d", resp.StatusCode)
	}
	for key, want := range map[string]int{odd: 1, "2015/odd ": 0} {
		got, err := e.m.Client().GetObjectTagging(context.Background(), "photos", key, minio.GetObjectTaggingOptions{})
		if err != nil || len(got.ToMap()) != want {
			t.Errorf("tags of %q at MinIO: %v %v, want %d", key, got, err, want)
		}
	}

	// New buckets go through CreateBucket, as the user.
	if resp := post(t, c, base+"api/buckets", sess.CSRF, map[string]string{"name": "albums"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("create a bucket: %d", resp.StatusCode)
	}
	if ok, err := e.m.Client().BucketExists(context.Background(), "albums"); err != nil || !ok {
		t.Fatalf("the new bucket is not at MinIO: %v %v", ok, err)
	}
	if resp := post(t, c, base+"api/buckets", sess.CSRF, map[string]string{"name": "Not_A_Bucket"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an invalid bucket name: %d, want 400", resp.StatusCode)
	}
	vjar, _ := cookiejar.New(nil)
	vc := &http.Client{Jar: vjar}
	resp = post(t, vc, base+"api/session", "", map[string]string{"access_key": e.viewer.key, "secret_key": e.viewer.secret})
	var vsess struct {
		CSRF    string
		Buckets []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&vsess); err != nil || !slices.Equal(vsess.Buckets, []string{"holidays"}) {
		t.Fatalf("the viewer's session: %+v %v", vsess, err)
	}
	if resp := post(t, vc, base+"api/buckets", vsess.CSRF, map[string]string{"name": "viewers-own"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a bucket made by a reader: %d, want 403", resp.StatusCode)
	}
	if ok, _ := e.m.Client().BucketExists(context.Background(), "viewers-own"); ok {
		t.Fatal("a reader made a bucket at MinIO")
	}
	if resp := post(t, vc, base+"api/upload-form", vsess.CSRF, map[string]string{"bucket": "holidays"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an upload form for a reader: %d, want 403", resp.StatusCode)
	}

	// Gallery reads count against the user's request rate, as S3 requests
	// do: a burst of 3, then SlowDown.
	ljar, _ := cookiejar.New(nil)
	lc := &http.Client{Jar: ljar}
	if resp := post(t, lc, base+"api/session", "", map[string]string{"access_key": e.limited.key, "secret_key": e.limited.secret}); resp.StatusCode != http.StatusOK {
		t.Fatalf("the limited user's sign-in: %d", resp.StatusCode)
	}
	statuses := []int{}
	for range 5 {
		statuses = append(statuses, get(t, lc, base+"api/search?bucket=holidays").StatusCode)
	}
	if !slices.Contains(statuses, http.StatusServiceUnavailable) || statuses[0] != http.StatusOK {
		t.Errorf("five searches at a 0.2/s limit with a burst of 3: %v, want 200s then 503 SlowDown", statuses)
	}

	// The session answer (with the user's ListBuckets inside it) is one
	// request of a user allowed one at a time, not two.
	sjar, _ := cookiejar.New(nil)
	sc := &http.Client{Jar: sjar}
	if resp := post(t, sc, base+"api/session", "", map[string]string{"access_key": e.single.key, "secret_key": e.single.secret}); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in of a user with max_in_flight 1: %d", resp.StatusCode)
	}
	if resp := get(t, sc, base+"api/session"); resp.StatusCode != http.StatusOK {
		t.Errorf("the session of a user with max_in_flight 1: %d", resp.StatusCode)
	}
	// Behind a TLS-terminating proxy the cookie is Secure and
	// __Host-prefixed too.
	req, _ := http.NewRequest(http.MethodPost, base+"api/session", strings.NewReader(`{"access_key":"`+e.single.key+`","secret_key":"`+e.single.secret+`"}`))
	req.Header.Set("X-Forwarded-Proto", "https")
	if resp, err := http.DefaultClient.Do(req); err != nil || !strings.Contains(resp.Header.Get("Set-Cookie"), "__Host-photogate_gallery=") || !strings.Contains(resp.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("sign-in behind a TLS proxy: %v %v", resp, err)
	}
	if resp := get(t, c, base+"api/search?bucket=photos/x"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a bucket name with a slash: %d, want 403", resp.StatusCode)
	}

	// Signing out ends the session.
	req, _ = http.NewRequest(http.MethodDelete, base+"api/session", nil)
	req.Header.Set("X-CSRF-Token", sess.CSRF)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %v %v", resp, err)
	}
	if resp := get(t, c, base+"api/search?bucket=photos"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("search after signing out: %d", resp.StatusCode)
	}
}

// TestGallerySessionOverTLS: under TLS the cookie is Secure and
// __Host-prefixed, so a browser never sends it over plain HTTP and no
// sibling host can set it.
func TestGallerySessionOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MinIO and the photogate binary")
	}
	m := harness.StartMinIO(t)
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: m, TLS: true})
	c := g.HTTPClient()
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	base := g.AdminEndpoint() + "/gallery/"
	resp := post(t, c, base+"api/session", "", map[string]string{"access_key": g.AccessKey(), "secret_key": g.SecretKey()})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in over TLS: %d", resp.StatusCode)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-photogate_gallery=", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie over TLS %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Domain=") {
		t.Errorf("session cookie names a domain: %q", cookie)
	}
	if resp := get(t, c, base+"api/session"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the session over TLS: %d", resp.StatusCode)
	}
}

func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func post(t *testing.T, c *http.Client, url, csrf string, body any) *http.Response {
	t.Helper()
	return send(t, c, http.MethodPost, url, csrf, body, nil)
}

func put(t *testing.T, c *http.Client, url, csrf string, body any, headers map[string]string) *http.Response {
	t.Helper()
	return send(t, c, http.MethodPut, url, csrf, body, headers)
}

func send(t *testing.T, c *http.Client, method, url, csrf string, body any, headers map[string]string) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
