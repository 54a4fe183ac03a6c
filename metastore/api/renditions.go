package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
)

// Renditions reads what the rendition worker wrote
// (metastore/renditions.Library is one).
type Renditions interface {
	// Renders reports whether photos of this format (Record.Format) get
	// renditions.
	Renders(format string) bool
	// Open streams one rendition ("thumb" or "preview") of a version of an
	// object; found is false when it is not there (yet).
	Open(ctx context.Context, bucket, key, etag, size string) (body io.ReadCloser, length int64, contentType string, found bool, err error)
	// Failure is why a version cannot be rendered, if it cannot.
	Failure(ctx context.Context, bucket, key, etag string) (reason string, failed bool, err error)
	// Pending returns the job that renders rec's version, queuing one if
	// there is none (a photo indexed before renditions were on).
	Pending(ctx context.Context, rec metastore.Record) (metastore.Job, error)
}

// Rendition sizes.
const (
	SizeThumb   = "thumb"
	SizePreview = "preview"
)

// Signed rendition URLs: short-lived, for one object, size and version, so
// that a browser <img> loads renditions without the admin token.
const (
	defaultURLTTL = 15 * time.Minute
	maxURLTTL     = 24 * time.Hour
)

// RenditionPending is the body of a 202 answer: the rendition is not made
// yet.
type RenditionPending struct {
	State string `json:"state"` // the job's: queued or running
	Job   Job    `json:"job"`
}

// SignedURL is the body of GET /api/v1/renditions/...?sign=true.
type SignedURL struct {
	// URL is the path and query of the signed URL, relative to the admin
	// listener.
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// rendition answers GET /api/v1/renditions/{bucket}/{key...}: the
// thumbnail or preview of the object's current version, 202 while it is
// being made, 404 with the reason when it cannot be. signed says the
// request carries a URL signature instead of credentials; it is checked
// here.
func (h *handler) rendition(w http.ResponseWriter, r *http.Request, signed bool) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	allowed := map[string]bool{"size": true, "sign": true, "ttl": true, "v": true}
	if signed {
		allowed = map[string]bool{"size": true, "v": true, "expires": true, "sig": true}
	}
	if err := checkParams(values, allowed); err != nil {
		h.fail(w, r, "rendition", err)
		return
	}
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if key == "" {
		h.fail(w, r, "rendition", &paramError{Param: "key", Msg: "missing: use /api/v1/renditions/{bucket}/{key}"})
		return
	}
	size := values.Get("size")
	switch size {
	case "":
		size = SizeThumb
	case SizeThumb, SizePreview:
	default:
		h.fail(w, r, "rendition", &paramError{Param: "size", Msg: "want thumb or preview"})
		return
	}
	version := values.Get("v")
	if signed {
		if reason := h.verifyURL(bucket, key, size, version, values.Get("expires"), values.Get("sig")); reason != "" {
			h.log.Info("admin API: signed rendition URL refused", "reason", reason, "remote", r.RemoteAddr, "path", r.URL.Path)
			h.writeError(w, http.StatusForbidden, ErrorBody{Code: CodeForbidden, Message: "the signed URL is " + reason + "; ask for a new one with ?sign=true"})
			return
		}
	}
	rec, ok := h.record(w, r, "rendition", bucket, key)
	if !ok {
		return
	}
	if version != "" && version != rec.ETag {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: "the object changed: version " + version + " is gone"})
		return
	}
	if !h.renditions.Renders(rec.Format) {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeNotRendered, Message: fmt.Sprintf("%s/%s is not a photo photogate renders (format %q)", bucket, key, rec.Format)})
		return
	}
	if values.Get("sign") != "" {
		h.signURL(w, r, &rec, size, values)
		return
	}
	h.serveRendition(w, r, &rec, size, version != "")
}

