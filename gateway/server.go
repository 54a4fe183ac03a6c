// Package gateway is photogate's S3 front: a streaming reverse proxy that
// authenticates each request (SigV4), names its operation, asks policy, then
// forwards it re-signed to the backend with the body verified on the way.
package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/change"
	"github.com/photogate/photogate/metastore/extract"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/integrity"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3req"
	"github.com/photogate/photogate/s3/s3xml"
	"github.com/photogate/photogate/s3/sigv4"
)

// Config assembles a Server.
type Config struct {
	Backend     *backend.Backend
	Policy      Policy
	Index       change.Index // nil: no metadata index
	Lookup      IndexLookup  // nil: quotas cannot credit replaced objects
	Logger      *slog.Logger
	BaseDomains []string // virtual-host style: <bucket>.<base domain>
	HostID      string   // x-amz-id-2 value identifying this instance
	// BodyIdleTimeout cancels an upload whose body makes no progress for
	// this long, in either direction; 0 means 2 minutes.
	BodyIdleTimeout time.Duration
	Metrics         *observe.Metrics // nil: not measured
	Audit           *observe.Audit   // nil: no audit log
	// InternalBuckets are photogate's own buckets in the backend (the
	// renditions): no S3 request may touch them, as target or copy
	// source, and ListBuckets does not show them, whatever the grants.
	InternalBuckets []string
}

// Server serves the S3 API. It is an http.Handler.
type Server struct {
	backend     *backend.Backend
	policy      Policy
	index       change.Index
	lookup      IndexLookup
	log         *slog.Logger
	baseDomains []string
	hostID      string
	bodyIdle    time.Duration
	metrics     *observe.Metrics
	audit       *observe.Audit
	verifier    *sigv4.Verifier
	partTypes   *partTypes
	buffers     sync.Pool  // *[]byte of copyBufferSize for response bodies
	prefixes    prefixPool // buffers for upload prefixes
	internal    map[string]bool
}

const copyBufferSize = 128 << 10

// NewServer returns a Server ready to serve.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		backend:     cfg.Backend,
		policy:      cfg.Policy,
		index:       cfg.Index,
		lookup:      cfg.Lookup,
		log:         cfg.Logger,
		baseDomains: cfg.BaseDomains,
		hostID:      cfg.HostID,
		bodyIdle:    cmp.Or(cfg.BodyIdleTimeout, 2*time.Minute),
		partTypes:   newPartTypes(),
		internal:    make(map[string]bool, len(cfg.InternalBuckets)),
		metrics:     cfg.Metrics,
		audit:       cfg.Audit,
		verifier: &sigv4.Verifier{
			Secrets: cfg.Policy.Secret,
			// SigV2 does not sign the Host header, so the verifier must be
			// told which bucket a virtual-host request names, exactly as the
			// gateway resolves it.
			VirtualHostBucket: func(host string) string {
				t, err := classify.Resolve(host, "/", cfg.BaseDomains)
				if err != nil {
					return ""
				}
				return t.Bucket
			},
		},
	}
	s.buffers.New = func() any { b := make([]byte, copyBufferSize); return &b }
	for _, b := range cfg.InternalBuckets {
		s.internal[b] = true
	}
	return s
}

// exchange is what the gateway learned about one request, for its log line.
type exchange struct {
	id          string
	op          classify.Op
	target      classify.Target
	user        string // access key, as the request log shows it
	presigned   bool   // user signed a URL; the caller holds it
	userName    string // the configured name of user: what quotas, index owners and the audit log use
	payload     string
	checksum    string
	bytesIn     int64
	backendTime time.Duration
	backendID   string // the backend's x-amz-request-id, which its error bodies carry
	status      int
	bytesOut    int64
	err         error
	keys        []string // DeleteObjects: the keys asked for, for the audit log
}

