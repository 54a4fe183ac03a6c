package backend

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ownTransport speaks HTTP/1.1 to a plain-http backend over TCP connections
// it pools itself, instead of net/http's Transport, for one reason: the body
// of a large GET can then be handed over as the backend's TCP connection
// itself (a SpliceBody), which the kernel moves to the client's connection
// without the bytes passing through photogate (splice(2) on Linux). The
// framing is net/http's own (Request.Write, ReadResponse); what this type
// adds is the pool, cancellation, the time to first byte and deciding when
// a connection is clean enough to reuse.
//
// It carries every request to a plain-http backend, not only GETs: one pool
// for all of them is what keeps a client's PUT, HEAD, GET and DELETE on one
// backend connection (two pools would open a connection in each).
type ownTransport struct {
	addr        string
	dialer      *net.Dialer
	maxIdle     int
	idleTimeout time.Duration

	mu   sync.Mutex
	idle []*ownConn // most recently used last

	splicedBytes atomic.Int64
}

type ownConn struct {
	tcp       *net.TCPConn
	br        *bufio.Reader
	bw        *bufio.Writer
	out       *connWriter // under bw
	idleSince time.Time
}

// connWriter writes to the connection for its bufio.Writer and keeps the
// last write error: net/http reports any failure while copying a request
// body, the connection's included, as a body read error, and a backend
// that stopped reading must be told apart from a client body that failed.
// Only the goroutine writing a request uses it.
type connWriter struct {
	tcp *net.TCPConn
	err error
}

func (w *connWriter) Write(p []byte) (int, error) {
	n, err := w.tcp.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func newOwnTransport(addr string, dialer *net.Dialer) *ownTransport {
	return &ownTransport{addr: addr, dialer: dialer, maxIdle: 256, idleTimeout: 90 * time.Second}
}

// handles reports whether req can go over ownTransport: a body of known
// length (or none), no trailer, and no Expect, whose interim answer only
// net/http's Transport handles.
func (t *ownTransport) handles(req *http.Request) bool {
	hasBody := req.Body != nil && req.Body != http.NoBody
	return (!hasBody || req.ContentLength > 0) && len(req.Trailer) == 0 && req.Header.Get("Expect") == ""
}

// get returns an idle connection that is still open, or dials one.
func (t *ownTransport) get(ctx context.Context) (*ownConn, error) {
	for {
		t.mu.Lock()
		// Connections idle too long are closed oldest first; the backend
		// closes them about then anyway.
		for len(t.idle) > 0 && time.Since(t.idle[0].idleSince) > t.idleTimeout {
			t.idle[0].tcp.Close()
			t.idle = t.idle[1:]
		}
		var c *ownConn
		if n := len(t.idle); n > 0 {
			c = t.idle[n-1]
			t.idle[n-1] = nil
			t.idle = t.idle[:n-1]
		}
		t.mu.Unlock()
		if c == nil {
			break
		}
		// A connection the backend closed while it was idle would fail the
		// request sent on it; net/http's Transport notices such closes
		// with a reader per idle connection, this pool asks the socket.
		if idleConnUsable(c.tcp) {
			return c, nil
		}
		c.tcp.Close()
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("dialing %s gave a %T, not a TCP connection", t.addr, nc)
	}
	// The writer's destination hides the connection's ReadFrom: bufio
	// would hand each request body to it, and for a body that is not a
	// file or a socket (never, here: it is the client's body after its
	// checks) net's fallback copies it through a fresh 32 KiB buffer per
	// request. Through bufio's own 64 KiB buffer it costs no allocation.
	out := &connWriter{tcp: tcp}
	return &ownConn{tcp: tcp, br: bufio.NewReaderSize(tcp, 64<<10), bw: bufio.NewWriterSize(out, 64<<10), out: out}, nil
}

// put makes c idle, or closes it when it is not clean or the pool is full.
func (t *ownTransport) put(c *ownConn) {
	if c.br.Buffered() > 0 || c.tcp.SetDeadline(time.Time{}) != nil {
		// Bytes after the end of the answer: the framing is off.
		c.tcp.Close()
		return
	}
	c.idleSince = time.Now()
	t.mu.Lock()
	if len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.tcp.Close()
		return
	}
	t.idle = append(t.idle, c)
	t.mu.Unlock()
}