// serveRendition streams one rendition of rec's version, or says why not.
// The version is in the ETag, so a client revalidating after an overwrite
// gets the new picture; pinned (a URL naming the version) answers never
// change, so browsers may keep them.
func (h *handler) serveRendition(w http.ResponseWriter, r *http.Request, rec *metastore.Record, size string, pinned bool) {
	etag := `"` + rec.ETag + "-" + size + `"`
	hdr := w.Header()
	if pinned {
		hdr.Set("Cache-Control", "private, max-age=86400, immutable")
	} else {
		hdr.Set("Cache-Control", "private, no-cache")
	}
	hdr.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, length, contentType, found, err := h.renditions.Open(r.Context(), rec.Bucket, rec.Key, rec.ETag, size)
	if err != nil {
		hdr.Del("ETag")
		hdr.Set("Cache-Control", "no-store")
		h.fail(w, r, "rendition", err)
		return
	}
	if !found {
		hdr.Del("ETag")
		hdr.Set("Cache-Control", "no-store")
		h.renditionMissing(w, r, rec)
		return
	}
	defer body.Close()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		h.log.Debug("admin API: rendition cut short", "bucket", rec.Bucket, "key", rec.Key, "error", err)
	}
}

// renditionMissing answers for a version whose rendition is not there: 404
// with the reason when it cannot be made, else 202 with the job making it.
func (h *handler) renditionMissing(w http.ResponseWriter, r *http.Request, rec *metastore.Record) {
	reason, failed, err := h.renditions.Failure(r.Context(), rec.Bucket, rec.Key, rec.ETag)
	if err != nil {
		h.fail(w, r, "rendition", err)
		return
	}
	if failed {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeRenditionFailed, Message: reason})
		return
	}
	job, err := h.renditions.Pending(r.Context(), *rec)
	if err != nil {
		h.fail(w, r, "rendition", err)
		return
	}
	if job.State == metastore.JobFailed {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeRenditionFailed, Message: job.LastError})
		return
	}
	w.Header().Set("Retry-After", "1")
	h.writeJSON(w, r, http.StatusAccepted, RenditionPending{State: string(job.State), Job: jobFrom(&job)})
}

// etagMatches implements If-None-Match for one strong ETag (weak
// comparison, as RFC 9110 §13.1.2 asks for this header).
func etagMatches(header, etag string) bool {
	for candidate := range strings.SplitSeq(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == etag {
			return true
		}
	}
	return false
}

// signURL answers ?sign=true with a URL for this object, size and version.
func (h *handler) signURL(w http.ResponseWriter, r *http.Request, rec *metastore.Record, size string, values url.Values) {
	if len(h.urlKey) == 0 {
		h.writeError(w, http.StatusNotImplemented, ErrorBody{Code: CodeNotImplemented, Message: "signed rendition URLs are not configured"})
		return
	}
	if v := values.Get("sign"); v != "true" {
		h.fail(w, r, "rendition", &paramError{Param: "sign", Msg: "want true"})
		return
	}
	ttl := defaultURLTTL
	if v := values.Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > maxURLTTL {
			h.fail(w, r, "rendition", &paramError{Param: "ttl", Msg: "want a duration from 1s to 24h, e.g. 15m"})
			return
		}
		ttl = d
	}
	h.writeJSON(w, r, http.StatusOK, SignRenditionURL(h.urlKey, h.now(), rec.Bucket, rec.Key, size, rec.ETag, ttl))
}

// SignRenditionURL signs a URL that opens one rendition (size) of one
// version (etag) of bucket/key until a little after now+ttl, without
// credentials: for an <img> in a page whose server has checked that its
// user may read the object. key is the API's URLKey. Expiries are rounded
// up to a multiple of ttl, so that URLs signed within the same window are
// equal and a browser's cache keeps serving them.
func SignRenditionURL(key []byte, now time.Time, bucket, objectKey, size, etag string, ttl time.Duration) SignedURL {
	window := max(int64(ttl/time.Second), 1)
	expires := (now.Unix()+window)/window*window + window
	q := url.Values{"size": {size}, "v": {etag}, "expires": {strconv.FormatInt(expires, 10)}}
	q.Set("sig", urlSignature(key, bucket, objectKey, size, etag, q.Get("expires")))
	u := url.URL{Path: "/api/v1/renditions/" + bucket + "/" + objectKey, RawQuery: q.Encode()}
	return SignedURL{URL: u.String(), Expires: time.Unix(expires, 0).UTC()}
}

