// Package backend is photogate's one client for the S3 backend: requests
// re-signed with photogate's credentials (minio-go's signer), pooled
// keep-alive connections, retries of bodiless requests, a circuit breaker,
// and metrics of every call. The proxy and the index both go through it.
package backend

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// Config says where the backend is and how hard to try it.
type Config struct {
	Endpoint  string // http(s)://host:port of MinIO or any S3
	AccessKey string
	SecretKey string
	Region    string // signing region; "" means us-east-1

	TLS *tls.Config // for https endpoints; nil means system roots

	// ResponseTimeout bounds the time to first byte: the wait for response
	// headers after the request (body included) was written. It is what
	// turns a hung backend into a failure the breaker counts, so it is
	// short; the transfer that follows has no total bound (a body that
	// stops moving is the proxy's idle timeout's business).
	ResponseTimeout time.Duration
	// SlowResponseTimeout is the time to first byte of the requests the
	// backend works on before it answers: server-side copies and
	// multipart completions (see ExpectSlowAnswer).
	SlowResponseTimeout time.Duration
	// BreakerFailures consecutive failures open the breaker, which then
	// refuses requests for BreakerOpen before letting probes through.
	BreakerFailures uint32
	BreakerOpen     time.Duration
	// MaxAttempts bounds tries of a request without a body (1 = no retry).
	MaxAttempts int

	Metrics *observe.Metrics // nil: not measured
}

// Backend sends requests to the S3 backend: re-signed with photogate's
// credentials, over pooled keep-alive connections, behind a circuit breaker.
type Backend struct {
	cfg       Config
	endpoint  *url.URL
	transport *http.Transport
	// slowTransport is transport with the longer time to first byte, in a
	// pool of its own so that slow answers never hold fast connections.
	slowTransport *http.Transport
	// own carries the requests to a plain-http backend on Linux, so that
	// large GET bodies can be spliced to the client (nil: transport and
	// slowTransport carry everything).
	own     *ownTransport
	breaker *gobreaker.CircuitBreaker[*http.Response]
	// lastFailure is the backend's most recent failure, so that an open
	// breaker can say why it opened.
	lastFailure atomic.Pointer[error]
}

// slowAnswerKey marks a context whose request the backend may take long to
// answer.
type slowAnswerKey struct{}

// ExpectSlowAnswer marks ctx's request as one the backend works on before
// answering (a server-side copy, a multipart completion), so that it gets
// SlowResponseTimeout instead of ResponseTimeout.
func ExpectSlowAnswer(ctx context.Context) context.Context {
	return context.WithValue(ctx, slowAnswerKey{}, true)
}

// DefaultResponseTimeout is the default time to first byte: MinIO answers
// in milliseconds, so seconds of silence mean it hangs.
const DefaultResponseTimeout = 5 * time.Second

// NewBackend validates cfg and prepares the connection pool.
func NewBackend(cfg Config) (*Backend, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("backend endpoint %q: %w", cfg.Endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("backend endpoint %q: want http://host:port or https://host:port", cfg.Endpoint)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.SlowResponseTimeout == 0 {
		cfg.SlowResponseTimeout = 10 * time.Minute
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BreakerOpen == 0 {
		cfg.BreakerOpen = 5 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil, // the backend is addressed directly, never via HTTP_PROXY
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg.TLS,
		ForceAttemptHTTP2:     false, // MinIO speaks HTTP/1.1; h2 would serialise big streams on one connection
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		// Bodies pass through byte for byte: transparent gzip would change
		// what the client receives and break Content-Length and ETags.
		DisableCompression: true,
		WriteBufferSize:    64 << 10,
		ReadBufferSize:     64 << 10,
	}
	slow := transport.Clone()
	slow.ResponseHeaderTimeout = cfg.SlowResponseTimeout
	b := &Backend{cfg: cfg, endpoint: u, transport: transport, slowTransport: slow}
	if ownTransportSupported && u.Scheme == "http" {
		b.own = newOwnTransport(net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "80")), dialer)
	}
	b.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        "backend",
		MaxRequests: 3,
		Interval:    30 * time.Second,
		Timeout:     cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.BreakerFailures
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			cfg.Metrics.BreakerState(from.String(), to.String())
		},
		IsSuccessful: func(err error) bool {
			// Only the backend's own failures count against it: a client that
			// hangs up or sends a corrupt body says nothing about MinIO.
			var ce clientError
			if err == nil || errors.As(err, &ce) {
				return true
			}
			b.lastFailure.Store(&err)
			return false
		},
	})
	cfg.Metrics.WatchBreaker(func() string { return b.breaker.State().String() })
	return b, nil
}

