// Package api serves photogate's admin JSON API under /api/v1: search over
// the photo index, facets, stats and single-object lookups. Every route
// requires the operator's bearer token (PHOTOGATE_ADMIN_TOKEN); without a
// configured token the API is disabled rather than open.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/s3/s3err"
)

// Searcher is what the API needs from the index (every metastore.Index
// satisfies it).
type Searcher interface {
	Search(ctx context.Context, q metastore.Query) (metastore.Page, error)
	Facets(ctx context.Context, field, bucket string) ([]metastore.Facet, error)
	Stats(ctx context.Context) (metastore.Stats, error)
	Get(ctx context.Context, bucket, key string) (metastore.Record, bool, error)
}

// Config assembles the API handler.
type Config struct {
	Index Searcher
	// Token is the bearer token every request must carry. Empty disables
	// the API (403 on every route): an index of someone's photos, with
	// their GPS positions, is not something to serve unauthenticated by
	// accident.
	Token string
	// Signed, when set, admits requests signed with SigV4 (Authorization:
	// AWS4-HMAC-SHA256 ...) instead of the token: it verifies the signature
	// and that the signer may administer every bucket, and returns nil to
	// admit. With Signed set the API is enabled even without a Token.
	Signed func(r *http.Request) error
	Logger *slog.Logger // nil: discard
	// Checker, when set, serves POST /api/v1/check: a full comparison of
	// index and backend, with ?repair=true fixing what it finds.
	Checker Checker
	// Backup, when set, serves GET /api/v1/backup: a consistent snapshot
	// of the whole index file (metastore.Store.Backup). Leave it nil for
	// an index whose database has its own backup tools (PostgreSQL).
	Backup Backup
	// Jobs, when set, serves GET /api/v1/jobs, GET /api/v1/jobs/{id} and
	// POST /api/v1/jobs/retry.
	Jobs JobQueue
	// Renditions, when set, serves GET /api/v1/renditions/{bucket}/{key}
	// and POST /api/v1/renditions/rebuild.
	Renditions Renditions
	// URLKey signs and verifies the short-lived rendition URLs that
	// ?sign=true hands out; every replica must have the same. Empty: no
	// signed URLs.
	URLKey []byte
	// Now is the clock of signed URLs; nil is time.Now.
	Now func() time.Time
	// Timeout bounds each request's work in the index. Zero means 30s.
	// A search that filters on something no index narrows walks the whole
	// index inside one bbolt read transaction, and a long read transaction
	// keeps writers from reusing pages (the file grows), so it must end.
	Timeout time.Duration
}

const defaultTimeout = 30 * time.Second

// checkTimeout bounds a full check (it lists the whole backend) and a
// backup (it copies the whole index).
const checkTimeout = time.Hour

// Backup writes a consistent snapshot of the index to w.
type Backup func(ctx context.Context, w io.Writer) (int64, error)

// Checker compares the index with the backend, object by object (and
// repairs the differences when asked); the report is answered as JSON.
type Checker func(ctx context.Context, repair bool) (report any, err error)