func (t *ownTransport) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.tcp.Close()
	}
}

// answerGrace is how long an answer may still be read after the backend
// stopped taking a request's body.
const answerGrace = time.Second

// roundTrip sends req and reads the answer's head. headerTimeout bounds the
// wait for it once the request (body included) was written, as
// http.Transport's ResponseHeaderTimeout does. Ending req's context closes
// the connection, which ends whatever is blocked on it, the body's reader
// included.
func (t *ownTransport) roundTrip(req *http.Request, headerTimeout time.Duration) (*http.Response, error) {
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	c, err := t.get(ctx)
	if err != nil {
		if hasBody {
			req.Body.Close()
		}
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.tcp.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.tcp.Close()
		return nil, err
	}

	// The clock to the first byte starts when the request is written; an
	// answer that came before (an early refusal of an upload) stops it.
	var mu sync.Mutex
	answered := false
	write := func() error {
		err := req.Write(c.bw)
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if !answered {
			return c.tcp.SetReadDeadline(time.Now().Add(headerTimeout))
		}
		return nil
	}
	// written has the outcome of writing the request. A body is written
	// while the answer is awaited, as net/http does: the backend may refuse
	// an upload before it read it.
	written := make(chan error, 1)
	if hasBody {
		go func() {
			err := write()
			written <- err
			switch {
			case err == nil:
			case c.out.err != nil:
				// The backend stopped taking the body: it may have answered
				// first (NoSuchBucket, NoSuchUpload) and then reset the
				// connection on the unread rest. That answer is already
				// here to be read; closing would throw it away.
				mu.Lock()
				if !answered {
					_ = c.tcp.SetReadDeadline(time.Now().Add(answerGrace))
				}
				mu.Unlock()
			default:
				c.tcp.Close() // the body failed: end the wait for an answer
			}
		}()
	} else {
		err := write()
		written <- err
		if err != nil {
			return fail(err)
		}
	}

	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		// Interim answers (100 Continue unasked) are skipped, as net/http
		// does; 101 would be a protocol switch nobody asked for.
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	mu.Lock()
	answered = true
	derr := c.tcp.SetReadDeadline(time.Time{})
	mu.Unlock()
	if err == nil {
		err = derr
	}
	if err == nil && resp.StatusCode < 200 {
		err = fmt.Errorf("backend answered %d", resp.StatusCode)
	}
	if err != nil {
		// A failed write closes the connection after saying why, so an
		// answer lost to it finds the cause here (a client body that failed
		// its checks, a backend that reset the connection). A write still
		// blocked on the client's body is not waited for: closing the
		// connection ends it at its next write.
		select {
		case werr := <-written:
			if werr != nil {
				return fail(fmt.Errorf("writing request: %w", werr))
			}
		default:
		}
		return fail(err)
	}

	x := &exchange{t: t, c: c, stop: stop, written: written, reusable: !resp.Close && !req.Close}
	if req.Method == http.MethodGet && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) &&
		resp.ContentLength > 0 && len(resp.TransferEncoding) == 0 {
		// The body is read from the connection here, never by resp.Body.
		resp.Body = &SpliceBody{x: x, remain: resp.ContentLength}
		return resp, nil
	}
	resp.Body = &ownBody{x: x, body: resp.Body}
	return resp, nil
}

// exchange is one request on a connection, until its answer's body ends.
type exchange struct {
	t        *ownTransport
	c        *ownConn
	stop     func() bool // stops closing the connection when the context ends
	written  chan error  // the outcome of writing the request
	reusable bool        // the answer allows another request on its connection
	released atomic.Bool
}

// release ends the exchange: the connection goes back to the pool when the
// body was read to its end (clean says so), the request was written in
// full and the context did not close it; otherwise it is closed, since
// unread bytes of this answer would be taken for the next one's.
func (x *exchange) release(clean bool) {
	if !x.released.CompareAndSwap(false, true) {
		return
	}
	if !x.stop() {
		clean = false // the context ended: the connection is closed
	}
	if clean && x.reusable && x.wroteRequest() {
		x.t.put(x.c)
		return
	}
	x.c.tcp.Close()
}

