package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/photogate/photogate/s3/chunked"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/integrity"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// uploadBody is a request body made ready for the backend: decoded from the
// client's framing and verified as it streams, with its end held back until
// every check passed, so a failing body aborts the backend request instead
// of completing it.
type uploadBody struct {
	reader io.ReadCloser // nil when there is no body
	length int64         // decoded length

	mode      string // payload mode, for the log
	algorithm string // checksum algorithm of the upload (verified here or by the backend), for the log

	upstreamHash        string      // x-amz-content-sha256 for the backend
	trailer             http.Header // checksum trailer re-sent to the backend, or nil
	forwardSDKAlgorithm bool        // keep x-amz-sdk-checksum-algorithm

	tap *tapReader
}

func (b *uploadBody) err() error {
	if b.tap == nil {
		return nil
	}
	if e := b.tap.err.Load(); e != nil {
		return *e
	}
	return nil
}

// teePrefix keeps the first n bytes of the body (all of a shorter one) in
// buf as they pass; cap(buf) must hold them. It must be called before the
// body is read, on a body with a tap; releasePrefix gives buf back.
func (b *uploadBody) teePrefix(buf []byte, n int64) {
	b.tap.head = buf[:0]
	b.tap.headMax = int(min(n, b.length, int64(cap(buf))))
	b.tap.teed = true
}

// prefix is the body's first bytes seen so far. It is valid until
// releasePrefix.
func (b *uploadBody) prefix() []byte {
	if b.tap == nil {
		return nil
	}
	b.tap.headMu.Lock()
	defer b.tap.headMu.Unlock()
	return b.tap.head
}

// releasePrefix detaches teePrefix's buffer from the body: a Read still
// running afterwards (the backend transport writes the body on a goroutine
// of its own, which may outlive the request after an early answer) no
// longer touches it, so the buffer can be reused.
func (b *uploadBody) releasePrefix() {
	b.tap.headMu.Lock()
	b.tap.head = nil
	b.tap.headMu.Unlock()
}

func (b *uploadBody) count() int64 {
	if b.tap == nil {
		return 0
	}
	return b.tap.n.Load()
}

func payloadMode(hash string) string {
	switch hash {
	case sigv4.UnsignedPayload:
		return "unsigned"
	case sigv4.StreamingSigned:
		return "streaming-signed"
	case sigv4.StreamingSignedTrailer:
		return "streaming-signed-trailer"
	case sigv4.StreamingUnsignedTrailer:
		return "streaming-unsigned-trailer"
	}
	return "signed"
}

