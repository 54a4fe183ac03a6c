package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// Policy is what the gateway asks before a request may reach the backend.
// *policy.Holder implements it; the access key is "" for anonymous callers.
type Policy interface {
	Secret(accessKey string) (string, bool)
	UserName(accessKey string) (string, bool)
	AuthAllowed(ip string) error
	AuthFailed(ip string)
	Admit(ctx context.Context, accessKey string) (release func(), err error)
	Authorize(ctx context.Context, accessKey string, op classify.Op, bucket, key string) error
	CheckDeclaredType(bucket, contentType string) error
	CheckUpload(ctx context.Context, u policy.Upload) error
	TypesRestricted(bucket string) bool
	UploadNeeds(accessKey, bucket string) policy.UploadNeeds
	CheckType(bucket string, head []byte) error
	Throttle(ctx context.Context, accessKey string, r io.Reader) io.Reader
}

// IndexLookup tells what photogate's index knows about an object, so that
// size rules can skip a backend HEAD of a copy source and quotas can credit
// what an upload replaces.
type IndexLookup interface {
	Lookup(ctx context.Context, bucket, key string) (obj IndexedObject, exists bool, err error)
}

// IndexedObject is the part of an index record that policy uses.
type IndexedObject struct {
	Size  int64
	Owner string // user name whose upload wrote it; "" unknown
}

// rangeLength is the length of an x-amz-copy-source-range "bytes=first-last".
func rangeLength(v string) (int64, bool) {
	first, last, ok := strings.Cut(strings.TrimPrefix(v, "bytes="), "-")
	if !ok || !strings.HasPrefix(v, "bytes=") {
		return 0, false
	}
	a, err1 := strconv.ParseInt(first, 10, 64)
	b, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return 0, false
	}
	return b - a + 1, true
}