func newRequestID() string {
	return strings.ToUpper(strconv.FormatUint(rand.Uint64()|1<<63, 16))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	done := s.metrics.RequestStarted()
	x := &exchange{id: newRequestID()}
	h := w.Header()
	h.Set("X-Amz-Request-Id", x.id)
	h.Set("X-Amz-Id-2", s.hostID)
	h.Set("Server", "photogate")
	// Objects are the users' bytes: a browser must not run one it was
	// told is an image as a script or style sheet.
	h.Set("X-Content-Type-Options", "nosniff")
	rw := &responseRecorder{ResponseWriter: w}
	var body *clientBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = newClientBody(r)
		// A shallow copy carries the watched body: net/http's checks on
		// an unread body (close the connection, or send no 100 Continue)
		// look at the body of its own request.
		shallow := *r
		shallow.Body = body
		r = &shallow
		rw.beforeHeader = func() { rw.draining = s.startDrain(w, r, body, x) }
	}

	broken := false
	var err error
	if r.Method == http.MethodOptions {
		x.op = corsPreflight
		err = s.preflight(rw, r, x)
	} else {
		s.addCORS(h, r)
		err = s.serve(r.Context(), rw, r, x)
	}
	if err != nil {
		x.err = err
		switch {
		case rw.wroteHeader:
			// The backend's body broke mid-stream after the status went
			// out: abort the connection so the client cannot take a short
			// body for a whole object (as httputil.ReverseProxy does).
			broken = true
		case r.Method == http.MethodHead:
			s3err.WriteHead(rw, err)
			s.metrics.S3Error(string(x.op), string(s3err.From(err).Code))
		default:
			s3err.Write(rw, err, r.URL.Path, x.id, s.hostID)
			s.metrics.S3Error(string(x.op), string(s3err.From(err).Code))
		}
	}
	x.status, x.bytesOut = rw.status, rw.written
	done(string(x.op), x.status, x.bytesIn, x.bytesOut)
	s.logExchange(r, x, time.Since(start))
	s.auditExchange(r, x)
	if broken {
		panic(http.ErrAbortHandler)
	}
	if rw.draining {
		s.drainUnread(rw, body)
	}
}

func (s *Server) serve(ctx context.Context, w *responseRecorder, r *http.Request, x *exchange) error {
	// A header S3 reads once, sent twice, is read differently by different
	// parsers (Content-Type "image/jpeg,text/html" was stored as such).
	if err := sigv4.CheckSingleValuedHeaders(r.Header); err != nil {
		return err
	}
	target, err := classify.Resolve(r.Host, r.URL.Path, s.baseDomains)
	if err != nil {
		return err
	}
	x.target = target

	auth, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if s.internal[target.Bucket] {
		return internalBucketError()
	}
	x.user, x.presigned = auth.AccessKey, auth.Presigned
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return s3err.Wrap(s3err.InvalidURI, "", err)
	}
	stripPresignParams(query, r.Header, auth)
	op, err := classify.Classify(r.Method, target.Bucket, target.Key, query, r.Header)
	if err != nil {
		return err
	}
	x.op = op
	if op.Spec().FormAuth {
		return s.postObject(ctx, w, r, x, target)
	}
	if auth.AccessKey == "" && hasResponseOverride(query) {
		return s3err.New(s3err.InvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
	}
	return s.forward(ctx, w, r, x, auth, target, query, op, s.copyResponse)
}

// respondFunc sends the backend's answer to the client; raw, when not nil,
// is its body, already read.
type respondFunc func(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte) error

