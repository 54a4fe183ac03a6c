package postupload_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// uploadPage posts the page's own /photo.jpg to photogate with fetch() and
// FormData, as a web app does with a policy its server signed, and writes
// what the script could read of the answer into #result, then adds #done.
// A fetch the browser's CORS check blocks rejects with a TypeError, which
// is all the page can learn.
var uploadPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>upload</title></head>
<body><h1>photo upload</h1><pre id="result">running</pre>
<script>
const cfg = {{.}};
async function run() {
  const out = {};
  try {
    const photo = await (await fetch("/photo.jpg")).blob();
    const form = new FormData();
    for (const [name, value] of Object.entries(cfg.Fields)) form.append(name, value);
    form.append("file", new File([photo], cfg.FileName, {type: "image/jpeg"}));
    const init = {method: "POST", body: form};
    if (cfg.Preflight) init.headers = {"X-Requested-With": "photogate-test"};
    const resp = await fetch(cfg.URL, init);
    out.status = resp.status;
    out.etag = resp.headers.get("ETag") || "";
    out.body = await resp.text();
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById("result").textContent = JSON.stringify(out);
  const done = document.createElement("div");
  done.id = "done";
  document.body.appendChild(done);
}
run();
</script></body></html>`))

// formPage is the classic browser upload: an HTML form with the signed
// fields as hidden inputs and a file input, submitted by the user (here
// chromedp); S3 answers with a 303 to success_action_redirect.
var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>form upload</title></head>
<body><h1>photo upload form</h1>
<form id="upload" method="post" action="{{.URL}}" enctype="multipart/form-data">
{{range $name, $value := .Fields}}<input type="hidden" name="{{$name}}" value="{{$value}}">
{{end}}<input type="file" id="file" name="file">
<button type="submit">Upload</button>
</form></body></html>`))

// redirectedPage is where success_action_redirect leads: it shows the
// query S3 added.
var redirectedPage = template.Must(template.New("redirected").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>uploaded</title></head>
<body><pre id="redirected">{{.}}</pre></body></html>`))

// pageCase is one upload a page makes.
type pageCase struct {
	URL       string            // where the form goes: photogate's bucket URL
	Fields    map[string]string // the signed form fields
	FileName  string
	Preflight bool // send a non-simple header, so the browser preflights
	Form      bool // serve formPage instead of uploadPage
}

// pageResult is what the page's script could read.
type pageResult struct {
	Status int    `json:"status"`
	ETag   string `json:"etag"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// pageServer serves the upload page for each case at /<name>, and the
// photo at /photo.jpg, from an origin of its own (its own port).
type pageServer struct {
	srv *httptest.Server

	mu    sync.Mutex // cases is filled by the test while the server runs
	cases map[string]pageCase
}

// add serves c at /name.
func (ps *pageServer) add(name string, c pageCase) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.cases[name] = c
}

func newPageServer(t *testing.T, photo []byte) *pageServer {
	t.Helper()
	ps := &pageServer{cases: map[string]pageCase{}}
	ps.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/photo.jpg" {
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(photo)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// A page that fails to render never shows what the test waits
		// for, which reports it; t must not be used from this goroutine.
		if r.URL.Path == "/uploaded" {
			_ = redirectedPage.Execute(w, r.URL.RawQuery)
			return
		}
		ps.mu.Lock()
		c, ok := ps.cases[strings.TrimPrefix(r.URL.Path, "/")]
		ps.mu.Unlock()
		switch {
		case !ok:
			http.NotFound(w, r)
		case c.Form:
			_ = formPage.Execute(w, c)
		default:
			_ = uploadPage.Execute(w, c)
		}
	}))
	t.Cleanup(ps.srv.Close)
	return ps
}

// origin is the page's origin as the browser sends it.
func (ps *pageServer) origin() string { return ps.srv.URL }

