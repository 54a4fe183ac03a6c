//go:build linux

package backend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// rawServer is a backend whose answers the test writes byte for byte, so
// that framing the HTTP library would never produce (a body cut short, a
// silence) can be had. It counts the connections it accepted.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

// startRaw serves each request read on a connection with answer, which
// returns false to close the connection.
func startRaw(t *testing.T, answer func(c net.Conn, r *http.Request) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						return
					}
					if !answer(c, r) {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) backend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = "http://"+s.ln.Addr().String(), "a", "b"
	b, err := NewBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if b.own == nil {
		t.Fatal("a plain-http backend on Linux must go over ownTransport")
	}
	return b
}

func get(ctx context.Context, b *Backend, key string) (*http.Response, error) {
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/bucket/" + key}, Header: http.Header{}}
	return b.Do(ctx, req, sigv4.EmptySHA256, nil, nil)
}

// getBody GETs key, failing the test if the request fails, and returns the
// body read to its end (and the read's error).
func getBody(t *testing.T, b *Backend, key string) ([]byte, error) {
	t.Helper()
	resp, err := get(context.Background(), b, key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func answerBytes(c net.Conn, body []byte) bool {
	_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: image/jpeg\r\n\r\n", len(body))
	if err == nil {
		_, err = c.Write(body)
	}
	return err == nil
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>11)
	}
	return p
}

// tcpPair is both ends of a loopback TCP connection: what Splice writes to
// out (a *net.TCPConn, so the kernel splices) is read from in.
func tcpPair(t *testing.T) (out *net.TCPConn, in net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	in = <-accepted
	if in == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); in.Close() })
	return c.(*net.TCPConn), in
}

// splice runs Splice of resp's body into a TCP connection and returns what
// came out of its other end.
func splice(t *testing.T, resp *http.Response) ([]byte, int64, error) {
	t.Helper()
	sb, ok := resp.Body.(*SpliceBody)
	if !ok {
		t.Fatalf("a GET's 200 with a Content-Length has a %T body, want *SpliceBody", resp.Body)
	}
	out, in := tcpPair(t)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(in)
		got <- b
	}()
	n, err := sb.Splice(out, nil)
	resp.Body.Close()
	out.CloseWrite()
	return <-got, n, err
}

// Two GETs in a row use one connection, and each body arrives whole
// through the kernel.
func TestOwnTransportSplicesAndReuses(t *testing.T) {
	body := pattern(3<<20 + 17)
	s := startRaw(t, func(c net.Conn, r *http.Request) bool { return answerBytes(c, body) })
	b := s.backend(t, Config{})
	for i := range 2 {
		resp, err := get(context.Background(), b, "k")
		if err != nil {
			t.Fatal(err)
		}
		before := b.SplicedBytes()
		got, n, err := splice(t, resp)
		if err != nil || !bytes.Equal(got, body) || n != int64(len(body)) {
			t.Fatalf("GET %d: spliced %d bytes (%d arrived), err %v; want the %d sent", i, n, len(got), err, len(body))
		}
		// Only what photogate buffered with the answer's head is copied.
		if spliced := b.SplicedBytes() - before; spliced < int64(len(body))-64<<10 {
			t.Errorf("GET %d: %d of %d bytes went through splice", i, spliced, len(body))
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("two GETs opened %d connections, want 1", n)
	}
}

// Read works on a SpliceBody as on any body, and reading it to its end
// returns the connection to the pool.
func TestOwnTransportReadPath(t *testing.T) {
	body := pattern(1 << 20)
	s := startRaw(t, func(c net.Conn, r *http.Request) bool { return answerBytes(c, body) })
	b := s.backend(t, Config{})
	for range 3 {
		got, err := getBody(t, b, "k")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes, err %v", len(got), err)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("three GETs opened %d connections, want 1", n)
	}
}

// A chunked answer is not spliceable: its body is read through net/http's
// decoder, whole, and the connection is reused after it.
func TestOwnTransportChunkedFallsBack(t *testing.T) {
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		return err == nil
	})
	b := s.backend(t, Config{})
	for range 2 {
		resp, err := get(context.Background(), b, "k")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := resp.Body.(*SpliceBody); ok {
			t.Fatal("a chunked answer must not take the splice path")
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != "hello world" {
			t.Fatalf("read %q, err %v", got, err)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("two chunked GETs opened %d connections, want 1", n)
	}
}

// A body closed before its end leaves bytes on the connection, which must
// not be taken for the next answer: the connection is closed, the next
// request dials anew and reads its own answer.
func TestOwnTransportEarlyCloseDropsConnection(t *testing.T) {
	var n atomic.Int64
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		return answerBytes(c, bytes.Repeat([]byte{byte('a' + n.Add(1))}, 1<<20))
	})
	b := s.backend(t, Config{})
	for _, spliced := range []bool{false, true} {
		resp, err := get(context.Background(), b, "k")
		if err != nil {
			t.Fatal(err)
		}
		if spliced {
			// Splice part of it: a writer that fails after some bytes.
			_, err = resp.Body.(*SpliceBody).Splice(&failingWriter{left: 100 << 10}, nil)
			if err == nil {
				t.Fatal("Splice into a failing writer reported no error")
			}
		} else if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got, err := getBody(t, b, "k")
	if err != nil || len(got) != 1<<20 || got[0] != 'd' || got[len(got)-1] != 'd' {
		t.Fatalf("the third GET read %d bytes starting %q, err %v: want its own answer", len(got), got[:min(len(got), 8)], err)
	}
	if n := s.accepted.Load(); n != 3 {
		t.Errorf("%d connections for three GETs of which two were cut short, want 3", n)
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("client went away")
	}
	w.left -= len(p)
	return len(p), nil
}