// sourceSize is the size of a copy's source: from the index, else from the
// backend (-1 when neither knows, e.g. it does not exist).
func (s *Server) sourceSize(ctx context.Context, src classify.Target) (int64, error) {
	if s.lookup != nil {
		obj, ok, err := s.lookup.Lookup(ctx, src.Bucket, src.Key)
		if err == nil && ok {
			return obj.Size, nil
		}
	}
	req := &http.Request{Method: http.MethodHead, URL: &url.URL{Path: "/" + src.Bucket + "/" + src.Key}, Header: http.Header{}}
	resp, err := s.backend.Do(observe.WithOperation(ctx, string(classify.HeadObject)), req, sigv4.EmptySHA256, nil, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1, nil // the backend will answer the copy with the right error
	}
	return resp.ContentLength, nil
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// authenticate verifies the signature, throttling addresses that keep
// failing so that guessing secrets is slow. An unsigned request comes back
// as the anonymous caller (access key ""), for policy to judge.
func (s *Server) authenticate(r *http.Request) (*sigv4.Result, error) {
	auth, err := verifyThrottled(s.policy, s.verifier, r)
	if errors.Is(err, sigv4.ErrAnonymous) {
		return &sigv4.Result{PayloadHash: sigv4.UnsignedPayload}, nil
	}
	return auth, err
}

// throttle is the part of Policy that slows down secret guessing.
type throttle interface {
	AuthAllowed(ip string) error
	AuthFailed(ip string)
}

// verifyThrottled verifies r's signature unless its address is throttled,
// and counts a wrong key or signature against the address.
func verifyThrottled(t throttle, v *sigv4.Verifier, r *http.Request) (*sigv4.Result, error) {
	ip := clientIP(r)
	if err := t.AuthAllowed(ip); err != nil {
		return nil, err
	}
	res, err := v.Verify(r)
	if s3err.Is(err, s3err.SignatureDoesNotMatch) || s3err.Is(err, s3err.InvalidAccessKeyID) {
		t.AuthFailed(ip)
	}
	return res, err
}

// AdminPolicy is what SignedAdmin needs: secrets, the failure throttle, and
// whether a user administers every bucket.
type AdminPolicy interface {
	throttle
	Secret(accessKey string) (string, bool)
	IsAdmin(accessKey string) bool
}

// SignedAdmin admits SigV4-signed requests to the admin API from users with
// the admin grant on every bucket, throttled like the S3 listener.
func SignedAdmin(p AdminPolicy) func(*http.Request) error {
	v := &sigv4.Verifier{Secrets: p.Secret}
	return func(r *http.Request) error {
		res, err := verifyThrottled(p, v, r)
		switch {
		case err != nil:
			return err
		case res.Version != 4:
			return errors.New("the admin API takes SigV4 only")
		case !p.IsAdmin(res.AccessKey):
			return fmt.Errorf("user %s lacks the admin grant on every bucket", res.AccessKey)
		}
		return nil
	}
}

// authorize checks the operation, and for copies also read access to the
// source, which the caller could otherwise exfiltrate from a bucket it
// cannot read.
func (s *Server) authorize(ctx context.Context, user string, op classify.Op, t classify.Target, h http.Header) error {
	if err := s.policy.Authorize(ctx, user, op, t.Bucket, t.Key); err != nil {
		return err
	}
	if op != classify.CopyObject && op != classify.UploadPartCopy {
		return nil
	}
	src, version, err := copySource(h.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	if err := s.policy.Authorize(ctx, user, classify.GetObject, src.Bucket, src.Key); err != nil {
		return err
	}
	// Forward exactly what was authorised, in one unambiguous spelling, so
	// the backend cannot read the header differently (a "bucket:" prefix
	// is a URL scheme to MinIO's parser, naming another bucket).
	h.Set("X-Amz-Copy-Source", canonicalCopySource(src, version))
	return nil
}

// copySource parses x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, optionally with "?versionId=". The bucket and key must be
// valid as a request's would be.
func copySource(v string) (classify.Target, string, error) {
	raw, query, _ := strings.Cut(v, "?")
	version := ""
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || len(q) != 1 || !q.Has("versionId") {
			return classify.Target{}, "", s3err.New(s3err.InvalidArgument, "Invalid copy source: only ?versionId= may follow the key.")
		}
		version = q.Get("versionId")
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return classify.Target{}, "", s3err.New(s3err.InvalidArgument, "Invalid copy source encoding.")
	}
	t, err := classify.Resolve("", "/"+strings.TrimPrefix(p, "/"), nil)
	if err != nil || t.Bucket == "" || t.Key == "" {
		return classify.Target{}, "", s3err.New(s3err.InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return t, version, nil
}

func canonicalCopySource(t classify.Target, version string) string {
	v := s3utils.EncodePath("/" + t.Bucket + "/" + t.Key)
	if version != "" {
		v += "?versionId=" + url.QueryEscape(version)
	}
	return v
}

// admitUpload applies the size, type and quota rules before any body byte
// is forwarded, and throttles the body to the user's upload rate.
func (s *Server) admitUpload(ctx context.Context, r *http.Request, user string, op classify.Op, t classify.Target, body *uploadBody) error {
	switch op {
	case classify.PutObject, classify.UploadPart, classify.CreateMultipartUpload, classify.CopyObject,
		classify.UploadPartCopy, classify.CompleteMultipartUpload:
	default:
		return nil
	}
	replacing := op == classify.PutObject || op == classify.CreateMultipartUpload ||
		(op == classify.CopyObject && strings.EqualFold(r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE"))
	if replacing {
		if err := s.policy.CheckDeclaredType(t.Bucket, r.Header.Get("Content-Type")); err != nil {
			return err
		}
	}
	// Sizes of copy sources, existing parts and replaced objects each cost a
	// lookup; fetch only those the bucket's and user's rules use.
	needs := s.policy.UploadNeeds(user, t.Bucket)
	u := policy.Upload{User: user, Bucket: t.Bucket, Key: t.Key, Op: op, Size: -1, UploadedSoFar: -1}
	switch {
	case op == classify.PutObject || op == classify.UploadPart:
		u.Size = body.length
	case (op == classify.CopyObject || op == classify.UploadPartCopy) && needs.Sizes:
		// The copy is as large as its source (ranges of UploadPartCopy
		// are bounded by it too).
		src, _, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
		if err != nil {
			return err
		}
		if u.Size, err = s.sourceSize(ctx, src); err != nil {
			return err
		}
		if n, ok := rangeLength(r.Header.Get("X-Amz-Copy-Source-Range")); ok && op == classify.UploadPartCopy {
			u.Size = n
		}
	}
	u.PartNumber = partNumber(r.URL.Query())
	if (op == classify.UploadPart || op == classify.UploadPartCopy || op == classify.CompleteMultipartUpload) && needs.Sizes {
		// The parts already stored count towards the object's size and the
		// quota; a re-sent part replaces its earlier version.
		so, err := s.backend.UploadedSoFar(ctx, t, r.URL.Query().Get("uploadId"), u.PartNumber)
		if err != nil {
			return err
		}
		u.UploadedSoFar = so
	}
	for k, vv := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Amz-Meta-"); ok {
			for _, v := range vv {
				u.MetadataBytes += len(name) + len(v)
			}
		}
	}
	if s.lookup != nil && needs.Replaced && (op == classify.PutObject || op == classify.CopyObject || op == classify.CompleteMultipartUpload) {
		obj, exists, err := s.lookup.Lookup(ctx, t.Bucket, t.Key)
		if err != nil {
			return s3err.Wrap(s3err.ServiceUnavailable, "The index is unavailable.", err)
		}
		u.ReplacedSize, u.ReplacedOwner, u.Overwrites = obj.Size, obj.Owner, exists
	}
	if err := s.policy.CheckUpload(ctx, u); err != nil {
		return err
	}
	if body.reader == nil {
		return nil
	}
	if (op == classify.PutObject || (op == classify.UploadPart && u.PartNumber == 1)) && s.policy.TypesRestricted(t.Bucket) {
		// Judge the content by its magic bytes: read the first bytes (they
		// are verified like the rest), then forward them ahead of the rest.
		head := make([]byte, min(body.length, 4096))
		n, err := io.ReadFull(body.reader, head)
		if err != nil {
			return err
		}
		if err := s.policy.CheckType(t.Bucket, head[:n]); err != nil {
			return err
		}
		body.reader = readCloser{io.MultiReader(bytes.NewReader(head[:n]), body.reader), body.reader}
	}
	body.reader = readCloser{s.policy.Throttle(ctx, user, body.reader), body.reader}
	return nil
}

// partNumber is the request's partNumber, 0 when absent.
func partNumber(q url.Values) int {
	n, _ := strconv.Atoi(q.Get("partNumber"))
	return n
}
