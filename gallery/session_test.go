package gallery

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func secrets(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { s, ok := m[k]; return s, ok }
}

func TestSessionCookie(t *testing.T) {
	key := []byte("session key")
	now := time.Unix(1_800_000_000, 0)
	users := map[string]string{"AK1": "secret-one"}
	s := newSession("AK1", now, time.Hour)
	value := s.value(key, users["AK1"])

	got, secret, err := parseSession(value, key, now.Add(time.Minute), secrets(users))
	if err != nil || got.accessKey != "AK1" || secret != "secret-one" || got.nonce != s.nonce {
		t.Fatalf("a fresh session: %+v %q %v", got, secret, err)
	}
	if strings.Contains(value, "secret-one") {
		t.Fatal("the cookie carries the secret")
	}

	refused := map[string]struct {
		value string
		now   time.Time
		users map[string]string
		key   []byte
	}{
		"expired":          {value, now.Add(time.Hour), users, key},
		"secret rotated":   {value, now, map[string]string{"AK1": "secret-two"}, key},
		"user removed":     {value, now, map[string]string{}, key},
		"other server key": {value, now, users, []byte("other key")},
		"empty":            {"", now, users, key},
		"tampered expiry": {strings.Replace(value, "."+strings.Split(value, ".")[1]+".", ".9999999999.", 1),
			now, users, key},
		"other user's name": {strings.Replace(value, strings.Split(value, ".")[0], "QUsy", 1), now,
			map[string]string{"AK1": "secret-one", "AK2": "secret-one"}, key},
		"too long": {value + strings.Repeat("a", 2000), now, users, key},
	}
	for name, c := range refused {
		if _, _, err := parseSession(c.value, c.key, c.now, secrets(c.users)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCSRFTokenIsPerSession(t *testing.T) {
	key := []byte("k")
	a, b := newSession("AK1", time.Now(), time.Hour), newSession("AK1", time.Now(), time.Hour)
	if a.csrf(key, "s") == b.csrf(key, "s") || a.csrf(key, "s") == a.csrf(key, "other secret") {
		t.Fatal("CSRF tokens repeat across sessions or secrets")
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	csp, err := contentSecurityPolicy("")
	if err != nil || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("%q %v", csp, err)
	}
	csp, err = contentSecurityPolicy("https://{s}.tile.example.org/{z}/{x}/{y}.png")
	if err != nil || !strings.Contains(csp, "img-src 'self' data: blob: https://*.tile.example.org") {
		t.Fatalf("with tiles: %q %v", csp, err)
	}
	for _, bad := range []string{"javascript:alert(1)", "/tiles/{z}", "ftp://x/{z}"} {
		if _, err := contentSecurityPolicy(bad); err == nil {
			t.Errorf("tile URL %q accepted", bad)
		}
	}
}

func TestS3BaseUsesTheBrowsersHost(t *testing.T) {
	for _, c := range []struct{ configured, host, want string }{
		{"http://0.0.0.0:9000", "photos.lan:9001", "http://photos.lan:9000"},
		{"http://[::]:9000", "[fd00::1]:9001", "http://[fd00::1]:9000"},
		{"https://127.0.0.1:9443", "localhost:9444", "https://127.0.0.1:9443"},
		{"https://s3.example.com", "gallery.example.com", "https://s3.example.com"},
	} {
		h := &handler{cfg: Config{S3URL: c.configured}}
		r := httptest.NewRequest("GET", "/gallery/api/photo", nil)
		r.Host = c.host
		u, err := h.s3Base(r)
		if err != nil || u.String() != c.want {
			t.Errorf("S3 URL %s seen from %s: %v %v, want %s", c.configured, c.host, u, err, c.want)
		}
	}
}

// FuzzParseSession: cookie values are untrusted bytes; parsing never
// panics and accepts only values this server signed.
func FuzzParseSession(f *testing.F) {
	key := []byte("fuzz key")
	now := time.Unix(1_800_000_000, 0)
	users := secrets(map[string]string{"AK1": "secret"})
	f.Add(newSession("AK1", now, time.Hour).value(key, "secret"))
	f.Add("QUsx.1800003600.00.00")
	f.Add("....")
	f.Fuzz(func(t *testing.T, value string) {
		s, _, err := parseSession(value, key, now, users)
		if err != nil {
			return
		}
		if s.value(key, "secret") != value {
			t.Fatalf("accepted %q, which is not what the server signs for %+v", value, s)
		}
	})
}
