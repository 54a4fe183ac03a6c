package policy

import (
	"net/http"
	"strings"
	"testing"
)

const corsPolicy = `
users:
  - name: web
    access_key: AKIAWEB0000000000001
    secret_key: web-secret-key-0001
    grants: [{buckets: "*", actions: [read, write, list]}]
policy:
  buckets:
    - bucket: uploads
      cors:
        - allowed_origins: ["https://app.example.com", "https://*.preview.example.com"]
          allowed_methods: [POST, PUT, GET]
          allowed_headers: ["content-type", "x-amz-*"]
          expose_headers: [ETag, x-amz-request-id]
          max_age_seconds: 600
    - bucket: gallery
      public_read: true
      cors:
        - allowed_origins: ["*"]
          allowed_methods: [GET, HEAD]
`

func TestCORSMatching(t *testing.T) {
	e := compile(t, corsPolicy)
	cases := []struct {
		bucket, origin, method string
		headers                []string
		allow                  string // "" refused
	}{
		{"uploads", "https://app.example.com", "POST", []string{"content-type"}, "https://app.example.com"},
		{"uploads", "https://app.example.com", "PUT", []string{"x-amz-date", "Content-Type"}, "https://app.example.com"},
		{"uploads", "https://pr-7.preview.example.com", "GET", nil, "https://pr-7.preview.example.com"},
		{"uploads", "https://evil.example", "POST", nil, ""},
		{"uploads", "https://app.example.com.evil", "POST", nil, ""},
		{"uploads", "http://app.example.com", "POST", nil, ""}, // scheme is part of the origin
		{"uploads", "https://app.example.com", "DELETE", nil, ""},
		{"uploads", "https://app.example.com", "POST", []string{"authorization"}, ""},
		{"gallery", "https://anyone.example", "GET", nil, "*"},
		{"gallery", "https://anyone.example", "PUT", nil, ""},
		{"other", "https://app.example.com", "GET", nil, ""},
		{"uploads", "", "GET", nil, ""},
	}
	for _, c := range cases {
		a, ok := e.CORS(c.bucket, c.origin, c.method, c.headers)
		if ok != (c.allow != "") || a.AllowOrigin != c.allow {
			t.Errorf("CORS(%s, %s, %s, %v) = %+v, %v; want allow %q", c.bucket, c.origin, c.method, c.headers, a, ok, c.allow)
		}
	}
}

func TestCORSHeaders(t *testing.T) {
	e := compile(t, corsPolicy)
	a, ok := e.CORS("uploads", "https://app.example.com", "POST", []string{"content-type"})
	if !ok {
		t.Fatal("refused")
	}
	h := http.Header{}
	a.Headers(h, true)
	want := map[string]string{
		"Access-Control-Allow-Origin":   "https://app.example.com",
		"Access-Control-Allow-Methods":  "POST, PUT, GET",
		"Access-Control-Allow-Headers":  "content-type",
		"Access-Control-Expose-Headers": "ETag, x-amz-request-id",
		"Access-Control-Max-Age":        "600",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if vary := strings.Join(h.Values("Vary"), ","); !strings.Contains(vary, "Origin") {
		t.Errorf("Vary = %q, want Origin in it", vary)
	}
	h = http.Header{}
	a.Headers(h, false)
	if h.Get("Access-Control-Allow-Methods") != "" || h.Get("Access-Control-Max-Age") != "" {
		t.Errorf("an actual request got preflight headers: %v", h)
	}
}

func TestCORSValidation(t *testing.T) {
	bad := strings.NewReplacer(`allowed_methods: [POST, PUT, GET]`, `allowed_methods: [POST, PATCH]`).Replace(corsPolicy)
	if _, err := Compile(parseConfig(t, bad), noEnv, noFiles); err == nil || !strings.Contains(err.Error(), "PATCH") {
		t.Errorf("PATCH accepted: %v", err)
	}
	bad = strings.NewReplacer(`"https://app.example.com", `, `"https://*.*.example.com", `).Replace(corsPolicy)
	if _, err := Compile(parseConfig(t, bad), noEnv, noFiles); err == nil || !strings.Contains(err.Error(), "at most one") {
		t.Errorf("two wildcards accepted: %v", err)
	}
}