// urlSignature is the hex HMAC-SHA256 of everything a signed URL grants.
// Each field is length-prefixed, so no two grants share a signature.
func urlSignature(urlKey []byte, bucket, key, size, version, expires string) string {
	mac := hmac.New(sha256.New, urlKey)
	for _, f := range []string{"photogate rendition url v1", bucket, key, size, version, expires} {
		fmt.Fprintf(mac, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// verifyURL returns "" if the signature grants this request, else what is
// wrong with it.
func (h *handler) verifyURL(bucket, key, size, version, expires, sig string) string {
	if len(h.urlKey) == 0 {
		return "not accepted here (signed URLs are not configured)"
	}
	if version == "" || expires == "" || sig == "" {
		return "incomplete (v, expires and sig are needed)"
	}
	want := urlSignature(h.urlKey, bucket, key, size, version, expires)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "not valid"
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || h.now().Unix() >= exp {
		return "expired"
	}
	return ""
}

// serveSigned routes a request that carries a signed rendition URL. Only
// GET and HEAD of a rendition are open to it; the signature is checked by
// rendition.
func (h *handler) serveSigned(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	r = r.WithContext(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/renditions/{bucket}/{key...}", h.get(func(w http.ResponseWriter, r *http.Request) {
		h.rendition(w, r, true)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, http.StatusForbidden, ErrorBody{Code: CodeForbidden, Message: "a signed URL opens only the rendition it names"})
	})
	mux.ServeHTTP(w, r)
}

// RebuildResponse is the body of POST /api/v1/renditions/rebuild.
type RebuildResponse struct {
	Scanned int    `json:"scanned"` // indexed objects looked at
	Queued  int    `json:"queued"`  // renders queued
	Next    string `json:"next,omitempty"`
	Done    bool   `json:"done"`
}

// Backfiller queues renders for photos that have none; Renditions
// implementations that can also be one serve the rebuild route.
type Backfiller interface {
	// Backfill queues a render of rec's version unless it has its
	// renditions, a failure record or a job already; it reports whether it
	// queued one.
	Backfill(ctx context.Context, rec metastore.Record) (bool, error)
}

// rebuild answers POST /api/v1/renditions/rebuild?bucket=&cursor=&limit=:
// one page of indexed objects in key order, with a render queued for each
// photo that lacks its renditions. The client passes next back until done;
// running it again after an interruption skips what is already rendered
// or queued, so it resumes.
func (h *handler) rebuild(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{"bucket": true, "cursor": true, "limit": true}); err != nil {
		h.fail(w, r, "rebuild renditions", err)
		return
	}
	backfill, ok := h.renditions.(Backfiller)
	if !ok {
		h.writeError(w, http.StatusNotImplemented, ErrorBody{Code: CodeNotImplemented, Message: "this photogate cannot queue renders"})
		return
	}
	limit, err := pageLimit(values, 200)
	if err != nil {
		h.fail(w, r, "rebuild renditions", err)
		return
	}
	q := metastore.Query{Bucket: values.Get("bucket"), Cursor: values.Get("cursor"), Limit: limit}
	page, err := h.index.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, "rebuild renditions", err)
		return
	}
	resp := RebuildResponse{Scanned: len(page.Items), Next: page.NextCursor, Done: page.NextCursor == ""}
	for _, rec := range page.Items {
		if !h.renditions.Renders(rec.Format) {
			continue
		}
		queued, err := backfill.Backfill(r.Context(), rec)
		if err != nil {
			h.fail(w, r, "rebuild renditions", err)
			return
		}
		if queued {
			resp.Queued++
		}
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}
