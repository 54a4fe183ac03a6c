// Package policy decides what each caller of photogate may do, before any
// byte of a request body is read or stored: who a caller is (access keys and
// their secrets), what it may touch (grants of actions on bucket patterns,
// anonymous read of public buckets), how fast it may go (requests per second,
// upload bandwidth, caps on requests in flight, globally and per user, and
// throttling of failed signatures per client address), and what it may
// store (object, part and metadata sizes, content types detected from magic
// bytes, and quotas per bucket and per user, with reservations for uploads
// in progress).
//
// A Config is validated and compiled into an immutable Engine. A Holder
// holds the current Engine and the state that outlives engines (rate
// limiters, requests in flight, quota reservations): Swap installs a new
// Engine on reload (SIGHUP) without dropping connections and without
// handing a fresh burst to every caller. Each request asks Holder.Caller
// once and every decision of the returned Caller, so it is judged by one
// Engine from start to end. Every refusal is an *s3err.Error whose code S3
// SDKs already know how to react to (SlowDown is retried with backoff, 403s
// are not).
package policy