// forward takes an authenticated, classified request the rest of the way:
// admission, authorisation, the body checks, the intent, the backend, the
// index, and the answer through respond.
func (s *Server) forward(ctx context.Context, w *responseRecorder, r *http.Request, x *exchange, auth *sigv4.Result,
	target classify.Target, query url.Values, op classify.Op, respond respondFunc) error {
	// One Caller answers every policy question about this request, so a
	// reload cannot judge it by two policies.
	caller := s.policy.Caller(auth.AccessKey)
	x.userName = caller.Name()
	release, err := caller.Admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx = observe.WithOperation(ctx, string(op))
	spec := op.Spec()

	var src *s3req.CopySource
	if spec.Bytes == classify.CopiedBytes {
		cs, err := s3req.ParseCopySource(r.Header.Get("X-Amz-Copy-Source"))
		if err != nil {
			return err
		}
		src = &cs
		if s.internal[src.Bucket] {
			return internalBucketError()
		}
	}
	switch {
	case op == classify.ListBuckets && len(s.internal) > 0:
		respond = s.hideInternalBuckets(respond)
	case op == classify.CompleteMultipartUpload:
		respond = s.ownLocation(respond, target)
	}
	if err := authorize(caller, op, target, src, r.Header); err != nil {
		return err
	}
	if err := op.CheckHeaders(r.Header); err != nil {
		return err
	}

	body, err := newUploadBody(r, auth, spec.Bytes)
	if err != nil {
		return err
	}
	if s.index != nil && spec.Index == classify.Streamed {
		// Before admission reads the head for the type check: the one tap
		// on the body feeds both the type sniff and the metadata extractor.
		// The buffer is pooled (a fresh one per upload was most of what a
		// small PUT allocated, and so of its garbage collection): its only
		// reader, the index's extraction in conclude (extract.FromPrefix,
		// which keeps nothing of it), is done with it when forward
		// returns, and it is detached from the body before it is reused.
		if body.tap != nil {
			n := min(int64(extract.PrefixSize), body.length)
			bufp := s.prefixes.get(n)
			body.teePrefix(*bufp, n)
			defer func() {
				body.releasePrefix()
				s.prefixes.put(bufp)
			}()
		}
	}
	adm, err := s.admitUpload(ctx, r, caller, op, target, src, body)
	if err != nil {
		return err
	}
	kept := false
	defer func() { adm.release(kept) }()
	x.payload, x.checksum = body.mode, body.algorithm

	var m *mutation
	if s.index != nil && spec.Index != classify.NoEffect {
		if m, err = s.prepare(ctx, op, target, body, x.userName); err != nil {
			return err
		}
		if m != nil {
			x.keys = m.keys
		}
	}

	out := s.outboundRequest(r, op, target, query, body)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if body.reader != nil {
		rc := http.NewResponseController(w)
		defer watchBody(body.tap, s.bodyIdle, cancel, func() { _ = rc.SetReadDeadline(time.Now()) })()
	}
	if spec.Index == classify.Composed || spec.Bytes == classify.CopiedBytes {
		// The backend copies or assembles before it answers.
		ctx = backend.ExpectSlowAnswer(ctx)
	}
	begin := time.Now()
	resp, err := s.backend.Do(ctx, out, body.upstreamHash, body.trailer, body.err)
	x.backendTime = time.Since(begin)
	x.bytesIn = body.count()
	switch cause := context.Cause(ctx); {
	case err == nil:
	case errors.Is(cause, errClientStalled):
		err = s3err.Wrap(s3err.RequestTimeout, "", cause)
	case errors.Is(cause, errBackendStalled):
		err = s3err.Wrap(s3err.ServiceUnavailable, "The storage backend stopped reading the upload.", cause)
	}
	if err != nil {
		switch {
		case m == nil:
		case body.err() != nil || backend.NotSent(err):
			// Certainly not applied: the breaker sent nothing, and a body
			// that failed its checks was cut off before it could complete.
			s.abandon(ctx, m)
		default:
			// The backend may have acted before the answer was lost.
			s.settle(ctx, x.id, m)
		}
		return fmt.Errorf("%s %s/%s: %w", op, target.Bucket, target.Key, err)
	}
	resp.Body = guardStalls(resp.Body, s.bodyIdle, cancel)
	defer resp.Body.Close()
	x.backendID = resp.Header.Get("X-Amz-Request-Id")
	var raw []byte
	if adm.part != nil && resp.StatusCode == http.StatusOK {
		if raw, err = s.recordPart(adm.part, resp); err != nil {
			return err
		}
	}
	if m == nil {
		kept = resp.StatusCode < 300
		s.ended(adm, kept)
		return respond(w, r, resp, raw)
	}
	raw, kept, err = s.conclude(ctx, r, op, target, m, body, resp)
	s.ended(adm, kept)
	if err != nil {
		// The backend did what was asked; the client hears so. The index
		// catches up when the intent is resolved.
		s.log.LogAttrs(ctx, slog.LevelError, "index update failed; intent left for recovery",
			slog.String("request_id", x.id), slog.Uint64("intent", m.intent), slog.String("error", err.Error()))
	}
	return respond(w, r, resp, raw)
}

// corsPreflight names CORS preflight requests in logs and metrics; they
// are not S3 operations and never reach the backend.
const corsPreflight classify.Op = "CORSPreflight"

