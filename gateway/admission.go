package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/photogate/photogate/gateway/classify"
	"github.com/photogate/photogate/gateway/s3err"
	"github.com/photogate/photogate/gateway/sigv4"
	"github.com/photogate/photogate/policy"
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
	CheckType(bucket string, head []byte) error
	Throttle(ctx context.Context, accessKey string, r io.Reader) io.Reader
}

// ObjectSizer tells the size of an object photogate already indexed, so
// quotas can credit what an upload replaces.
type ObjectSizer interface {
	ObjectSize(ctx context.Context, bucket, key string) (size int64, exists bool, err error)
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
	ip := clientIP(r)
	if err := s.policy.AuthAllowed(ip); err != nil {
		return nil, err
	}
	auth, err := s.verifier.Verify(r)
	switch {
	case errors.Is(err, sigv4.ErrAnonymous):
		return &sigv4.Result{PayloadHash: sigv4.UnsignedPayload}, nil
	case s3err.Is(err, s3err.SignatureDoesNotMatch), s3err.Is(err, s3err.InvalidAccessKeyID):
		s.policy.AuthFailed(ip)
	}
	return auth, err
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
	src, err := copySource(h.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	return s.policy.Authorize(ctx, user, classify.GetObject, src.Bucket, src.Key)
}

// copySource parses x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, optionally with "?versionId=".
func copySource(v string) (classify.Target, error) {
	v, _, _ = strings.Cut(v, "?")
	p, err := url.PathUnescape(strings.TrimPrefix(v, "/"))
	if err != nil {
		return classify.Target{}, s3err.New(s3err.InvalidArgument, "Invalid copy source encoding.")
	}
	b, k, ok := strings.Cut(p, "/")
	if !ok || b == "" || k == "" {
		return classify.Target{}, s3err.New(s3err.InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return classify.Target{Bucket: b, Key: k}, nil
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
	u := policy.Upload{User: user, Bucket: t.Bucket, Key: t.Key, Op: op, Size: -1, UploadedSoFar: -1}
	if op == classify.PutObject || op == classify.UploadPart {
		u.Size = body.length
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("partNumber")); err == nil {
		u.PartNumber = n
	}
	for k, vv := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Amz-Meta-"); ok {
			for _, v := range vv {
				u.MetadataBytes += len(name) + len(v)
			}
		}
	}
	if s.sizes != nil && (op == classify.PutObject || op == classify.CopyObject || op == classify.CompleteMultipartUpload) {
		size, exists, err := s.sizes.ObjectSize(ctx, t.Bucket, t.Key)
		if err != nil {
			return s3err.Wrap(s3err.ServiceUnavailable, "The index is unavailable.", err)
		}
		u.ReplacedSize, u.Overwrites = size, exists
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
