package security_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// The web gallery signs browsers in with S3 keys. Attacks on it, each
// checked at MinIO: a reader of one bucket reaching another, forged and
// replayed cookies, requests from another origin, an upload form used for
// a bucket it was not made for or a file the policy refuses, and a
// gallery route used to reach more of the S3 API than an upload.
func TestGalleryAttacks(t *testing.T) {
	reader, writer := newUser("galreader"), newUser("galwriter")
	mine, theirs := "galmine-"+strings.ToLower(reader.AccessKey[2:10]), "galtheirs-"+strings.ToLower(reader.AccessKey[2:10])
	e := start(t, "users:\n"+
		reader.entry("    grants:\n      - buckets: "+mine+"\n        actions: [read, list]\n")+
		writer.entry("    grants:\n      - buckets: "+mine+"\n        actions: [read, write, list]\n")+
		"policy:\n  buckets:\n    - bucket: "+mine+"\n      allowed_types: [\"image/*\"]\n")
	makeBuckets(t, minio.MakeBucketOptions{}, mine, theirs)
	img := photo(t)
	seed(t, theirs, "private.jpg", img)
	if _, err := e.client(t, e.admin()).PutObject(t.Context(), mine, "shared.jpg", bytes.NewReader(img), int64(len(img)), "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	base := e.g.AdminEndpoint() + "/gallery/"

	signIn := func(u user) (*http.Client, string) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp := galleryDo(t, c, http.MethodPost, base+"api/session", "", map[string]string{"access_key": u.AccessKey, "secret_key": u.SecretKey})
		var s struct{ CSRF string }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
			t.Fatalf("sign-in of %s: %d", u.Name, resp.StatusCode)
		}
		return c, s.CSRF
	}
	rc, rcsrf := signIn(reader)
	wc, wcsrf := signIn(writer)

	// The reader asks about the other bucket every way the API allows.
	for _, path := range []string{
		"api/search?bucket=" + theirs, "api/search?bucket=" + mine + "&bucket=" + theirs, "api/search?prefix=private",
		"api/facets?field=make&bucket=" + theirs, "api/photo?bucket=" + theirs + "&key=private.jpg",
		"api/months?bucket=" + theirs + "&year=2015",
		"api/photo?bucket=" + mine + "/../" + theirs + "&key=private.jpg",
	} {
		resp := galleryDo(t, rc, http.MethodGet, base+path, "", nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode < 400 || bytes.Contains(body, []byte("private.jpg")) {
			t.Errorf("reader GET %s: %d %.300s", path, resp.StatusCode, body)
		}
	}
	// Tags and uploads into the other bucket, and into their own without
	// write: refused, and nothing changes at MinIO.
	for _, target := range []string{theirs, mine} {
		resp := galleryDo(t, rc, http.MethodPut, base+"api/tags", rcsrf,
			map[string]any{"bucket": target, "key": "private.jpg", "tags": map[string]string{"owned": "yes"}})
		if resp.StatusCode < 400 {
			t.Errorf("reader tags in %s: %d", target, resp.StatusCode)
		}
		if resp := galleryDo(t, rc, http.MethodPost, base+"api/upload-form", rcsrf, map[string]string{"bucket": target}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("reader upload form for %s: %d", target, resp.StatusCode)
		}
	}
	if tags, err := e.client(t, e.admin()).GetObjectTagging(t.Context(), theirs, "private.jpg", minio.GetObjectTaggingOptions{}); err != nil || len(tags.ToMap()) != 0 {
		t.Errorf("tags of the other bucket's photo: %v %v", tags, err)
	}

	// A cookie is not transferable: tampered, or replayed after sign-out
	// of a rotated secret, it opens nothing.
	for _, c := range rc.Jar.Cookies(mustURL(t, base)) {
		forged := strings.Replace(c.Value, ".", "x.", 1)
		req, _ := http.NewRequest(http.MethodGet, base+"api/search?bucket="+mine, nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: forged})
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a forged cookie: %v %v", resp, err)
		}
	}

	// Cross-origin and token-less writes.
	req, _ := http.NewRequest(http.MethodPut, base+"api/tags", strings.NewReader(`{"bucket":"`+mine+`","key":"shared.jpg","tags":{"x":"y"}}`))
	req.Header.Set("X-CSRF-Token", wcsrf)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := wc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site tag edit: %v %v", resp, err)
	}
	if tags, err := e.client(t, e.admin()).GetObjectTagging(t.Context(), mine, "shared.jpg", minio.GetObjectTaggingOptions{}); err != nil || len(tags.ToMap()) != 0 {
		t.Errorf("tags after refused edits: %v %v", tags, err)
	}

	// The writer's upload form: its policy is bound to its bucket, and the
	// upload route reaches only POST-object on that bucket.
	resp := galleryDo(t, wc, http.MethodPost, base+"api/upload-form", wcsrf, map[string]string{"bucket": mine, "prefix": "up/"})
	var form struct {
		URL    string
		Fields map[string]string
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&form) != nil {
		t.Fatalf("upload form: %d", resp.StatusCode)
	}
	post := func(route, key string, file []byte) int {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("key", key)
		_ = mw.WriteField("Content-Type", "image/jpeg")
		for k, v := range form.Fields {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("file", "x.jpg")
		_, _ = fw.Write(file)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.g.AdminEndpoint()+route, &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-CSRF-Token", wcsrf)
		resp, err := wc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/gallery/upload/"+theirs, "up/planted.jpg", img); code < 400 {
		t.Errorf("the form posted to another bucket: %d", code)
	}
	assertAbsent(t, theirs, "up/planted.jpg")
	if code := post("/gallery/upload/"+mine, "elsewhere/planted.jpg", img); code < 400 {
		t.Errorf("a key outside the form's prefix: %d", code)
	}
	assertAbsent(t, mine, "elsewhere/planted.jpg")
	if code := post("/gallery/upload/"+mine, "up/script.jpg", []byte("#!/bin/sh\nrm -rf /\n")); code < 400 {
		t.Errorf("a script named .jpg: %d", code)
	}
	assertAbsent(t, mine, "up/script.jpg")
	// A query on the upload route does not reach DeleteObjects or other
	// bucket sub-resources: the route is POST-object only.
	if code := post("/gallery/upload/"+mine+"?delete", "up/ok.jpg", img); code >= 400 {
		t.Errorf("an upload with a query on the route: %d (the query is dropped, the upload is an upload)", code)
	}
	if _, _, ok := stored(t, mine, "shared.jpg"); !ok {
		t.Error("shared.jpg is gone")
	}
	if _, _, ok := stored(t, mine, "up/ok.jpg"); !ok {
		t.Error("the writer's own upload did not land")
	}
}

func galleryDo(t *testing.T, c *http.Client, method, url, csrf string, body any) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