// newUploadBody prepares r's body for the backend. kind is what the body
// is to the operation: for PartBytes (CompleteMultipartUpload) the
// x-amz-checksum-* headers describe the object being composed, not this
// body: they travel on for the backend to check, and the body is checked by
// its hash and Content-MD5 only.
func newUploadBody(r *http.Request, auth *sigv4.Result, kind classify.Bytes) (*uploadBody, error) {
	objectChecksums := kind == classify.PartBytes
	hash := auth.PayloadHash
	b := &uploadBody{mode: payloadMode(hash), upstreamHash: sigv4.UnsignedPayload}
	var alg, headerSum string
	if !objectChecksums {
		var err error
		if alg, headerSum, err = integrity.AlgorithmFromHeaders(r.Header); err != nil {
			return nil, err
		}
	}
	expect := integrity.Expect{Length: r.ContentLength, MD5: r.Header.Get("Content-MD5"), Algorithm: alg}
	if headerSum != "" {
		expect.Checksum = func() string { return headerSum }
		b.forwardSDKAlgorithm = true // the header travels on, and MinIO checks it too
	}

	var src io.Reader = r.Body
	var trailerName string
	var decoder *chunked.Reader
	switch hash {
	case sigv4.StreamingSigned, sigv4.StreamingSignedTrailer, sigv4.StreamingUnsignedTrailer:
		decoded := r.Header.Get("X-Amz-Decoded-Content-Length")
		if decoded == "" {
			return nil, s3err.New(s3err.MissingContentLength, "Streaming uploads must send x-amz-decoded-content-length.")
		}
		n, err := strconv.ParseInt(decoded, 10, 64)
		if err != nil || n < 0 {
			return nil, s3err.New(s3err.InvalidArgument, "Invalid x-amz-decoded-content-length.")
		}
		trailers := declaredTrailers(r.Header)
		if hash == sigv4.StreamingSigned && len(trailers) > 0 {
			return nil, s3err.New(s3err.InvalidRequest, "x-amz-trailer needs a *-TRAILER payload mode.")
		}
		for _, name := range trailers {
			talg, ok := integrity.TrailerAlgorithm(name)
			if !ok {
				continue
			}
			if alg != "" {
				return nil, s3err.New(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header or trailer.")
			}
			alg, trailerName = talg, name
		}
		// AWS SDKs send a body of known length as one chunk, so a chunk may
		// be as large as an object (5 GiB). The decoder streams chunk data,
		// so this costs no memory.
		opts := chunked.Options{SeedSignature: auth.Signature, Trailers: trailers, MaxChunkSize: maxObjectSize}
		if hash != sigv4.StreamingUnsignedTrailer {
			opts.Signer = auth
		}
		decoder = chunked.NewReader(r.Body, opts)
		src = decoder
		expect.Length = n
		expect.Algorithm = alg
		if trailerName != "" {
			expect.Checksum = func() string { return decoder.Trailer().Get(trailerName) }
		}
	case sigv4.UnsignedPayload:
	default:
		if _, err := hex.DecodeString(hash); err != nil || len(hash) != 64 {
			return nil, s3err.New(s3err.InvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a SHA-256 hex digest.")
		}
		// The integrity reader verifies this digest and holds back the
		// body's last byte until it has, so a body that does not match
		// never completes at the backend. Asking the backend to hash the
		// same bytes again would only double the SHA-256 work of every
		// signed upload (MinIO's share of a 16 MiB PUT): the hop goes
		// UNSIGNED-PAYLOAD, as it does for the client's own unsigned mode.
		expect.SHA256 = hash
	}
	if expect.Length < 0 {
		return nil, s3err.New(s3err.MissingContentLength, "")
	}
	authenticated := expect.SHA256 != "" || hash == sigv4.StreamingSigned
	if authenticated && kind == classify.BodyBytes && trailerName == "" {
		// An object's (or part's) bytes authenticated by SHA-256 (a signed
		// digest, or signed chunks) are the client's, byte for byte. Their
		// Content-MD5 and x-amz-checksum-* header then travel on to the
		// backend, which computes both anyway (the MD5 for the ETag, the
		// checksum to store it) and refuses an object that does not match
		// them (BadDigest, see s3ErrorOf); computing them here too hashed
		// every signed upload twice. An unsigned payload has no other check
		// here, a trailer is rewritten into the backend's framing, and
		// MinIO does not check every small XML body's Content-MD5, so those
		// are still verified here.
		if expect.MD5 != "" {
			// Malformed is refused before anything is reserved or
			// recorded for the upload, as when photogate checks the sum.
			if _, err := integrity.DecodeContentMD5(expect.MD5); err != nil {
				return nil, err
			}
		}
		expect.MD5, expect.Algorithm, expect.Checksum = "", "", nil
	}
	b.length = expect.Length
	b.algorithm = alg

	needsCheck := expect.MD5 != "" || expect.SHA256 != "" || alg != "" || decoder != nil
	if b.length == 0 && !needsCheck {
		return b, nil
	}
	ir, err := integrity.NewReader(src, expect)
	if err != nil {
		return nil, err
	}
	b.tap = &tapReader{r: ir, closer: r.Body}
	if b.length == 0 {
		// Empty bodies are checked before forwarding: the transport would
		// send an empty non-nil body as chunked, and there is nothing to
		// stream. A trailer checksum then travels on as a header.
		if _, err := io.Copy(io.Discard, b.tap); err != nil {
			return nil, err
		}
		if b.upstreamHash == sigv4.UnsignedPayload && expect.SHA256 == "" && decoder != nil {
			b.upstreamHash = sigv4.EmptySHA256
		}
		if trailerName != "" {
			r.Header.Set(trailerName, decoder.Trailer().Get(trailerName))
			b.forwardSDKAlgorithm = true
		}
		return b, nil
	}
	b.reader = b.tap
	if trailerName != "" {
		// Re-send the verified checksum as a trailer so MinIO checks the
		// hop too. The signer sizes the stream from the placeholder, which
		// therefore has the final value's length; the real value is filled
		// in when the verified body ends, before the signer writes it.
		key := http.CanonicalHeaderKey(trailerName)
		b.trailer = http.Header{key: {strings.Repeat("A", checksumEncodedLen(alg))}}
		b.tap.atEOF = func() { b.trailer[key][0] = decoder.Trailer().Get(trailerName) }
		b.upstreamHash = sigv4.StreamingUnsignedTrailer
		b.forwardSDKAlgorithm = true
	}
	return b, nil
}

// maxObjectSize is S3's limit for a single PUT.
const maxObjectSize = 5 << 30

// declaredTrailers lists the lower-case names in X-Amz-Trailer.
func declaredTrailers(h http.Header) []string {
	var names []string
	for _, v := range h.Values("X-Amz-Trailer") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// checksumEncodedLen is the length of a base64 checksum of algorithm alg.
func checksumEncodedLen(alg string) int {
	switch alg {
	case "CRC32", "CRC32C":
		return 8
	case "CRC64NVME":
		return 12
	case "SHA1":
		return 28
	}
	return 44 // SHA256
}

// tapReader counts the bytes passed on, remembers the first real error
// (which is the client's fault and must not count against the backend), and
// runs atEOF once before reporting the end of the body. The transport reads
// the body on its own goroutine, hence the atomics.
type tapReader struct {
	r      io.Reader
	closer io.Closer
	n      atomic.Int64
	err    atomic.Pointer[error]
	atEOF  func()
	// teed is set before the first Read when the body's first bytes are
	// kept in head, up to headMax; releasePrefix sets head to nil.
	teed    bool
	headMu  sync.Mutex
	head    []byte
	headMax int

	reading atomic.Bool // inside a Read of the client's body
	ended   atomic.Bool // the body reached its end
}

func (t *tapReader) Read(p []byte) (int, error) {
	t.reading.Store(true)
	n, err := t.r.Read(p)
	t.reading.Store(false)
	t.n.Add(int64(n))
	if n > 0 && t.teed {
		t.headMu.Lock()
		if room := t.headMax - len(t.head); room > 0 && t.head != nil {
			t.head = append(t.head, p[:min(n, room)]...)
		}
		t.headMu.Unlock()
	}
	if err == io.EOF {
		t.ended.Store(true)
	}
	switch {
	case err == io.EOF && t.atEOF != nil:
		t.atEOF()
		t.atEOF = nil
	case err != nil && err != io.EOF:
		t.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (t *tapReader) Close() error { return t.closer.Close() }

var (
	errClientStalled  = errors.New("the client sent no body bytes for too long")
	errBackendStalled = errors.New("the backend read no body bytes for too long")
)

// watchBody cancels an upload whose body makes no progress for idle: either
// the client stopped sending (it would otherwise hold a goroutine and a
// backend connection forever) or the backend stopped reading (the backend's
// response timeout only starts once the body is written). Which side
// stalled shows in whether the proxy is blocked reading the client.
//
// Cancelling is not enough for a client stall: the transport waits for its
// body-writing goroutine, which is blocked reading the client, and only the
// client connection's read deadline (interruptRead) can wake it.
func watchBody(t *tapReader, idle time.Duration, cancel context.CancelCauseFunc, interruptRead func()) (stop func()) {
	last := int64(-1)
	var timer *time.Timer
	timer = time.AfterFunc(idle, func() {
		switch n := t.n.Load(); {
		case t.ended.Load():
			return
		case n != last:
			last = n
			timer.Reset(idle)
		case t.reading.Load():
			cancel(errClientStalled)
			interruptRead()
		default:
			cancel(errBackendStalled)
		}
	})
	return func() { timer.Stop() }
}

// stallGuard cancels the backend request when the backend sends nothing of
// its answer's body for idle while photogate waits for it: a backend that
// hangs mid-download would otherwise hold the client, and a connection,
// for as long as the client waits. The clock runs only while photogate is
// reading, so a slow client, which blocks photogate's writes instead, is
// never cut.
type stallGuard struct {
	body  io.ReadCloser
	idle  time.Duration
	timer *time.Timer
}

func guardStalls(body io.ReadCloser, idle time.Duration, cancel context.CancelCauseFunc) *stallGuard {
	t := time.AfterFunc(idle, func() { cancel(errBackendStalled) })
	t.Stop()
	return &stallGuard{body: body, idle: idle, timer: t}
}

func (g *stallGuard) Read(p []byte) (int, error) {
	g.timer.Reset(g.idle)
	n, err := g.body.Read(p)
	g.timer.Stop()
	return n, err
}

func (g *stallGuard) Close() error {
	g.timer.Stop()
	return g.body.Close()
}

// splicer is a backend body that can hand its connection to a writer
// (backend.SpliceBody).
type splicer interface {
	Splice(dst io.Writer, waiting func(bool)) (int64, error)
}

// splice writes the body to dst through the zero-copy path when the body
// has one (ok says whether it had). The clock runs around each wait for
// the backend's next bytes only, never around a hand-over to dst: a timer
// around a whole ReadFrom would also time the client, whose slow reads
// block the splice into its socket, and cut a slow client. The backend
// bounds each hand-over by what it already received, so the waits it
// reports are all the waiting on the backend there is.
func (g *stallGuard) splice(dst io.Writer) (n int64, ok bool, err error) {
	s, ok := g.body.(splicer)
	if !ok {
		return 0, false, nil
	}
	n, err = s.Splice(dst, func(waiting bool) {
		if waiting {
			g.timer.Reset(g.idle)
		} else {
			g.timer.Stop()
		}
	})
	return n, true, err
}

// prefixPool recycles the buffers uploads' prefixes are kept in, in size
// classes of powers of two from 4 KiB up, so that a small upload takes a
// buffer at most twice its size (a pool of one size, the largest prefix,
// would hold far more memory per small upload than a fresh buffer did).
type prefixPool struct {
	classes [prefixClasses]sync.Pool // *[]byte of capacity minPrefixBuffer << i
}

const (
	minPrefixBuffer = 4 << 10
	prefixClasses   = 8 // up to 512 KiB, above extract.PrefixSize
)

// get returns a buffer of capacity n or more, up to twice n (or
// minPrefixBuffer); n above the largest class gets a buffer of its own.
func (p *prefixPool) get(n int64) *[]byte {
	for i := range p.classes {
		if size := int64(minPrefixBuffer) << i; n <= size {
			if b, ok := p.classes[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, 0, size)
			return &b
		}
	}
	b := make([]byte, 0, n)
	return &b
}

// put recycles b, which get returned and nothing references any more.
func (p *prefixPool) put(b *[]byte) {
	for i := range p.classes {
		if cap(*b) == minPrefixBuffer<<i {
			p.classes[i].Put(b)
			return
		}
	}
}

// clientBody is a request's body as the client sends it, remembering how
// much of it was read and whether it reached its end, so that an upload
// answered before its end can have the rest drained (startDrain). It is the
// body of the handler's shallow copy of the request only: net/http's own
// request keeps its body, which its checks on an unread body look at.
type clientBody struct {
	mu sync.Mutex // the forwarding goroutine may still be reading when the drain starts
	io.ReadCloser
	remain         atomic.Int64 // bytes of a Content-Length body not read yet; -1 for chunked
	started, ended atomic.Bool
}

func newClientBody(r *http.Request) *clientBody {
	b := &clientBody{ReadCloser: r.Body}
	b.remain.Store(r.ContentLength)
	return b
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.started.Store(true)
	n, err := b.ReadCloser.Read(p)
	left := b.remain.Load()
	if left > 0 {
		left = b.remain.Add(-int64(n))
	}
	// A reader that takes exactly Content-Length bytes (net/http's own
	// request writer does) never asks for the EOF after them.
	if err == io.EOF || left == 0 {
		b.ended.Store(true)
	}
	return n, err
}

// Close leaves the body open: the backend transport closes its request's
// body when it is done with it, and the rest may still need draining.
// net/http closes the body itself when the handler returns.
func (b *clientBody) Close() error { return nil }

// The drain is bounded: it serves clients that send a whole upload before
// they read (an SDK's single PUT or part is 5 to 64 MiB), and beyond that
// the connection is closed on the unread rest as net/http would close it.
// Less than net/http's own 256 KiB is left to net/http, which reads it
// before it writes the answer and keeps the connection.
const (
	maxDrainBytes = 64 << 20
	minDrainBytes = 256 << 10
	drainTimeout  = 30 * time.Second
)

// startDrain decides, as the answer's head is about to be written, whether
// drainUnread will read the rest of the body after it, and if so makes
// that possible: full duplex (net/http otherwise settles the body's fate
// when the head is written) and Connection: close, so that whatever the
// drain leaves unread is never read as the next request.
//
// Many clients (Python's http.client under boto3 and aws-cli, for one)
// send the whole body before they read the answer. net/http reads at most
// 256 KiB of an unread body and then closes the connection, and a close
// with unread bytes is a reset: the client sees "connection reset" and
// retries, instead of the NoSuchBucket, NoSuchUpload or refused type the
// answer said. Only a signer's own uploads over HTTP/1.x are drained: not
// anonymous or presigned callers, not HTTP/2 (a stream is reset without
// the connection), and not a client that asked for 100-continue and was
// never sent it (no body is coming).
func (s *Server) startDrain(w http.ResponseWriter, r *http.Request, b *clientBody, x *exchange) bool {
	left := b.remain.Load()
	switch {
	case b.ended.Load(), r.ProtoMajor != 1, x.user == "", x.presigned, x.op.Spec().Bytes == classify.NoBytes,
		left >= 0 && left <= minDrainBytes, r.ContentLength > maxDrainBytes, s3err.Is(x.err, s3err.RequestTimeout),
		!b.started.Load() && strings.EqualFold(r.Header.Get("Expect"), "100-continue"):
		return false
	}
	if http.NewResponseController(w).EnableFullDuplex() != nil {
		return false
	}
	w.Header().Set("Connection", "close")
	return true
}

// drainUnread reads and discards the rest of the body after the answer
// (startDrain said it will), which it flushes first so that a client that
// reads while it sends can stop early. The connection closes after it.
func (s *Server) drainUnread(w http.ResponseWriter, b *clientBody) {
	rc := http.NewResponseController(w)
	// The deadline comes first: it also ends a read the forwarding
	// goroutine may still be blocked in, which holds the body's lock.
	if rc.SetReadDeadline(time.Now().Add(drainTimeout)) != nil || rc.Flush() != nil {
		return
	}
	bufp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bufp)
	rest := &io.LimitedReader{R: b, N: maxDrainBytes}
	for rest.N > 0 {
		if _, err := rest.Read(*bufp); err != nil {
			return
		}
	}
}