// findChromium returns the browser: $PHOTOGATE_CHROMIUM, else the first
// of the usual names on PATH. It is missing: a skip on a developer
// machine, a failure under CI=true (.ci/run installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PHOTOGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required under CI=true (a failure, not a skip): not on PATH and PHOTOGATE_CHROMIUM unset")
	}
	t.Skip("chromium not found (set PHOTOGATE_CHROMIUM; under CI=true this fails instead)")
	return ""
}

// artifactDir is where a failing browser test leaves its screenshots:
// $PHOTOGATE_TEST_ARTIFACTS, else a fresh directory under the system
// temporary directory that outlives the test (t.TempDir would not).
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PHOTOGATE_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "photogate-postupload-artifacts-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// startBrowser starts a headless Chromium with a fresh profile and
// returns its context; it is closed when the test ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		// Loopback only: no proxy from the environment may answer for
		// photogate or the pages.
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// openPage loads pageURL in a new tab of the browser, waits for the
// page's script to finish and returns what it read.
func openPage(t *testing.T, browser context.Context, pageURL string) pageResult {
	t.Helper()
	tab := newTab(t, browser, pageURL)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	var text string
	err := chromedp.Do(ctx, chromedp.Navigate(pageURL), chromedp.WaitReady(chromedp.CSS("#done")))
	if err == nil {
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#result")))
	}
	if err != nil {
		t.Errorf("page %s: %v (result so far %q)", pageURL, err, text)
		return pageResult{}
	}
	var r pageResult
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		t.Errorf("page %s wrote %q: %v", pageURL, text, err)
	}
	return r
}

// newTab opens a tab of the browser for pageURL. It stays open until the
// (sub)test ends, so that a failure found by the caller's checks still
// gets the tab's screenshot.
func newTab(t *testing.T, browser context.Context, pageURL string) context.Context {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, tab, pageURL)
		}
		cancelTab()
	})
	// The target lives as long as the context of the first Run on it:
	// open it here, so that the callers' timeouts end their actions, not
	// the tab the screenshot needs.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// saveScreenshot saves the tab's screenshot as <test>-<page path>.png in
// artifactDir.
func saveScreenshot(t *testing.T, tab context.Context, pageURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot of %s: %v", pageURL, err)
		return
	}
	page := pageURL
	if u, err := url.Parse(pageURL); err == nil {
		page = u.Path
	}
	name := strings.NewReplacer("/", "_", ":", "_", " ", "_").Replace(t.Name()+page) + ".png"
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot of %s saved to %s", pageURL, path)
}

