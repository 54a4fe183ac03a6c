// Package gallery serves photogate's web gallery at /gallery/: a browser
// page, embedded in the binary, that shows the index's photos to an S3
// user signed in with their own access key and secret key.
//
// The gallery holds no authority of its own. Every answer is limited to
// the buckets the signed-in user's grants let them read, checked again on
// every request; writes (tags, uploads) go through the S3 handler as
// requests signed with the user's own key, so the policy, the type and
// size checks, quotas and the index apply exactly as to any S3 client.
// The admin token is never used here and never reaches the browser.
package gallery

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

// Index is what the gallery reads: the index API's reads, and the month
// counts of its timeline (every metastore.Index is one).
type Index interface {
	api.Searcher
	TakenMonths(ctx context.Context, bucket string, year int) ([12]int64, error)
}

// Config assembles the gallery.
type Config struct {
	Index  Index
	Policy *policy.Holder
	// S3 is photogate's S3 handler. Tag edits and uploads are handed to it
	// in-process as requests signed with the signed-in user's key.
	S3 http.Handler
	// S3Host is the Host those requests carry: the S3 listener's address,
	// so that the handler reads them path-style.
	S3Host string
	// S3URL is where browsers reach the S3 listener, for download links
	// (presigned URLs). A host of 0.0.0.0, :: or nothing stands for the
	// host name the browser used to reach the gallery.
	S3URL  string
	Region string
	// SessionKey signs session cookies. Replicas that share it share
	// sessions.
	SessionKey []byte
	SessionTTL time.Duration // default 12h
	// URLKey signs rendition URLs (metastore/api's URLKey); nil when
	// renditions are off, and the grid then shows placeholders only.
	URLKey []byte
	// TileURL is a Leaflet tile URL template ("https://{s}.tile…/{z}/{x}/{y}.png").
	// Empty (the default) draws the map on a plain graticule, offline.
	TileURL string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Prefix is where the gallery is mounted.
const Prefix = "/gallery/"

// Rendition URLs handed to the browser live this long (rounded up to the
// window), so a page left open keeps its thumbnails, and the browser's
// cache keeps them across reloads within the window.
const renditionURLTTL = time.Hour

// downloadTTL is the life of a presigned download link.
const downloadTTL = 5 * time.Minute

type handler struct {
	cfg    Config
	mux    *http.ServeMux
	assets *assets
	csp    string
}

// New returns the gallery handler, to be mounted at Prefix.
func New(cfg Config) (http.Handler, error) {
	if cfg.Index == nil || cfg.Policy == nil || cfg.S3 == nil || len(cfg.SessionKey) == 0 {
		return nil, errors.New("gallery: Index, Policy, S3 and SessionKey are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	csp, err := contentSecurityPolicy(cfg.TileURL)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux(), assets: a, csp: csp}
	h.mux.HandleFunc("GET /gallery/{$}", h.page)
	h.mux.HandleFunc("GET /gallery/assets/{name...}", h.asset)
	h.mux.HandleFunc("POST /gallery/api/session", h.signIn)
	// Not admitted here: its one costly part, the user's ListBuckets, is
	// an S3 request the S3 handler admits itself.
	h.mux.HandleFunc("GET /gallery/api/session", h.signedIn(h.whoAmI))
	h.mux.HandleFunc("DELETE /gallery/api/session", h.changing(h.signOut))
	h.mux.HandleFunc("GET /gallery/api/search", h.reading(h.search))
	h.mux.HandleFunc("GET /gallery/api/facets", h.reading(h.facets))
	h.mux.HandleFunc("GET /gallery/api/photo", h.reading(h.photo))
	h.mux.HandleFunc("GET /gallery/api/months", h.reading(h.months))
	h.mux.HandleFunc("PUT /gallery/api/tags", h.changing(h.putTags))
	h.mux.HandleFunc("POST /gallery/api/buckets", h.changing(h.createBucket))
	h.mux.HandleFunc("POST /gallery/api/upload-form", h.changing(h.uploadForm))
	h.mux.HandleFunc("POST /gallery/upload/{bucket}", h.changing(h.upload))
	h.mux.HandleFunc("/gallery/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such gallery page")
	})
	return h, nil
}

// contentSecurityPolicy allows only the gallery's own scripts and styles
// (no inline code at all), images from itself, data: (placeholders) and
// the tile server if one is set, and no framing.
func contentSecurityPolicy(tileURL string) (string, error) {
	img := "'self' data: blob:"
	if tileURL != "" {
		u, err := url.Parse(strings.NewReplacer("{s}", "a", "{z}", "0", "{x}", "0", "{y}", "0", "{r}", "").Replace(tileURL))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("gallery: tile URL %q: want http(s)://host/…/{z}/{x}/{y}.png", tileURL)
		}
		host := u.Host
		if strings.Contains(tileURL, "{s}") {
			// {s} is a subdomain letter: allow the sibling hosts.
			_, rest, _ := strings.Cut(host, ".")
			host = "*." + rest
		}
		img += " " + u.Scheme + "://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'", nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	// Rendition and download URLs carry signatures: never send them on.
	hdr.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// user is the signed-in caller of one request.
type user struct {
	session session
	secret  string
	caller  *policy.Caller
}

// canRead is checked first by every route that names a bucket, so it also
// refuses names S3 would not accept: the gallery must check grants and
// read the index under the very name the S3 handler acts on ("a/b" is
// bucket a to it).
func (u *user) canRead(bucket string) bool {
	return classify.ValidBucket(bucket) == nil && u.caller.Authorize(classify.GetObject, bucket, "") == nil
}

// signedIn wraps a handler that needs a session. The session is checked
// against the user's current secret on every request, so a removed user
// or a rotated secret ends it at once.
func (h *handler) signedIn(fn func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, secret, err := parseSession(cookieValue(r), h.cfg.SessionKey, h.cfg.Now(), h.cfg.Policy.Secret)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "NotSignedIn", "sign in with your access key and secret key")
			return
		}
		fn(w, r, &user{session: s, secret: secret, caller: h.cfg.Policy.Caller(s.accessKey)})
	}
}