// preflight answers a browser's CORS preflight (OPTIONS) from the bucket's
// CORS rules, without a signature, as S3 does: the request the browser then
// sends is authenticated and authorised as usual. MinIO has no per-bucket
// CORS, so photogate answers for it.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, x *exchange) error {
	target, err := classify.Resolve(r.Host, r.URL.Path, s.baseDomains)
	if err != nil {
		return err
	}
	x.target = target
	origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return s3err.New(s3err.InvalidRequest, "A CORS preflight needs the Origin and Access-Control-Request-Method headers.")
	}
	var asked []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				asked = append(asked, strings.ToLower(h))
			}
		}
	}
	answer, ok := s.policy.Caller("").Engine().CORS(target.Bucket, origin, method, asked)
	if !ok {
		return s3err.New(s3err.AccessDenied, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
	}
	answer.Headers(w.Header(), true)
	w.WriteHeader(http.StatusOK)
	return nil
}

// addCORS adds the CORS response headers to a request from a browser
// (one with an Origin) that a CORS rule of its bucket allows, errors
// included, so that a web page can read why an upload was refused.
func (s *Server) addCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	target, err := classify.Resolve(r.Host, r.URL.Path, s.baseDomains)
	if err != nil {
		return
	}
	if answer, ok := s.policy.Caller("").Engine().CORS(target.Bucket, origin, r.Method, nil); ok {
		answer.Headers(h, false)
	}
}

// hasResponseOverride reports a response-* parameter, which makes the
// backend answer with caller-chosen headers (response-content-type=text/html
// would turn a public photo bucket into a host for pages). AWS refuses them
// on anonymous requests, and so does photogate.
func hasResponseOverride(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "response-") {
			return true
		}
	}
	return false
}

// auditExchange records every request that changes something (or tried
// to) in the audit log: who, what, when, and how it ended.
func (s *Server) auditExchange(r *http.Request, x *exchange) {
	if s.audit == nil {
		return
	}
	if x.op != "" {
		if a := x.op.Action(); a != classify.ActionWrite && a != classify.ActionDelete && a != classify.ActionAdmin {
			return
		}
	} else if r.Method != http.MethodPut && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		return
	}
	user := cmp.Or(x.userName, x.user)
	code := ""
	if x.err != nil {
		code = string(s3err.From(x.err).Code)
	}
	_ = s.audit.Record(r.Context(), observe.AuditEvent{
		RequestID: x.id, User: user, Method: r.Method, Op: string(x.op),
		Bucket: x.target.Bucket, Key: x.target.Key, Keys: x.keys,
		Status: x.status, Error: code, Remote: r.RemoteAddr,
	})
}

// settle hands the intent of a request whose answer was lost to the index's
// recovery, which reads the keys back from the backend.
func (s *Server) settle(ctx context.Context, requestID string, m *mutation) {
	if err := s.index.Settle(context.WithoutCancel(ctx), m.intent); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "handing an intent to recovery after a lost backend answer failed; recovery will find it",
			slog.String("request_id", requestID), slog.Uint64("intent", m.intent), slog.String("error", err.Error()))
	}
}

// recordPart keeps the type verdict of a part the backend accepted, under
// the ETag it gave the part: from the ETag header of an UploadPart, or from
// the CopyPartResult of an UploadPartCopy (whose bytes it returns, to be
// sent to the client in place of the consumed body).
func (s *Server) recordPart(v *partVerdict, resp *http.Response) ([]byte, error) {
	if etag := resp.Header.Get("ETag"); etag != "" {
		s.partTypes.record(*v, etag)
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, fmt.Errorf("reading part copy result: %w", err)
	}
	if etag, err := s3xml.WrittenETag(raw); err == nil {
		s.partTypes.record(*v, etag)
	}
	return raw, nil
}

// ended forgets the part verdicts of a multipart upload once it was
// completed or aborted.
func (s *Server) ended(adm *admission, kept bool) {
	if kept && adm.uploadEnds != "" {
		s.partTypes.forget(adm.uploadEnds)
	}
}

func (s *Server) abandon(ctx context.Context, m *mutation) {
	if err := s.index.Abandon(context.WithoutCancel(ctx), m.intent); err != nil {
		s.log.Error("abandon intent", "intent", m.intent, "error", err)
	}
}

// presignParams authenticate a presigned URL; they must not reach the
// backend, which would try to verify them with its own keys.
var presignParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256",
}

