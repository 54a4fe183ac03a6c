package gateway

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/photogate/photogate/s3/classify"
)

func TestObjectLocationIsTheClientsView(t *testing.T) {
	s := &Server{baseDomains: []string{"s3.photos.test"}}
	target := classify.Target{Bucket: "album", Key: "2024/a b&c.jpg"}
	for _, tc := range []struct {
		host      string
		tls       bool
		forwarded string // X-Forwarded-Proto
		want      string
	}{
		{"gw.example:9000", false, "", "http://gw.example:9000/album/2024/a%20b&c.jpg"},
		{"gw.example", true, "", "https://gw.example/album/2024/a%20b&c.jpg"},
		{"gw.example", false, "https", "https://gw.example/album/2024/a%20b&c.jpg"},
		{"album.s3.photos.test", false, "", "http://album.s3.photos.test/2024/a%20b&c.jpg"},
		{"album.s3.photos.test:8443", true, "", "https://album.s3.photos.test:8443/2024/a%20b&c.jpg"},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-Proto", tc.forwarded)
		}
		if got := s.objectLocation(r, target); got != tc.want {
			t.Errorf("%s (TLS %v): %q, want %q", tc.host, tc.tls, got, tc.want)
		}
	}
}
