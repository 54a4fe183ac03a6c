// Package sigv4 authenticates incoming S3 requests signed with AWS Signature
// Version 4, either in the Authorization header or as a presigned URL, and,
// for older clients, with AWS Signature Version 2 in either form
// ("Authorization: AWS key:signature" or ?AWSAccessKeyId=…&Expires=…&Signature=…).
// Signature Version 4A is not supported.
//
// It is the server side of the algorithms: it rebuilds the canonical request
// (or V2 string to sign) from an *http.Request as net/http delivers it and
// compares signatures. It never reads the body; for SigV4 streaming uploads
// the caller checks each chunk with Result.ChunkSignature and
// Result.TrailerSignature. V2 signs no payload at all.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

// Payload hash values a client may send in x-amz-content-sha256 besides a
// hex SHA-256 digest.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	EmptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Algorithm is the SigV4 signing algorithm Verify accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// Defaults applied when the corresponding Verifier field is zero.
const (
	DefaultMaxSkew          = 15 * time.Minute
	DefaultMaxPresignExpiry = 7 * 24 * time.Hour
)

const (
	algorithmV4A   = "AWS4-ECDSA-P256-SHA256"
	streamingV4A   = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	iso8601        = "20060102T150405Z"
	yyyymmdd       = "20060102"
	scopeTerm      = "aws4_request"
	serviceS3      = "s3"
	sigV4ANotImpl  = "AWS Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not supported."
	badPayloadHash = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value."
)

// ErrAnonymous is returned by Verify for a request that carries no
// authentication at all. Callers decide whether anonymous access is allowed;
// passed through unchanged it still unwraps to an AccessDenied S3 error.
var ErrAnonymous error = anonymousError{}

type anonymousError struct{}

func (anonymousError) Error() string { return "sigv4: anonymous request" }

// Unwrap builds the S3 error afresh so that no caller can mutate a shared one.
func (anonymousError) Unwrap() error { return s3err.New(s3err.AccessDenied, "") }

// SecretLookup returns the secret key for an access key id.
type SecretLookup func(accessKey string) (secret string, ok bool)

// Verifier checks SigV4 and SigV2 signatures. Its zero value rejects every
// signed request as InvalidAccessKeyId; set Secrets. It is safe for
// concurrent use as long as its fields are not modified.
type Verifier struct {
	Secrets          SecretLookup
	MaxSkew          time.Duration    // 0 means 15 minutes; applies to SigV4 and V2 header auth
	MaxPresignExpiry time.Duration    // 0 means 7 days (604800 s); larger X-Amz-Expires is rejected
	Now              func() time.Time // nil means time.Now

	// VirtualHostBucket tells Signature Version 2 verification which bucket
	// a virtual-hosted-style request addresses: V2 signs "/bucket/key" even
	// when the bucket is named only by the Host header, and does not sign the
	// Host header. It is called with r.Host as received (port included) and
	// returns the bucket the request will be routed to, as named in the host
	// ("photos" for "photos.s3.example.com:9000"), or "" for a path-style
	// request. It must agree exactly with the gateway's own bucket
	// resolution, and must be set whenever virtual-hosted-style requests are
	// served: with nil every request is taken as path-style, so a V2
	// signature for path-style /b/k would also pass for key b/k of any bucket
	// a Host header names. SigV4 does not use it.
	VirtualHostBucket func(host string) string
	// MaxPresignExpiryV2 bounds how far in the future the Expires of a V2
	// presigned URL may lie; beyond it the request fails with
	// AuthorizationQueryParametersError. 0 means no bound, as in AWS (which
	// documents "any future expiration time" for V2) and MinIO. V2 URLs
	// carry an absolute expiry rather than a lifetime, so MaxPresignExpiry
	// does not apply to them.
	MaxPresignExpiryV2 time.Duration

	keys signingKeys
}