// stripPresignParams removes the authentication parameters from a
// request's query, and moves the signed query parameters that stand for
// headers into header.
func stripPresignParams(q url.Values, header http.Header, auth *sigv4.Result) {
	for _, p := range presignParams {
		q.Del(p)
	}
	if mode, ok := q["X-Amz-Checksum-Mode"]; ok {
		// aws-sdk-go-v2 presigns GetObject with the checksum mode in the
		// query, where it is signed; it means what the header means, and
		// the header is what the operation table knows.
		q.Del("X-Amz-Checksum-Mode")
		if len(mode) == 1 && header.Get("X-Amz-Checksum-Mode") == "" {
			header.Set("X-Amz-Checksum-Mode", mode[0])
		}
	}
	if auth.Version == 2 && auth.Presigned {
		// V2 presigned URLs: the credentials, and the x-amz-* headers that
		// clients (botocore) move into the query, signed as headers.
		for k := range q {
			if k == "AWSAccessKeyId" || k == "Signature" || k == "Expires" || strings.HasPrefix(strings.ToLower(k), "x-amz-") {
				q.Del(k)
			}
		}
	}
}

// outboundRequest builds the request for the backend from what was
// authorised: the operation's allowed headers only (classify's table), so
// nothing photogate does not understand reaches the backend under its
// credential: no backend-internal x-minio-* header, no header that would
// turn a PUT into a copy, no privileged header the caller was not granted.
// Framing and authentication are photogate's own and set by the backend
// client.
func (s *Server) outboundRequest(r *http.Request, op classify.Op, t classify.Target, query url.Values, body *uploadBody) *http.Request {
	header := make(http.Header, len(r.Header)+2)
	for k, vv := range r.Header {
		if op.HeaderAllowed(k) {
			header[k] = vv
		}
	}
	if ce := s3req.StripAWSChunked(header.Values("Content-Encoding")); ce != "" {
		header.Set("Content-Encoding", ce)
	} else {
		header.Del("Content-Encoding")
	}
	if !body.forwardSDKAlgorithm {
		header.Del("X-Amz-Sdk-Checksum-Algorithm")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		header.Set("X-Forwarded-For", ip)
	}

	path := "/"
	if t.Bucket != "" {
		path += t.Bucket + "/" + t.Key
	}
	out := &http.Request{
		Method:        r.Method,
		URL:           &url.URL{Path: path, RawPath: s3utils.EncodePath(path), RawQuery: strings.ReplaceAll(query.Encode(), "+", "%20")},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          body.reader,
		ContentLength: body.length,
	}
	if body.reader == nil {
		out.Body = nil
		out.ContentLength = 0
	}
	return out
}

// copyResponse relays the backend's answer. raw, when not nil, is the body
// already read from resp.
func (s *Server) copyResponse(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte) error {
	if raw == nil && resp.StatusCode >= 400 && r.Method != http.MethodHead && resp.ContentLength >= 0 && resp.ContentLength <= maxErrorBody {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return fmt.Errorf("reading backend error: %w", err)
		}
		code := elementText(b, "Code")
		if resp.StatusCode == http.StatusForbidden && (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId") {
			// photogate signed this request, not the client: the backend
			// refused photogate's own credential. Blaming the client's key
			// would send its owner chasing the wrong secret.
			s.log.LogAttrs(r.Context(), slog.LevelError, "the backend refused photogate's credentials; check PHOTOGATE_BACKEND_ACCESS_KEY and PHOTOGATE_BACKEND_SECRET_KEY",
				slog.String("request_id", w.Header().Get("X-Amz-Request-Id")), slog.String("backend_code", code))
			e := s3err.New(s3err.ServiceUnavailable, "The storage backend refused photogate's credentials; the operator has been told.")
			e.RetryAfter = 5
			return e
		}
		if resp.StatusCode >= 500 {
			// MinIO appends its internal error (drive paths, node
			// addresses) to some 5xx messages: that stays in the log.
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "backend error",
				slog.String("request_id", w.Header().Get("X-Amz-Request-Id")), slog.Int("status", resp.StatusCode),
				slog.String("backend_code", code), slog.String("backend_message", elementText(b, "Message")))
			msg := s3err.New(s3err.Code(code), "").Description()
			if msg == "" {
				msg = "The storage backend could not complete the request."
			}
			b = setElement(b, "Message", msg)
		}
		// A backend error: give it this request's ids, so the id a client
		// reports is the one in photogate's log (which also keeps the
		// backend's id as backend_request_id).
		raw = setElement(setElement(s3ErrorOf(b, r), "RequestId", w.Header().Get("X-Amz-Request-Id")), "HostId", s.hostID)
	}
	h := w.Header()
	for k, vv := range resp.Header {
		if !backendHeaderForwarded(k, vv, resp.StatusCode) {
			continue
		}
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			// net/http canonicalised the name; S3 sends user metadata names
			// lower-case and SDKs hand them to users as sent (boto3's
			// Metadata["camera"] must not become "Camera").
			h[strings.ToLower(k)] = vv
			continue
		}
		h[k] = vv
	}
	if raw != nil {
		h.Set("Content-Length", strconv.Itoa(len(raw)))
		w.WriteHeader(resp.StatusCode)
		_, err := w.Write(raw)
		return err
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return nil
	}
	// A large GET's body goes from the backend's connection to the
	// client's in the kernel when both ends allow it (backend.SpliceBody,
	// net/http's ReadFrom); net/http copies the first 512 bytes itself. A
	// TLS client connection cannot take a splice: the pooled copy is
	// cheaper there than the splice loop's per-chunk waits.
	if g, ok := resp.Body.(*stallGuard); ok && r.TLS == nil {
		if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
			if _, spliced, err := g.splice(splicingWriter{w, rf}); spliced {
				if err != nil {
					return fmt.Errorf("streaming response: %w", err)
				}
				return nil
			}
		}
	}
	bufp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bufp)
	if _, err := io.CopyBuffer(writerOnly{w}, resp.Body, *bufp); err != nil {
		// Headers are gone already; all that is left is to cut the stream
		// so the client sees a short body rather than a silently short object.
		return fmt.Errorf("streaming response: %w", err)
	}
	return nil
}