// Close releases idle connections.
func (b *Backend) Close() {
	b.transport.CloseIdleConnections()
	b.slowTransport.CloseIdleConnections()
	if b.own != nil {
		b.own.closeIdle()
	}
}

// SplicedBytes is how many bytes of answers' bodies were handed to a
// client's connection as the backend's connection itself (SpliceBody), so
// that the kernel moved them without copying them through photogate.
func (b *Backend) SplicedBytes() int64 {
	if b.own == nil {
		return 0
	}
	return b.own.splicedBytes.Load()
}

// BreakerState is the breaker's state: closed, half-open or open.
func (b *Backend) BreakerState() gobreaker.State { return b.breaker.State() }

// clientError marks a failure caused by the client side of the proxy.
type clientError struct{ err error }

func (e clientError) Error() string { return e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

// ClientFault tells the metrics that the client, not the backend, failed.
func (clientError) ClientFault() bool { return true }

// statusError marks a 5xx answer; the response is still handed back.
type statusError struct{ code int }

func (e statusError) Error() string { return fmt.Sprintf("backend answered %d", e.code) }

// Do sends out, which must be unsigned and addressed path-style relative to
// the backend (only URL.Path and URL.RawQuery are used). payloadHash is the
// x-amz-content-sha256 to sign with. trailer, when not nil, holds checksum
// trailers (with placeholders of the final length) that body fills in before
// its EOF; the body is then sent aws-chunked so the backend verifies them.
// bodyErr reports an error the body itself produced (the client's fault).
// Requests without a body are retried on backend failure.
func (b *Backend) Do(ctx context.Context, out *http.Request, payloadHash string, trailer http.Header, bodyErr func() error) (*http.Response, error) {
	out.URL.Scheme = b.endpoint.Scheme
	out.URL.Host = b.endpoint.Host
	out.Host = b.endpoint.Host
	out.Header.Set("X-Amz-Content-Sha256", payloadHash)
	retryable := out.Body == nil || out.Body == http.NoBody

	op := observe.OperationFrom(ctx)
	var resp *http.Response
	var err error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, err = b.breaker.Execute(func() (*http.Response, error) {
			return b.roundTrip(ctx, out, trailer, bodyErr)
		})
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		b.cfg.Metrics.BackendRequest(op, status, time.Since(start), err)
		if !retryable || attempt >= b.cfg.MaxAttempts || !worthRetry(err) {
			break
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if !sleepBackoff(ctx, attempt) {
			break
		}
		b.cfg.Metrics.BackendRetry(op)
	}
	var se statusError
	switch {
	case err == nil, errors.As(err, &se):
		return resp, nil // a 5xx is the backend's answer: pass it on as is
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		e := s3err.Wrap(s3err.SlowDown, "The storage backend is unavailable; retry later.", err)
		e.RetryAfter = max(1, int(b.cfg.BreakerOpen.Round(time.Second)/time.Second))
		return nil, e
	}
	var ce clientError
	if errors.As(err, &ce) {
		return nil, ce.err
	}
	var he hungError
	if errors.As(err, &he) {
		// Tell clients to back off at once, as the open breaker will.
		e := s3err.Wrap(s3err.SlowDown, "The storage backend is not answering; retry later.", err)
		e.RetryAfter = max(1, int(b.cfg.BreakerOpen.Round(time.Second)/time.Second))
		return nil, e
	}
	e := s3err.Wrap(s3err.ServiceUnavailable, "The storage backend did not answer.", err)
	e.RetryAfter = 1
	return nil, e
}

func (b *Backend) roundTrip(ctx context.Context, out *http.Request, trailer http.Header, bodyErr func() error) (*http.Response, error) {
	req := out.Clone(ctx)
	var signed *http.Request
	if trailer != nil {
		signed = signer.SignV4Trailer(*req, b.cfg.AccessKey, b.cfg.SecretKey, "", b.cfg.Region, trailer)
	} else {
		signed = signer.SignV4(*req, b.cfg.AccessKey, b.cfg.SecretKey, "", b.cfg.Region)
	}
	transport, timeout := b.transport, b.cfg.ResponseTimeout
	if slow, _ := ctx.Value(slowAnswerKey{}).(bool); slow {
		transport, timeout = b.slowTransport, b.cfg.SlowResponseTimeout
	}
	var resp *http.Response
	var err error
	if b.own != nil && b.own.handles(signed) {
		resp, err = b.own.roundTrip(signed, timeout)
	} else {
		resp, err = transport.RoundTrip(signed)
	}
	if err != nil {
		if bodyErr != nil {
			if berr := bodyErr(); berr != nil {
				return nil, clientError{berr}
			}
		}
		if ctx.Err() != nil {
			return nil, clientError{fmt.Errorf("client went away: %w", ctx.Err())}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, hungError{fmt.Errorf("backend %s: %w", out.Method, err)}
		}
		return nil, fmt.Errorf("backend %s: %w", out.Method, err)
	}
	if bodyErr != nil {
		if berr := bodyErr(); berr != nil {
			// The backend answered before the body failed (or despite it):
			// the client's error is the truth, the upload did not complete.
			resp.Body.Close()
			return nil, clientError{berr}
		}
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		return resp, statusError{resp.StatusCode}
	}
	return resp, nil
}

// hungError marks a backend that did not answer in time: it accepted the
// connection (or not even that) and stayed silent.
type hungError struct{ err error }

func (e hungError) Error() string { return e.err.Error() }
func (e hungError) Unwrap() error { return e.err }

// worthRetry: connection-level failures and 5xx answers; never the
// client's own errors, never an open breaker, never a backend that hangs
// (another try would only make the client wait as long again), never a
// certificate that does not verify.
func worthRetry(err error) bool {
	if err == nil {
		return false
	}
	var ce clientError
	var he hungError
	var cert *tls.CertificateVerificationError
	if errors.As(err, &ce) || errors.As(err, &he) || errors.As(err, &cert) ||
		errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		// A certificate that does not verify will not verify on a retry.
		return false
	}
	return true
}