// Result describes an authenticated request.
type Result struct {
	// Version is the signature version: 4 for AWS4-HMAC-SHA256, 2 for
	// Signature Version 2.
	Version   int
	AccessKey string
	Presigned bool
	// PayloadHash is x-amz-content-sha256 as sent: a hex digest,
	// UNSIGNED-PAYLOAD or one of the STREAMING-* values. Header auth without
	// the header yields EmptySHA256 (as MinIO does); presigned requests yield
	// UNSIGNED-PAYLOAD unless the client sent the header or query parameter.
	// V2 signs no payload, so Version 2 always yields UNSIGNED-PAYLOAD (a
	// Content-MD5 header, if any, is still to be checked against the body);
	// V2 requests announcing a STREAMING-* payload are refused.
	PayloadHash string
	// Signature is the request's signature: lowercase hex for SigV4 (for
	// streaming payloads the seed signature that chains into the first
	// chunk), base64 as sent for V2.
	Signature string
	// Time is X-Amz-Date (or Date) for SigV4 and V2 header auth. A V2
	// presigned URL has no signing time: Time is then its expiry (Expires).
	Time   time.Time
	Region string // from the SigV4 credential scope; empty for V2

	key     []byte // derived signing key, needed for chunk signatures
	scope   string // date/region/service/aws4_request
	amzDate string // Time in ISO 8601 basic format, as signed
}

// ChunkSignature is the signature of one aws-chunked chunk
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) whose SHA-256 is chunkSHA256,
// chained to prevSig (the seed signature for the first chunk). For a V2
// result, which has no signing key, it is "", which matches no signature.
func (r *Result) ChunkSignature(prevSig string, chunkSHA256 []byte) string {
	if r.key == nil {
		return ""
	}
	b := make([]byte, 0, 256)
	b = append(b, "AWS4-HMAC-SHA256-PAYLOAD\n"...)
	b = r.appendChainHead(b, prevSig)
	b = append(b, EmptySHA256...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, chunkSHA256)
	return hex.EncodeToString(hmacSum(r.key, b))
}

// TrailerSignature signs the trailing header chunk of a
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER upload. trailer is the header
// block as the client hashed it, each "name:value" line ending in '\n' (the
// bytes before the "\r\nx-amz-trailer-signature:" line); prevSig is the
// signature of the final, empty chunk. Like ChunkSignature it is "" for V2.
func (r *Result) TrailerSignature(prevSig string, trailer []byte) string {
	if r.key == nil {
		return ""
	}
	sum := sha256.Sum256(trailer)
	b := make([]byte, 0, 256)
	b = append(b, "AWS4-HMAC-SHA256-TRAILER\n"...)
	b = r.appendChainHead(b, prevSig)
	b = hex.AppendEncode(b, sum[:])
	return hex.EncodeToString(hmacSum(r.key, b))
}

func (r *Result) appendChainHead(b []byte, prevSig string) []byte {
	b = append(b, r.amzDate...)
	b = append(b, '\n')
	b = append(b, r.scope...)
	b = append(b, '\n')
	b = append(b, prevSig...)
	return append(b, '\n')
}

// Verify authenticates r (a server-side *http.Request as net/http delivers
// it), signed with SigV4 or V2. Requests without an Authorization header and
// without presigned query parameters (SigV4's X-Amz-Algorithm,
// X-Amz-Credential or X-Amz-Signature; V2's AWSAccessKeyId or Signature)
// return ErrAnonymous. Every other failure wraps an *s3err.Error.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	return v.verify(r, serviceS3)
}

// verify takes the service name so that the AWS test-suite vectors, which are
// signed for service "service", exercise the same code path as S3 requests.
func (v *Verifier) verify(r *http.Request, service string) (*Result, error) {
	query := parseQuery(r.URL.RawQuery)
	authz, hasAuthz := r.Header["Authorization"]
	presigned := hasParam(query, "X-Amz-Algorithm") || hasParam(query, "X-Amz-Credential") ||
		hasParam(query, "X-Amz-Signature")
	presignedV2 := hasParam(query, v2ParamKey) || hasParam(query, v2ParamSig)
	switch {
	case hasAuthz:
		if presigned || presignedV2 {
			return nil, s3err.New(s3err.InvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm "+
				"query parameter, Signature query string parameter or the Authorization header should be specified.")
		}
		if len(authz) != 1 {
			return nil, s3err.New(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; "+
				"more than one Authorization header was sent.")
		}
		return v.verifyHeader(r, authz[0], query, service)
	case presigned:
		// Any V2 parameters alongside are covered by the SigV4 signature.
		return v.verifyPresigned(r, query, service)
	case presignedV2:
		return v.verifyPresignedV2(r, query)
	}
	return nil, ErrAnonymous
}