// backendHeaderForwarded reports whether a header of the backend's answer
// reaches the client: the headers S3 defines for its answers, and nothing
// else. The backend's own (its rate-limit counters, its HSTS and XSS
// headers, its Server, its Date, its CORS answer, any x-amz-* header of its
// own invention) describe the backend, not the object; photogate's CORS
// answer, request ids and Date are photogate's.
func backendHeaderForwarded(name string, values []string, status int) bool {
	switch name {
	case "Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Range", "Content-Type", "Etag", "Expires", "Last-Modified", "Retry-After",
		"X-Amz-Abort-Date", "X-Amz-Abort-Rule-Id", "X-Amz-Access-Point-Alias", "X-Amz-Bucket-Location-Name",
		"X-Amz-Bucket-Location-Type", "X-Amz-Bucket-Region", "X-Amz-Checksum-Algorithm", "X-Amz-Checksum-Crc32",
		"X-Amz-Checksum-Crc32c", "X-Amz-Checksum-Crc64nvme", "X-Amz-Checksum-Sha1", "X-Amz-Checksum-Sha256",
		"X-Amz-Checksum-Type", "X-Amz-Copy-Source-Version-Id", "X-Amz-Delete-Marker", "X-Amz-Expiration",
		"X-Amz-Missing-Meta", "X-Amz-Mp-Parts-Count", "X-Amz-Object-Lock-Legal-Hold", "X-Amz-Object-Lock-Mode",
		"X-Amz-Object-Lock-Retain-Until-Date", "X-Amz-Object-Size", "X-Amz-Replication-Status",
		"X-Amz-Request-Charged", "X-Amz-Restore", "X-Amz-Restore-Output-Path", "X-Amz-Server-Side-Encryption",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled",
		"X-Amz-Server-Side-Encryption-Context", "X-Amz-Server-Side-Encryption-Customer-Algorithm",
		"X-Amz-Server-Side-Encryption-Customer-Key-Md5", "X-Amz-Storage-Class", "X-Amz-Tagging-Count",
		"X-Amz-Version-Id", "X-Amz-Website-Redirect-Location":
		return true
	case "Location":
		// CreateBucket's "/bucket". An absolute URL would name the
		// backend's host.
		return len(values) == 1 && strings.HasPrefix(values[0], "/") && !strings.HasPrefix(values[0], "//")
	case "X-Minio-Error-Code":
		// The S3 error of an answer without a body (HEAD), which minio-go
		// reads to tell NoSuchBucket from NoSuchKey.
		return status >= 300
	case "X-Minio-Error-Desc":
		// A 5xx description can carry the backend's internal error text.
		return status >= 300 && status < 500
	}
	return strings.HasPrefix(name, "X-Amz-Meta-")
}