// TestBrowserUpload: a real Chromium posts a photo with fetch() and
// FormData from a page on another origin. The bucket's CORS rule allows
// that origin, so the preflight passes and the page reads the status, the
// exposed ETag and the PostResponse; a page from an origin no rule allows
// cannot read the answer (and its preflighted upload is never sent).
func TestBrowserUpload(t *testing.T) {
	requireSetup(t)
	p := testPhoto(t, gpsPhoto)
	browser := startBrowser(t)
	allowed, denied := newPageServer(t, p.Data), newPageServer(t, p.Data)
	if allowed.origin() == denied.origin() {
		t.Fatal("test bug: both pages on one origin")
	}
	uploader := newUser("uploader")
	bucket := harness.BucketName("post-browser")
	e := start(t, "users:\n"+uploader.entry("read, write, list")+
		"policy:\n  buckets:\n    - bucket: \""+bucket+"\"\n      allowed_types: [\"image/*\"]\n"+
		"      cors:\n        - allowed_origins: [\""+allowed.origin()+"\"]\n"+
		"          allowed_methods: [POST]\n"+
		"          allowed_headers: [\"x-requested-with\"]\n"+
		"          expose_headers: [ETag, x-amz-request-id]\n"+
		"          max_age_seconds: 600\n", harness.GatewayOptions{})
	makeBuckets(t, bucket)

	// form signs an upload of key that answers 201 with a PostResponse.
	form := func(key string, expires time.Time) map[string]string {
		_, fields := e.presignedPost(t, uploader, jpegPolicy(bucket, key, expires, func(pp *minio.PostPolicy) error {
			return errors.Join(
				pp.SetUserMetadata("source", "browser"),
				pp.SetSuccessStatusAction("201"),
				pp.SetContentLengthRange(1, 1<<20),
			)
		}))
		return fields
	}
	inFiveMinutes := time.Now().UTC().Add(5 * time.Minute)
	want := func(key string) wantObject {
		return wantObject{Bucket: bucket, Key: key, SHA256: p.SHA256, Size: int64(len(p.Data)), ContentType: "image/jpeg",
			Meta: map[string]string{"source": "browser"}, Photo: &p}
	}

	t.Run("preflight answered from the CORS rule", func(t *testing.T) {
		for _, tc := range []struct {
			origin string
			status int
		}{{allowed.origin(), http.StatusOK}, {denied.origin(), http.StatusForbidden}} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.bucketURL(bucket), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "x-requested-with")
			r := harness.SendS3(t, plainClient(), req)
			acao := r.Header.Get("Access-Control-Allow-Origin")
			if tc.status == http.StatusOK {
				if r.Status != http.StatusOK || acao != tc.origin || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
					!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "x-requested-with") {
					t.Errorf("preflight from %s: %s, headers %v; want 200 allowing the origin, POST and x-requested-with", tc.origin, r, r.Header)
				}
			} else if r.Status != http.StatusForbidden || r.Code != "AccessDenied" || acao != "" {
				t.Errorf("preflight from %s (no rule allows it): %s, Access-Control-Allow-Origin %q; S3 answers 403 AccessDenied without CORS headers", tc.origin, r, acao)
			}
		}
	})

	t.Run("allowed origin reads the answer", func(t *testing.T) {
		for _, preflight := range []bool{true, false} {
			key := "browser/simple.jpg"
			if preflight {
				key = "browser/preflighted.jpg"
			}
			name := strings.ReplaceAll(key, "/", "-")
			allowed.add(name, pageCase{URL: e.bucketURL(bucket), Fields: form(key, inFiveMinutes), FileName: "IMG_4242.JPG", Preflight: preflight})
			r := openPage(t, browser, allowed.origin()+"/"+name)
			if r.Error != "" || r.Status != http.StatusCreated {
				t.Errorf("page on the allowed origin (preflight %v): status %d, error %q, body %q; want to read 201", preflight, r.Status, r.Error, r.Body)
			}
			etag := e.checkStored(t, want(key))
			if strings.Trim(r.ETag, `"`) != etag || etag == "" {
				t.Errorf("page read ETag %q (exposed by the CORS rule), MinIO's is %q", r.ETag, etag)
			}
			var pr postResponse
			if err := xml.Unmarshal([]byte(r.Body), &pr); err != nil || pr.Key != key || pr.Bucket != bucket {
				t.Errorf("page read body %q (%v); want the PostResponse for %s/%s", r.Body, err, bucket, key)
			}
		}
		// The X-Requested-With header made the browser ask first: the
		// preflight photogate answered is in its request log.
		preflights := e.g.RequestLogs(func(l harness.LogEntry) bool { return l.Op == "CORSPreflight" && l.Status == http.StatusOK })
		if len(preflights) == 0 {
			t.Errorf("no successful CORSPreflight in photogate's request log: the browser did not preflight the upload with X-Requested-With")
		}
	})

	t.Run("HTML form with success_action_redirect", func(t *testing.T) {
		// The key is the form's template: the browser names the file.
		path := filepath.Join(harness.PhotosDir(t), filepath.FromSlash(gpsPhoto))
		key := "form/" + filepath.Base(path)
		redirect := allowed.origin() + "/uploaded"
		_, fields := e.presignedPost(t, uploader, func(pp *minio.PostPolicy) error {
			return errors.Join(
				pp.SetBucket(bucket),
				pp.SetKeyStartsWith("form/"),
				pp.SetExpires(inFiveMinutes),
				pp.SetContentType("image/jpeg"),
				pp.SetUserMetadata("source", "browser"),
				pp.SetSuccessActionRedirect(redirect),
			)
		})
		fields["key"] = "form/${filename}"
		allowed.add("form", pageCase{URL: e.bucketURL(bucket), Fields: fields, Form: true})

		tab := newTab(t, browser, allowed.origin()+"/form")
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Navigate(allowed.origin()+"/form"),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{path}),
			chromedp.Submit(chromedp.CSS("#upload")),
			// Either the redirect's page or photogate's S3 error document.
			chromedp.WaitReady(chromedp.CSS("#redirected, Error")),
		)
		if err != nil {
			t.Fatalf("submit the form: %v", err)
		}
		landed, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(landed, redirect+"?") {
			shown, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(":root")))
			t.Fatalf("the form's POST ended at %s showing %q; want a 303 to %s?bucket=...", landed, shown, redirect)
		}
		query, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#redirected")))
		if err != nil {
			t.Fatal(err)
		}
		etag := e.checkStored(t, want(key))
		q, err := url.ParseQuery(query)
		if err != nil || q.Get("bucket") != bucket || q.Get("key") != key || strings.Trim(q.Get("etag"), `"`) != etag || etag == "" {
			t.Errorf("redirected to %s?%s (%v); want bucket=%s, key=%s and MinIO's etag %s", redirect, query, err, bucket, key, etag)
		}
	})

	t.Run("allowed origin reads a refusal", func(t *testing.T) {
		const key = "browser/expired.jpg"
		allowed.add("expired", pageCase{URL: e.bucketURL(bucket), Fields: form(key, time.Now().UTC().Add(-time.Minute)), FileName: "x.jpg", Preflight: true})
		r := openPage(t, browser, allowed.origin()+"/expired")
		if r.Error != "" || r.Status != http.StatusForbidden || !strings.Contains(r.Body, "<Code>AccessDenied</Code>") {
			t.Errorf("page posting an expired policy: status %d, error %q, body %q; want to read 403 AccessDenied (CORS headers on errors too)", r.Status, r.Error, r.Body)
		}
		if _, _, ok := stored(t, bucket, key); ok {
			t.Errorf("MinIO holds %s/%s from an expired policy", bucket, key)
		}
	})

	t.Run("other origin cannot read the answer", func(t *testing.T) {
		// Preflighted: the browser stops at the refused preflight and
		// never sends the upload.
		const blockedKey = "browser/denied-preflighted.jpg"
		denied.add("preflighted", pageCase{URL: e.bucketURL(bucket), Fields: form(blockedKey, inFiveMinutes), FileName: "x.jpg", Preflight: true})
		r := openPage(t, browser, denied.origin()+"/preflighted")
		if !strings.Contains(r.Error, "TypeError") || r.Status != 0 || r.Body != "" {
			t.Errorf("page on an origin no rule allows (preflighted): %+v; want a TypeError and nothing read", r)
		}
		if _, _, ok := stored(t, bucket, blockedKey); ok {
			t.Errorf("MinIO holds %s/%s although its preflight was refused", bucket, blockedKey)
		}

		// Simple: the browser sends it without asking (CORS guards
		// reading, not sending; the signed policy is what authorises the
		// upload), but the page must not see the answer.
		const simpleKey = "browser/denied-simple.jpg"
		denied.add("simple", pageCase{URL: e.bucketURL(bucket), Fields: form(simpleKey, inFiveMinutes), FileName: "x.jpg"})
		r = openPage(t, browser, denied.origin()+"/simple")
		if !strings.Contains(r.Error, "TypeError") || r.Status != 0 || r.ETag != "" || r.Body != "" {
			t.Errorf("page on an origin no rule allows (simple request): %+v; want a TypeError and nothing read", r)
		}
		_, _, ok := stored(t, bucket, simpleKey)
		t.Logf("simple POST from the other origin stored at MinIO: %v (as S3 would: CORS does not stop the request)", ok)
	})
}