// sleepBackoff waits a jittered exponential delay (full jitter, 25 ms base)
// unless the context ends first.
func sleepBackoff(ctx context.Context, attempt int) bool {
	ceiling := 25 * time.Millisecond << min(attempt, 6)
	d := time.Duration(rand.Int64N(int64(ceiling)))
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Probe checks that the backend answers a signed request (ListBuckets),
// through the breaker so that readiness reflects what clients would see.
func (b *Backend) Probe(ctx context.Context) error {
	if b.breaker.State() == gobreaker.StateOpen {
		if last := b.lastFailure.Load(); last != nil {
			return fmt.Errorf("circuit breaker is open; the last backend failure was: %w", *last)
		}
		return errors.New("circuit breaker is open")
	}
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	resp, err := b.Do(observe.WithOperation(ctx, "ReadinessProbe"), req, sigv4.EmptySHA256, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := answerErr("ListBuckets", resp)
		if CredentialsRefused(err) {
			return fmt.Errorf("the backend refused photogate's credentials (check the backend access and secret key): %w", err)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// NotSent reports whether err means the request never left photogate:
// the breaker refused it. Any other failure may have reached the backend.
func NotSent(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// CredentialsRefused reports whether err is the backend refusing the
// credential photogate signs with: every request photogate sends is signed
// by photogate, so such an answer is never the client's fault.
func CredentialsRefused(err error) bool {
	var ae *AnswerError
	return errors.As(err, &ae) && ae.Status == http.StatusForbidden &&
		(ae.Code == "SignatureDoesNotMatch" || ae.Code == "InvalidAccessKeyId")
}