// wroteRequest reports whether the request was written in full. An upload
// the backend answered early may still be being written; like net/http,
// this waits a moment for the write to end (it usually has, and only its
// report is late) and otherwise gives up the connection, which ends the
// write.
func (x *exchange) wroteRequest() bool {
	select {
	case err := <-x.written:
		return err == nil
	default:
	}
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case err := <-x.written:
		return err == nil
	case <-t.C:
		return false
	}
}

// ownBody is an answer's body read the ordinary way, through net/http's
// framing (Content-Length, chunked, or up to the connection's end).
type ownBody struct {
	x    *exchange
	body io.ReadCloser
}

func (b *ownBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.x.release(true)
	case err != nil:
		b.x.release(false)
	}
	return n, err
}

func (b *ownBody) Close() error {
	// net/http's body Close would read the rest of the body; closing the
	// connection instead is what an early close should cost.
	b.x.release(b.body == http.NoBody)
	return nil
}

// SpliceBody is the body of a GET's 200 or 206 answer of known length,
// read straight from the backend's TCP connection: Read works as for any
// body, and Splice hands the connection to a writer that can move the
// bytes in the kernel.
type SpliceBody struct {
	x      *exchange
	remain int64
}

func (b *SpliceBody) Read(p []byte) (int, error) {
	if b.remain <= 0 {
		b.x.release(true)
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.x.c.br.Read(p)
	b.remain -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.x.release(false)
		return n, fmt.Errorf("reading backend answer: %w", err)
	}
	if b.remain == 0 {
		b.x.release(true)
	}
	return n, nil
}

// Close ends the body; before its end, that closes the connection.
func (b *SpliceBody) Close() error {
	b.x.release(b.remain == 0)
	return nil
}

// Splice writes the rest of the body to dst: the bytes photogate already
// buffered with dst.Write, then the backend's connection itself, as an
// *io.LimitedReader over its *net.TCPConn, to dst.ReadFrom when dst has
// one (net/http's ResponseWriter passes it on to the client's *net.TCPConn,
// which splices TCP to TCP). Each hand-over is bounded by what the backend
// has already delivered, so that dst's ReadFrom never waits for the
// backend, only for the client; waiting, when not nil, is called with true
// before photogate waits for the backend's next bytes and with false once
// they came. That is the caller's stall clock: a backend that stops
// sending mid-body is noticed, a client that reads slowly is not taken for
// one.
func (b *SpliceBody) Splice(dst io.Writer, waiting func(bool)) (int64, error) {
	c := b.x.c
	var total int64
	fail := func(err error) (int64, error) {
		b.x.release(false)
		return total, err
	}
	if n := min(int64(c.br.Buffered()), b.remain); n > 0 {
		p, _ := c.br.Peek(int(n))
		w, err := dst.Write(p)
		_, _ = c.br.Discard(w)
		total += int64(w)
		b.remain -= int64(w)
		if err != nil {
			return fail(err)
		}
	}
	rf, ok := dst.(io.ReaderFrom)
	if !ok {
		rf = readerFrom{dst}
	}
	for b.remain > 0 {
		if waiting != nil {
			waiting(true)
		}
		ready, err := waitReadable(c.tcp)
		if waiting != nil {
			waiting(false)
		}
		if err != nil {
			return fail(fmt.Errorf("reading backend answer: %w", err))
		}
		lr := &io.LimitedReader{R: c.tcp, N: min(int64(ready), b.remain)}
		n, err := rf.ReadFrom(lr)
		total += n
		b.remain -= n
		b.x.t.splicedBytes.Add(n)
		if err != nil {
			return fail(err)
		}
		if lr.N > 0 {
			// ReadFrom stops early only at the connection's end.
			return fail(fmt.Errorf("reading backend answer: %w", io.ErrUnexpectedEOF))
		}
	}
	b.x.release(true)
	return total, nil
}

// readerFrom gives a plain writer the ReadFrom Splice hands bytes to.
type readerFrom struct{ io.Writer }

func (w readerFrom) ReadFrom(r io.Reader) (int64, error) { return io.Copy(w.Writer, r) }