// New returns a handler for the /api/v1/ routes (mount it at "/api/" on the
// admin mux; it expects the full path, so no http.StripPrefix).
//
// Object keys in /api/v1/objects/{bucket}/{key} may contain slashes as
// they are. Keys with empty or dot segments ("a//b", "x/../y") must be sent
// with each "/" escaped as %2F, because HTTP muxes clean such paths and
// would redirect to a different key.
func New(cfg Config) http.Handler {
	if cfg.Index == nil {
		panic("api.New: Config.Index is nil")
	}
	h := &handler{
		index:    cfg.Index,
		enabled:  cfg.Token != "" || cfg.Signed != nil,
		hasToken: cfg.Token != "",
		signed:   cfg.Signed,
		// Only a digest of the token is kept: comparing fixed-size
		// digests in constant time hides the token's length as well as
		// its bytes, which subtle.ConstantTimeCompare on the raw strings
		// would not.
		tokenSum:   sha256.Sum256([]byte(cfg.Token)),
		log:        cfg.Logger,
		timeout:    cfg.Timeout,
		jobQueue:   cfg.Jobs,
		renditions: cfg.Renditions,
		urlKey:     cfg.URLKey,
		now:        cfg.Now,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.timeout <= 0 {
		h.timeout = defaultTimeout
	}
	// Method checks are done by get() rather than with "GET /..." patterns
	// so that a wrong method gets a JSON 405 like every other answer here,
	// not the mux's plain-text one.
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/search", h.get(h.search))
	mux.HandleFunc("/api/v1/facets", h.get(h.facets))
	mux.HandleFunc("/api/v1/stats", h.get(h.stats))
	mux.HandleFunc("/api/v1/objects/{bucket}/{key...}", h.get(h.object))
	if cfg.Checker != nil {
		mux.HandleFunc("/api/v1/check", h.post(func(w http.ResponseWriter, r *http.Request) {
			h.check(w, r, cfg.Checker)
		}))
	}
	if cfg.Jobs != nil {
		mux.HandleFunc("/api/v1/jobs", h.get(h.jobs))
		mux.HandleFunc("/api/v1/jobs/{id}", h.get(h.job))
		mux.HandleFunc("/api/v1/jobs/retry", h.post(h.retryJobs))
	}
	if cfg.Renditions != nil {
		mux.HandleFunc("/api/v1/renditions/{bucket}/{key...}", h.get(func(w http.ResponseWriter, r *http.Request) {
			h.rendition(w, r, false)
		}))
		mux.HandleFunc("/api/v1/renditions/rebuild", h.post(h.rebuild))
	}
	if cfg.Backup != nil {
		mux.HandleFunc("/api/v1/backup", h.get(func(w http.ResponseWriter, r *http.Request) {
			h.backup(w, r, cfg.Backup)
		}))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: "no such API route: " + r.URL.Path})
	})
	h.mux = mux
	return h
}

type handler struct {
	index    Searcher
	enabled  bool
	hasToken bool
	signed   func(*http.Request) error
	tokenSum [sha256.Size]byte
	log      *slog.Logger
	timeout  time.Duration
	mux      *http.ServeMux

	jobQueue   JobQueue
	renditions Renditions
	urlKey     []byte
	now        func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Answers carry photo metadata and locations: never cache them, in
	// browsers or in proxies.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if !h.enabled {
		h.writeError(w, http.StatusForbidden, ErrorBody{
			Code:    CodeDisabled,
			Message: "the admin API is disabled: set PHOTOGATE_ADMIN_TOKEN (admin_token in the config file) to a long random secret and restart photogate",
		})
		return
	}
	// A signed rendition URL is its own credential, checked by the
	// rendition route for exactly what it grants.
	if h.renditions != nil && r.URL.Query().Has("sig") && strings.HasPrefix(r.URL.Path, "/api/v1/renditions/") {
		h.serveSigned(w, r)
		return
	}
	// Authentication comes before routing, so a caller without the token
	// cannot even learn which routes exist.
	if reason := h.authenticate(r); reason != "" {
		// The token itself is never logged, only why it was refused.
		h.log.Info("admin API: authentication failed", "reason", reason,
			"remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		hdr.Set("WWW-Authenticate", "Bearer")
		h.writeError(w, http.StatusUnauthorized, ErrorBody{
			Code:    CodeUnauthorized,
			Message: "send the admin token as 'Authorization: Bearer <token>', or sign the request (SigV4) as a user with the admin grant on every bucket",
		})
		return
	}
	timeout := h.timeout
	if r.URL.Path == "/api/v1/check" || r.URL.Path == "/api/v1/backup" || r.URL.Path == "/api/v1/renditions/rebuild" {
		timeout = checkTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	h.mux.ServeHTTP(w, r.WithContext(ctx))
}

// authenticate returns "" if r carries the token, else why not.
func (h *handler) authenticate(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "no Authorization header"
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	if scheme == "AWS4-HMAC-SHA256" && h.signed != nil {
		if err := h.signed(r); err != nil {
			return "signed request refused: " + err.Error()
		}
		return ""
	}
	if !strings.EqualFold(scheme, "Bearer") { // auth schemes are case-insensitive (RFC 9110 §11.1)
		return "not a bearer token"
	}
	if !h.hasToken {
		return "no admin token is configured; sign the request (SigV4) as a user with admin on every bucket"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
		return "wrong token"
	}
	return ""
}

// check runs a full index/backend comparison (POST, as it may repair).
func (h *handler) check(w http.ResponseWriter, r *http.Request, c Checker) {
	repair := false
	switch v := r.URL.Query().Get("repair"); v {
	case "", "false":
	case "true":
		repair = true
	default:
		h.writeError(w, http.StatusBadRequest, ErrorBody{Code: CodeInvalidParameter, Param: "repair", Message: "want true or false"})
		return
	}
	rep, err := c(r.Context(), repair)
	if err != nil {
		h.fail(w, r, "check", err)
		return
	}
	h.log.Info("admin API: index check", "repair", repair, "report", rep)
	h.writeJSON(w, r, http.StatusOK, rep)
}

// backup streams a snapshot of the index. Its size is only known once
// written, so the client checks the result by opening it (photogate backup
// does); a copy cut short by an error here is not a valid bbolt file.
func (h *handler) backup(w http.ResponseWriter, r *http.Request, b Backup) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Disposition", `attachment; filename="photogate-index-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
	if r.Method == http.MethodHead {
		return
	}
	start := time.Now()
	n, err := b(r.Context(), w)
	if err != nil {
		// The status is sent with the first byte; all that is left is to
		// cut the response so the client sees a broken transfer.
		h.log.Warn("admin API: backup failed", "bytes", n, "error", err)
		if n == 0 {
			hdr.Del("Content-Disposition")
			h.fail(w, r, "backup", err)
			return
		}
		panic(http.ErrAbortHandler)
	}
	h.log.Info("admin API: index backup", "bytes", n, "duration_ms", time.Since(start).Milliseconds())
}