// A backend that dies mid-body fails the body, through Splice and Read,
// and the next request gets a fresh connection.
func TestOwnTransportBackendDiesMidBody(t *testing.T) {
	var n atomic.Int64
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		if n.Add(1) == 3 {
			return answerBytes(c, []byte("whole"))
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n")
		_, _ = c.Write(pattern(300 << 10))
		return false
	})
	b := s.backend(t, Config{})
	resp, err := get(context.Background(), b, "k")
	if err != nil {
		t.Fatal(err)
	}
	got, spliced, err := splice(t, resp)
	if !errors.Is(err, io.ErrUnexpectedEOF) || spliced != 300<<10 || len(got) != 300<<10 {
		t.Fatalf("Splice of a cut body: %d bytes (%d arrived), err %v; want the 300 KiB sent and an unexpected EOF", spliced, len(got), err)
	}
	got, err = getBody(t, b, "k")
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 300<<10 {
		t.Fatalf("Read of a cut body: %d bytes, err %v", len(got), err)
	}
	got, err = getBody(t, b, "k")
	if err != nil || string(got) != "whole" {
		t.Fatalf("after two cut bodies: %q, %v", got, err)
	}
}

// A backend that closes an idle connection (its idle timeout) costs the
// next request nothing: the pool notices and dials.
func TestOwnTransportSkipsConnectionsClosedWhileIdle(t *testing.T) {
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		answerBytes(c, []byte("ok"))
		return false // closes without saying so
	})
	b := s.backend(t, Config{MaxAttempts: 1}) // no retry to hide a failure
	for i := range 3 {
		got, err := getBody(t, b, "k")
		if err != nil || string(got) != "ok" {
			t.Fatalf("GET %d: %q, %v", i, got, err)
		}
		time.Sleep(50 * time.Millisecond) // the close reaches photogate's socket
	}
}

// A backend that accepts the request and stays silent is a hung backend:
// the time to first byte bounds the wait, as with net/http's Transport.
func TestOwnTransportResponseTimeout(t *testing.T) {
	release := make(chan struct{})
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		<-release
		return false
	})
	defer close(release)
	b := s.backend(t, Config{ResponseTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := get(context.Background(), b, "k")
	if e := s3err.From(err); err == nil || e.Code != s3err.SlowDown {
		t.Fatalf("a silent backend gave %v, want SlowDown", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the silent backend held the request %v", d)
	}
}

// Ending the context ends a body being spliced: the backend connection is
// closed, whatever waits on it returns.
func TestOwnTransportContextEndsSplice(t *testing.T) {
	release := make(chan struct{})
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes")
		<-release
		return false
	})
	defer close(release)
	b := s.backend(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := get(ctx, b, "k")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	var waits atomic.Int64
	done := make(chan error, 1)
	go func() {
		var sink bytes.Buffer
		_, err := resp.Body.(*SpliceBody).Splice(&sink, func(w bool) {
			if w {
				waits.Add(1)
			}
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Splice of a cancelled request's body reported no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the context did not end the Splice")
	}
	if waits.Load() == 0 {
		t.Error("Splice waited for the backend without telling its caller")
	}
}

// An upload goes over the same pool, and the connection serves the GET
// after it.
func TestOwnTransportUploadThenGet(t *testing.T) {
	var stored []byte
	var mu sync.Mutex
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut {
			stored = []byte(r.Header.Get("X-Test-Body"))
			_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n")
			return err == nil
		}
		return answerBytes(c, stored)
	})
	b := s.backend(t, Config{})
	body := strings.Repeat("upload ", 1000)
	req := &http.Request{Method: http.MethodPut, URL: &url.URL{Path: "/bucket/k"},
		Header: http.Header{"X-Test-Body": {"stored"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
	resp, err := b.Do(context.Background(), req, sigv4.UnsignedPayload, nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	got, err := getBody(t, b, "k")
	if err != nil || string(got) != "stored" {
		t.Fatalf("GET after PUT: %q, %v", got, err)
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("PUT then GET opened %d connections, want 1", n)
	}
}

// An answer that says Connection: close ends its connection's use, even
// when the backend leaves it open.
func TestOwnTransportHonoursConnectionClose(t *testing.T) {
	s := startRaw(t, func(c net.Conn, r *http.Request) bool {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	b := s.backend(t, Config{})
	for range 2 {
		resp, err := get(context.Background(), b, "k")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := resp.Body.(*SpliceBody).Splice(&got, nil); err != nil || got.String() != "ok" {
			t.Fatalf("%q, %v", got.String(), err)
		}
		resp.Body.Close()
	}
	if n := s.accepted.Load(); n != 2 {
		t.Errorf("two answers with Connection: close used %d connections, want 2", n)
	}
}