// s3ErrorOf gives a backend error document the code and message S3 sends
// where the backend's differ: a checksum that does not match the body is
// BadDigest on S3 and XAmzContentChecksumMismatch on MinIO, and the
// Content-MD5 errors get S3's wording (MinIO writes "Content-Md5", the
// embedded backend only the code).
func s3ErrorOf(doc []byte, r *http.Request) []byte {
	alg, _, _ := integrity.AlgorithmFromHeaders(r.Header)
	switch code := s3err.Code(elementText(doc, "Code")); {
	case code == s3err.XAmzContentChecksumMismatch:
		return setElement(setElement(doc, "Code", string(s3err.BadDigest)), "Message",
			"The "+cmp.Or(alg, "checksum")+" you specified did not match the calculated checksum.")
	case (code == s3err.BadDigest || code == s3err.InvalidDigest) && alg == "":
		return setElement(doc, "Message", s3err.New(code, "").Description())
	}
	return doc
}

// maxErrorBody bounds the backend error bodies photogate rewrites.
const maxErrorBody = 64 << 10

// setElement sets the text of the first <name>…</name> in an S3 error
// document, adding the element before </Error> when the document has none.
func setElement(doc []byte, name, value string) []byte {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(value))
	open, end := []byte("<"+name+">"), []byte("</"+name+">")
	if i := bytes.Index(doc, open); i >= 0 {
		if j := bytes.Index(doc[i:], end); j >= 0 {
			out := make([]byte, 0, len(doc)+esc.Len())
			out = append(out, doc[:i+len(open)]...)
			out = append(out, esc.Bytes()...)
			return append(out, doc[i+j:]...)
		}
		return doc
	}
	k := bytes.LastIndex(doc, []byte("</Error>"))
	if k < 0 {
		return doc
	}
	out := make([]byte, 0, len(doc)+len(open)+esc.Len()+len(end))
	out = append(out, doc[:k]...)
	out = append(out, open...)
	out = append(out, esc.Bytes()...)
	out = append(out, end...)
	return append(out, doc[k:]...)
}

// elementText is the text of the first <name>…</name> in an XML document,
// "" if there is none.
func elementText(doc []byte, name string) string {
	_, rest, ok := bytes.Cut(doc, []byte("<"+name+">"))
	if !ok {
		return ""
	}
	text, _, ok := bytes.Cut(rest, []byte("</"+name+">"))
	if !ok {
		return ""
	}
	return string(text)
}

// writerOnly hides ReadFrom so io.CopyBuffer uses our pooled buffer.
type writerOnly struct{ io.Writer }

// splicingWriter hands a spliced body to the ResponseWriter under w (whose
// ReadFrom passes a TCP source on to the client's connection), counting
// what it sends as w's own Write does.
type splicingWriter struct {
	w  *responseRecorder
	rf io.ReaderFrom
}

func (s splicingWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s splicingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := s.rf.ReadFrom(r)
	s.w.written += n
	return n, err
}

func (s *Server) logExchange(r *http.Request, x *exchange, d time.Duration) {
	level := slog.LevelInfo
	if x.status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("request_id", x.id),
		slog.String("method", r.Method),
		slog.String("op", string(x.op)),
		slog.String("bucket", x.target.Bucket),
		slog.String("key", x.target.Key),
		slog.String("user", x.userName),
		slog.String("access_key", x.user),
		slog.Int("status", x.status),
		slog.Int64("bytes_in", x.bytesIn),
		slog.Int64("bytes_out", x.bytesOut),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Float64("backend_ms", float64(x.backendTime.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	}
	if x.backendID != "" {
		attrs = append(attrs, slog.String("backend_request_id", x.backendID))
	}
	if x.payload != "" {
		attrs = append(attrs, slog.String("payload", x.payload))
	}
	if x.checksum != "" {
		attrs = append(attrs, slog.String("checksum", x.checksum))
	}
	if x.err != nil {
		e := s3err.From(x.err)
		attrs = append(attrs, slog.String("error_code", string(e.Code)), slog.String("error", x.err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "s3 request", attrs...)
}

// responseRecorder notes the status and byte count for the log line.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
	// beforeHeader runs before the status is written: whether to drain
	// the request's body is decided there (startDrain).
	beforeHeader func()
	draining     bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if w.beforeHeader != nil {
		w.beforeHeader()
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