// post admits POST only: the routes that change something.
func (h *handler) post(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			h.writeError(w, http.StatusMethodNotAllowed, ErrorBody{Code: CodeMethodNotAllowed, Message: r.Method + " is not allowed here; use POST"})
			return
		}
		fn(w, r)
	}
}

// get admits GET and HEAD only.
func (h *handler) get(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.writeError(w, http.StatusMethodNotAllowed, ErrorBody{Code: CodeMethodNotAllowed, Message: r.Method + " is not allowed here; use GET"})
			return
		}
		fn(w, r)
	}
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	q, err := ParseSearch(values)
	if err != nil {
		h.fail(w, r, "search", err)
		return
	}
	page, err := h.index.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, "search", err)
		return
	}
	resp := SearchResponse{Items: make([]Item, len(page.Items)), NextCursor: page.NextCursor}
	for i := range page.Items {
		resp.Items[i] = ItemFromRecord(&page.Items[i])
	}
	h.log.Debug("admin API: search", "query", r.URL.RawQuery, "items", len(resp.Items), "plan", page.Plan)
	h.writeJSON(w, r, http.StatusOK, resp)
}

func (h *handler) facets(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{"field": true, "bucket": true}); err != nil {
		h.fail(w, r, "facets", err)
		return
	}
	field := values.Get("field")
	if field == "" {
		h.fail(w, r, "facets", &paramError{Param: "field", Msg: "required: one of make, model, lens, format, year"})
		return
	}
	facets, err := h.index.Facets(r.Context(), field, values.Get("bucket"))
	if err != nil {
		h.fail(w, r, "facets", err)
		return
	}
	resp := FacetsResponse{Field: field, Values: make([]FacetValue, len(facets))}
	for i, f := range facets {
		resp.Values[i] = FacetValue{Value: f.Value, Count: f.Count}
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}

func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{}); err != nil {
		h.fail(w, r, "stats", err)
		return
	}
	st, err := h.index.Stats(r.Context())
	if err != nil {
		h.fail(w, r, "stats", err)
		return
	}
	resp := StatsResponse{
		SchemaVersion:  st.SchemaVersion,
		Objects:        st.Objects,
		Bytes:          st.Bytes,
		Buckets:        make([]BucketStats, len(st.Buckets)),
		Users:          make([]UserStats, len(st.Owners)),
		Extraction:     make(map[string]int64, len(st.Status)),
		PendingIntents: st.PendingIntents,
		Jobs:           make(map[string]JobStats, len(st.Jobs)),
	}
	for i, b := range st.Buckets {
		resp.Buckets[i] = BucketStats{Bucket: b.Name, Objects: b.Objects, Bytes: b.Bytes}
	}
	for i, o := range st.Owners {
		resp.Users[i] = UserStats{User: o.Name, Objects: o.Objects, Bytes: o.Bytes}
	}
	for k, n := range st.Status {
		resp.Extraction[k] = n
	}
	for k, j := range st.Jobs {
		resp.Jobs[k] = JobStats{Queued: j.Queued, Failed: j.Failed}
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}