func (v *Verifier) verifyHeader(r *http.Request, authz string, query []param, service string) (*Result, error) {
	scheme := strings.TrimLeft(authz, " \t")
	switch {
	case strings.HasPrefix(scheme, Algorithm):
	case strings.HasPrefix(scheme, algorithmV4A):
		return nil, s3err.New(s3err.NotImplemented, sigV4ANotImpl)
	case isV2Scheme(scheme):
		return v.verifyHeaderV2(r, scheme, query)
	case strings.TrimSpace(scheme) == "":
		return nil, s3err.New(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; it is empty.")
	default:
		// What S3 answers for Bearer, Basic and the like.
		return nil, s3err.New(s3err.InvalidArgument, "Unsupported Authorization Type")
	}
	a, err := parseAuthorization(scheme)
	if err != nil {
		return nil, err
	}
	if a.cred.service != service {
		return nil, s3err.New(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; "+
			"incorrect service. This endpoint belongs to \""+service+"\".")
	}

	// The time signed is X-Amz-Date, or Date for clients that do not send it.
	var t time.Time
	amzDate := r.Header.Get("X-Amz-Date")
	switch date := r.Header.Get("Date"); {
	case amzDate != "":
		t, err = time.Parse(iso8601, amzDate)
	case date != "":
		if t, err = parseHTTPDate(date); err == nil {
			t = t.UTC()
			amzDate = t.Format(iso8601)
		}
	default:
		err = errors.New("sigv4: neither X-Amz-Date nor Date is set")
	}
	if err != nil {
		return nil, s3err.Wrap(s3err.AccessDenied, "AWS authentication requires a valid Date or x-amz-date header",
			err)
	}
	if a.cred.date != amzDate[:len(yyyymmdd)] {
		return nil, s3err.New(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; "+
			"Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if v.skewed(t) {
		return nil, s3err.New(s3err.RequestTimeTooSkewed, "")
	}

	payload := EmptySHA256
	if h, ok := r.Header["X-Amz-Content-Sha256"]; ok && len(h) > 0 {
		payload = h[0]
	}
	if err := checkPayloadHash(payload); err != nil {
		return nil, err
	}
	// A proxy or middlebox on the way must not be able to add x-amz-acl,
	// x-amz-copy-source or the like to a signed request.
	if err := refuseUnsignedAmzHeaders(r.Header, a.signedHeaders); err != nil {
		return nil, err
	}
	return v.finish(r, &a, t, amzDate, query, "", payload, false)
}

// refuseUnsignedAmzHeaders refuses a SigV4 request carrying an x-amz-*
// header its signature does not cover: such headers change what S3 does
// (x-amz-acl, x-amz-copy-source, x-amz-meta-*, x-amz-server-side-encryption…),
// so AWS refuses them unsigned, with this message. x-amz-content-sha256 is
// exempt because its value is the last line of the canonical request and so
// is signed whether listed or not. Every client
// checked (aws-sdk-go-v2, botocore/aws-cli, minio-go, rclone, s3cmd) signs
// all x-amz-* headers it sends, checksum and trailer declarations included.
func refuseUnsignedAmzHeaders(h http.Header, signedHeaders string) error {
	for k := range h {
		if hasAmzPrefix(k) && !strings.EqualFold(k, "X-Amz-Content-Sha256") && !signsHeader(signedHeaders, k) {
			return s3err.New(s3err.AccessDenied, "There were headers present in the request which were not signed")
		}
	}
	return nil
}

func (v *Verifier) verifyPresigned(r *http.Request, query []param, service string) (*Result, error) {
	p, err := parsePresigned(query, v.maxPresignExpiry())
	if err != nil {
		return nil, err
	}
	if p.cred.service != service {
		return nil, s3err.New(s3err.AuthorizationQueryParametersError, "Error parsing the X-Amz-Credential "+
			"parameter; incorrect service. This endpoint belongs to \""+service+"\".")
	}
	if p.cred.date != p.amzDate[:len(yyyymmdd)] {
		return nil, s3err.New(s3err.AuthorizationQueryParametersError, "Invalid credential date. "+
			"Date is not the same as X-Amz-Date.")
	}
	// A clock slightly behind the signer's must still accept a fresh URL,
	// hence the skew allowance before "not valid yet".
	now := v.now()
	if p.time.After(now.Add(v.maxSkew())) {
		return nil, s3err.New(s3err.AccessDenied, "Request is not valid yet")
	}
	if now.After(p.time.Add(p.expires)) {
		return nil, s3err.New(s3err.AccessDenied, "Request has expired")
	}
	// Whoever holds a presigned URL is not the signer.
	if err := refuseUnsignedAmzHeaders(r.Header, p.signedHeaders); err != nil {
		return nil, err
	}

	payload := UnsignedPayload
	if h, ok := findParamFold(query, "X-Amz-Content-Sha256"); ok {
		payload = h
	} else if h, ok := r.Header["X-Amz-Content-Sha256"]; ok && len(h) > 0 {
		payload = h[0]
	}
	if err := checkPayloadHash(payload); err != nil {
		return nil, err
	}
	return v.finish(r, &p.authParams, p.time, p.amzDate, query, "X-Amz-Signature", payload, true)
}

// finish looks up the secret and compares signatures; omit names the query
// parameter that carries the signature itself.
func (v *Verifier) finish(r *http.Request, a *authParams, t time.Time, amzDate string, query []param,
	omit, payload string, presigned bool,
) (*Result, error) {
	var secret string
	ok := false
	if v.Secrets != nil {
		secret, ok = v.Secrets(a.cred.accessKey)
	}
	if !ok {
		return nil, s3err.New(s3err.InvalidAccessKeyID, "")
	}
	key := v.keys.get(secret, a.cred.date, a.cred.region, a.cred.service)
	if err := checkSignature(r, key, a, amzDate, query, omit, payload); err != nil {
		return nil, err
	}
	return &Result{
		Version:     4,
		AccessKey:   a.cred.accessKey,
		Presigned:   presigned,
		PayloadHash: payload,
		Signature:   a.signature,
		Time:        t,
		Region:      a.cred.region,
		key:         key,
		scope:       a.cred.scope,
		amzDate:     amzDate,
	}, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// skewed reports whether a request signed at t is too far from now. It
// compares instants, not their difference: time.Sub saturates at about 292
// years, and the negation of the saturated minimum is itself, so a date
// far enough in the future looked like no skew at all.
func (v *Verifier) skewed(t time.Time) bool {
	now, limit := v.now(), v.maxSkew()
	return t.Before(now.Add(-limit)) || t.After(now.Add(limit))
}

func (v *Verifier) maxPresignExpiry() time.Duration {
	if v.MaxPresignExpiry > 0 {
		return v.MaxPresignExpiry
	}
	return DefaultMaxPresignExpiry
}

// parseHTTPDate accepts the formats HTTP allows for Date plus RFC 1123 with a
// numeric zone, which some S3 clients send.
func parseHTTPDate(s string) (time.Time, error) {
	t, err := http.ParseTime(s)
	if err == nil {
		return t, nil
	}
	if t, err2 := time.Parse(time.RFC1123Z, s); err2 == nil {
		return t, nil
	}
	return t, err
}

// checkPayloadHash rejects x-amz-content-sha256 values S3 would reject, so
// that callers can rely on Result.PayloadHash being one of the known forms.
func checkPayloadHash(h string) error {
	switch h {
	case UnsignedPayload, StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer:
		return nil
	case streamingV4A, streamingV4A + "-TRAILER":
		return s3err.New(s3err.NotImplemented, sigV4ANotImpl)
	}
	if len(h) == sha256.Size*2 && isHex(h) {
		return nil
	}
	return s3err.New(s3err.InvalidArgument, badPayloadHash)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// signingKeys remembers derived signing keys: a key is four HMACs of the
// secret and stays the same for a whole day of a user's requests, so
// deriving it once per request was a tenth of photogate's CPU for a small
// GET. The secret is part of the entry's name, so a rotated secret never
// meets its predecessor's key. Bounded: when full it starts over.
type signingKeys struct {
	mu   sync.Mutex
	keys map[signingScope][]byte
}

type signingScope struct{ secret, date, region, service string }

// maxSigningKeys bounds the cache: one entry per user, region and day in
// use, so thousands of users fit.
const maxSigningKeys = 4096

func (c *signingKeys) get(secret, date, region, service string) []byte {
	scope := signingScope{secret, date, region, service}
	c.mu.Lock()
	key, ok := c.keys[scope]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = signingKey(secret, date, region, service)
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxSigningKeys {
		c.keys = make(map[signingScope][]byte)
	}
	c.keys[scope] = key
	c.mu.Unlock()
	return key
}

// signingKey derives the SigV4 signing key for one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), []byte(date))
	k = hmacSum(k, []byte(region))
	k = hmacSum(k, []byte(service))
	return hmacSum(k, []byte(scopeTerm))
}

func hmacSum(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