// reading wraps a handler that reads the index: it counts against the
// user's rate and in-flight limits as an S3 request does, so a signed-in
// browser cannot search harder than its owner may list. (Writes are S3
// requests and are admitted by the S3 handler.)
func (h *handler) reading(fn func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		release, err := u.caller.Admit(r.Context())
		if err != nil {
			e := s3err.From(err)
			w.Header().Set("Retry-After", strconv.Itoa(max(1, e.RetryAfter)))
			writeError(w, http.StatusServiceUnavailable, string(e.Code), e.Description())
			return
		}
		defer release()
		fn(w, r, u)
	})
}

// changing wraps a state-changing handler: it needs a session, the
// session's CSRF token in X-CSRF-Token, and, when the browser says where
// the request comes from, the gallery's own origin.
func (h *handler) changing(fn func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		if !sameOrigin(r) || !hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(u.session.csrf(h.cfg.SessionKey, u.secret))) {
			writeError(w, http.StatusForbidden, "CSRFCheckFailed", "the request did not come from the gallery page; reload it")
			return
		}
		fn(w, r, u)
	})
}

// sameOrigin checks the browser's own statement of where a request comes
// from (Sec-Fetch-Site, or Origin), where it made one.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// signInRequest is the body of POST /gallery/api/session.
type signInRequest struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// sessionResponse describes the signed-in user to the page.
type sessionResponse struct {
	User       string   `json:"user"`
	AccessKey  string   `json:"access_key"`
	CSRF       string   `json:"csrf"`
	Expires    string   `json:"expires"`
	Buckets    []string `json:"buckets"`  // readable
	Writable   []string `json:"writable"` // of those, where uploads are allowed
	CanCreate  bool     `json:"can_create_buckets"`
	Renditions bool     `json:"renditions"`
	TileURL    string   `json:"tile_url,omitempty"`
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "CSRFCheckFailed", "sign in from the gallery page")
		return
	}
	ip := r.RemoteAddr
	if err := h.cfg.Policy.AuthAllowed(ip); err != nil {
		writeError(w, http.StatusServiceUnavailable, "SlowDown", "too many failed sign-ins from your address; wait and retry")
		return
	}
	var in signInRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "want a JSON body with access_key and secret_key")
		return
	}
	secret, ok := h.cfg.Policy.Secret(in.AccessKey)
	if !ok || !equalSecret(secret, in.SecretKey) {
		h.cfg.Policy.AuthFailed(ip)
		h.cfg.Logger.Info("gallery: sign-in refused", "access_key", in.AccessKey, "remote", ip)
		writeError(w, http.StatusUnauthorized, "InvalidCredentials", "the access key and secret key do not match a photogate user")
		return
	}
	s := newSession(in.AccessKey, h.cfg.Now(), h.cfg.SessionTTL)
	setCookie(w, r, s.value(h.cfg.SessionKey, secret), s.expires)
	h.cfg.Logger.Info("gallery: signed in", "access_key", in.AccessKey, "remote", ip)
	h.whoAmI(w, r, &user{session: s, secret: secret, caller: h.cfg.Policy.Caller(in.AccessKey)})
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request, _ *user) {
	setCookie(w, r, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) whoAmI(w http.ResponseWriter, r *http.Request, u *user) {
	readable, err := h.readableBuckets(r, u)
	if err != nil {
		h.fail(w, r, "session", err)
		return
	}
	resp := sessionResponse{
		User: u.caller.Name(), AccessKey: u.session.accessKey,
		CSRF: u.session.csrf(h.cfg.SessionKey, u.secret), Expires: u.session.expires.UTC().Format(time.RFC3339),
		Buckets: readable, Writable: []string{}, Renditions: len(h.cfg.URLKey) > 0, TileURL: h.cfg.TileURL,
		CanCreate: u.caller.Authorize(classify.CreateBucket, "*", "") == nil,
	}
	for _, b := range readable {
		if u.caller.Authorize(classify.PutObject, b, "") == nil {
			resp.Writable = append(resp.Writable, b)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// readableBuckets are the buckets the user may read among those the
// backend lists to them (when they may list buckets), the index holds
// photos of, or their grants name.
func (h *handler) readableBuckets(r *http.Request, u *user) ([]string, error) {
	st, err := h.cfg.Index.Stats(r.Context())
	if err != nil {
		return nil, err
	}
	names := u.caller.NamedBuckets(classify.ActionRead)
	for _, b := range st.Buckets {
		names = append(names, b.Name)
	}
	if u.caller.Authorize(classify.ListBuckets, "", "") == nil {
		listed, err := h.listBuckets(r, u)
		if err != nil {
			return nil, err
		}
		names = append(names, listed...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	readable := slices.DeleteFunc(names, func(b string) bool { return !u.canRead(b) })
	if readable == nil {
		readable = []string{} // the page reads a list
	}
	return readable, nil
}

// photoItem is a search result as the page shows it.
type photoItem struct {
	api.Item
	Thumb string `json:"thumb,omitempty"` // signed rendition URL
}

type searchResponse struct {
	Items      []photoItem `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// search answers the index API's search parameters for one bucket the
// user may read. The bucket is required: a search of "every bucket" would
// cross buckets the user has no grant on.
func (h *handler) search(w http.ResponseWriter, r *http.Request, u *user) {
	// Strictly: url.Query drops a malformed pair, and a dropped filter
	// widens the search (as the index API reasons).
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalidParameter, "malformed query string: "+err.Error())
		return
	}
	if b := values.Get("bucket"); !u.canRead(b) {
		h.forbidden(w, b)
		return
	}
	q, err := api.ParseSearch(values)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeInvalidParameter, err.Error())
		return
	}
	page, err := h.cfg.Index.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, "search", err)
		return
	}
	resp := searchResponse{Items: make([]photoItem, 0, len(page.Items)), NextCursor: page.NextCursor}
	for i := range page.Items {
		rec := &page.Items[i]
		if rec.Bucket != q.Bucket {
			continue // never: the query names one bucket
		}
		resp.Items = append(resp.Items, photoItem{Item: api.ItemFromRecord(rec), Thumb: h.renditionURL(rec, api.SizeThumb)})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) renditionURL(rec *metastore.Record, size string) string {
	if len(h.cfg.URLKey) == 0 || rec.Format == "" {
		return ""
	}
	return api.SignRenditionURL(h.cfg.URLKey, h.cfg.Now(), rec.Bucket, rec.Key, size, rec.ETag, renditionURLTTL).URL
}

type facetsResponse struct {
	Field  string           `json:"field"`
	Values []api.FacetValue `json:"values"`
}

func (h *handler) facets(w http.ResponseWriter, r *http.Request, u *user) {
	bucket, field := r.URL.Query().Get("bucket"), r.URL.Query().Get("field")
	if !u.canRead(bucket) {
		h.forbidden(w, bucket)
		return
	}
	facets, err := h.cfg.Index.Facets(r.Context(), field, bucket)
	if err != nil {
		h.fail(w, r, "facets", err)
		return
	}
	resp := facetsResponse{Field: field, Values: make([]api.FacetValue, len(facets))}
	for i, f := range facets {
		resp.Values[i] = api.FacetValue{Value: f.Value, Count: f.Count}
	}
	writeJSON(w, http.StatusOK, resp)
}

type monthsResponse struct {
	Year   int       `json:"year"`
	Counts [12]int64 `json:"counts"` // January first, months in UTC as the date filter reads them
}

// months answers the timeline's month counts for one year of a bucket.
func (h *handler) months(w http.ResponseWriter, r *http.Request, u *user) {
	bucket := r.URL.Query().Get("bucket")
	if !u.canRead(bucket) {
		h.forbidden(w, bucket)
		return
	}
	year, err := strconv.Atoi(r.URL.Query().Get("year"))
	if err != nil || year < 1 || year > 9999 {
		writeError(w, http.StatusBadRequest, api.CodeInvalidParameter, "year: want a year from 1 to 9999")
		return
	}
	counts, err := h.cfg.Index.TakenMonths(r.Context(), bucket, year)
	if err != nil {
		h.fail(w, r, "months", err)
		return
	}
	writeJSON(w, http.StatusOK, monthsResponse{Year: year, Counts: counts})
}

type photoResponse struct {
	Item     api.Item `json:"item"`
	Preview  string   `json:"preview,omitempty"`
	Download string   `json:"download"`
	Writable bool     `json:"writable"` // tags may be edited
}

func (h *handler) photo(w http.ResponseWriter, r *http.Request, u *user) {
	bucket, key := r.URL.Query().Get("bucket"), r.URL.Query().Get("key")
	if !u.canRead(bucket) {
		h.forbidden(w, bucket)
		return
	}
	rec, found, err := h.cfg.Index.Get(r.Context(), bucket, key)
	if err != nil {
		h.fail(w, r, "photo", err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "NoSuchKey", "no indexed photo "+bucket+"/"+key)
		return
	}
	download, err := h.presignedGet(r, u, bucket, key)
	if err != nil {
		h.fail(w, r, "photo", err)
		return
	}
	writeJSON(w, http.StatusOK, photoResponse{
		Item: api.ItemFromRecord(&rec), Preview: h.renditionURL(&rec, api.SizePreview), Download: download,
		Writable: u.caller.Authorize(classify.PutObjectTagging, bucket, key) == nil,
	})
}

// s3Base is the S3 listener's URL as the browser can reach it.
func (h *handler) s3Base(r *http.Request) (*url.URL, error) {
	u, err := url.Parse(h.cfg.S3URL)
	if err != nil {
		return nil, fmt.Errorf("gallery: S3 URL %q: %w", h.cfg.S3URL, err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		browserHost, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			browserHost = r.Host
		}
		host = browserHost
	}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else {
		u.Host = host
	}
	return u, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	// The index API's error shape, so one client reads both.
	b, _ := json.Marshal(api.ErrorResponse{Error: api.ErrorBody{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// forbidden answers a bucket the user may not read the same way whether
// or not it exists, so the gallery does not reveal bucket names.
func (h *handler) forbidden(w http.ResponseWriter, bucket string) {
	writeError(w, http.StatusForbidden, "AccessDenied", "you have no read grant on bucket "+strconv.Quote(bucket))
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var qe *metastore.QueryError
	var refused *s3Refusal
	if errors.As(err, &refused) {
		writeError(w, refused.status, refused.code, refused.message)
		return
	}
	if errors.As(err, &qe) {
		writeError(w, http.StatusBadRequest, api.CodeInvalidParameter, qe.Param+": "+qe.Msg)
		return
	}
	if r.Context().Err() != nil {
		return
	}
	h.cfg.Logger.Error("gallery: request failed", "op", op, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, api.CodeInternal, "the request failed; the photogate log has the details")
}

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