func (h *handler) object(w http.ResponseWriter, r *http.Request) {
	values, ok := h.query(w, r)
	if !ok {
		return
	}
	if err := checkParams(values, map[string]bool{}); err != nil {
		h.fail(w, r, "get object", err)
		return
	}
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if key == "" {
		h.fail(w, r, "get object", &paramError{Param: "key", Msg: "missing: use /api/v1/objects/{bucket}/{key}"})
		return
	}
	if rec, ok := h.record(w, r, "get object", bucket, key); ok {
		h.writeJSON(w, r, http.StatusOK, ItemFromRecord(&rec))
	}
}

// record reads bucket/key from the index, answering the failure or the
// 404 itself when there is no record to go on with.
func (h *handler) record(w http.ResponseWriter, r *http.Request, op, bucket, key string) (metastore.Record, bool) {
	rec, found, err := h.index.Get(r.Context(), bucket, key)
	if err != nil {
		h.fail(w, r, op, err)
		return rec, false
	}
	if !found {
		h.writeError(w, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: "no indexed object " + bucket + "/" + key})
		return rec, false
	}
	return rec, true
}

// query parses the query string strictly: r.URL.Query() silently drops
// malformed pairs, and a dropped filter widens the search.
func (h *handler) query(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, http.StatusBadRequest, ErrorBody{Code: CodeInvalidParameter, Message: "malformed query string: " + err.Error()})
		return nil, false
	}
	return values, true
}

// fail answers err: 400 naming the parameter for bad input, 503 when the
// work ran out of time, else 500 with the details only in the log.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var (
		pe *paramError
		qe *metastore.QueryError
	)
	switch {
	case errors.As(err, &pe):
		h.writeError(w, http.StatusBadRequest, ErrorBody{Code: CodeInvalidParameter, Param: pe.Param, Message: pe.Msg})
		return
	case errors.As(err, &qe):
		h.writeError(w, http.StatusBadRequest, ErrorBody{Code: CodeInvalidParameter, Param: apiParam(qe.Param), Message: qe.Msg})
		return
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		h.log.Warn("admin API: request timed out", "op", op, "query", r.URL.RawQuery, "timeout", h.timeout.String())
		h.writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: CodeTimeout,
			Message: fmt.Sprintf("the index did not answer within %v; narrow the query (bucket, prefix, dates)", h.timeout)})
		return
	case backendUnavailable(err):
		h.log.Warn("admin API: the storage backend is unavailable", "op", op, "error", err)
		h.writeError(w, http.StatusServiceUnavailable, ErrorBody{Code: CodeBackendUnavailable,
			Message: s3err.From(err).Description() + " /readyz reports when it is back."})
		return
	case r.Context().Err() != nil:
		// The client went away; nobody is left to answer.
		h.log.Debug("admin API: request canceled", "op", op, "error", err)
		return
	}
	id := requestID()
	h.log.Error("admin API: request failed", "op", op, "request_id", id, "method", r.Method, "path", r.URL.Path, "error", err)
	h.writeError(w, http.StatusInternalServerError, ErrorBody{Code: CodeInternal,
		Message: "internal error; the photogate log has the details under this request_id", RequestID: id})
}

// backendUnavailable reports the backend client's refusals: its breaker is
// open, it does not answer, or it answered 503.
func backendUnavailable(err error) bool {
	return s3err.Is(err, s3err.SlowDown) || s3err.Is(err, s3err.ServiceUnavailable)
}

// apiParam maps a metastore.Query field name to the API parameter that
// sets it, where they differ.
func apiParam(p string) string {
	if p == "tags" {
		return "tag"
	}
	return p
}

func (h *handler) writeError(w http.ResponseWriter, status int, body ErrorBody) {
	h.writeJSON(w, nil, status, ErrorResponse{Error: body})
}

// writeJSON encodes v before writing anything, so an encoding failure is a
// clean 500 instead of a 200 with half a body.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keys and messages stay readable ("<" rather than "\u003c"); this is
	// never embedded in HTML, and nosniff stops browsers guessing it is.
	enc.SetEscapeHTML(false)
	err := enc.Encode(v) // Encode appends the newline
	b := buf.Bytes()
	if err != nil {
		id := requestID()
		attrs := []any{"request_id", id, "error", err}
		if r != nil {
			attrs = append(attrs, "path", r.URL.Path)
		}
		h.log.Error("admin API: encoding the response", attrs...)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorResponse{Error: ErrorBody{Code: CodeInternal,
			Message: "internal error; the photogate log has the details under this request_id", RequestID: id}})
		b = append(b, '\n')
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client is gone; nothing to do
}

// requestID is a random ID that ties an error answer to its log line.
func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
