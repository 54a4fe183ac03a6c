package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3xml"
)

// objectLocation is the URL of t as the client addressed photogate: its
// scheme, its Host and its style (virtual-host or path). Answers that name
// an object's URL must give this one, never the backend's address, which
// is neither reachable by the client nor its business.
func (s *Server) objectLocation(r *http.Request, t classify.Target) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/" + t.Bucket + "/" + t.Key}
	// Behind an ingress that terminates TLS, X-Forwarded-Proto says how
	// the client came. A client lying in it only misleads itself.
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		u.Scheme = "https"
	}
	if host, err := classify.Resolve(r.Host, "/", s.baseDomains); err == nil && host.Bucket != "" {
		u.Path = "/" + t.Key
	}
	return u.String()
}

// ownLocation makes CompleteMultipartUpload's answer give the object's URL
// as the client sees it: the backend writes its own address into
// <Location>.
func (s *Server) ownLocation(respond respondFunc, t classify.Target) respondFunc {
	return func(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte) error {
		if resp.StatusCode != http.StatusOK {
			return respond(w, r, resp, raw)
		}
		if raw == nil {
			var err error
			if raw, err = io.ReadAll(io.LimitReader(resp.Body, s3xml.MaxResponseBytes)); err != nil {
				return fmt.Errorf("read CompleteMultipartUpload response: %w", err)
			}
		}
		if bytes.Contains(raw, []byte("<Location>")) {
			raw = setElement(raw, "Location", s.objectLocation(r, t))
		}
		return respond(w, r, resp, raw)
	}
}
