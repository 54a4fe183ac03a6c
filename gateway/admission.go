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

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/s3req"
	"github.com/photogate/photogate/s3/sigv4"
)

// Policy is what the gateway asks before a request may reach the backend.
// *policy.Holder implements it. Everything about one request is asked of
// the Caller resolved once for it, so a reload cannot split a request
// between two policies.
type Policy interface {
	Secret(accessKey string) (string, bool)
	AuthAllowed(ip string) error
	AuthFailed(ip string)
	Caller(accessKey string) *policy.Caller
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

// authorize checks the operation, the privileged grants its headers need,
// and for copies read access to the source, which the caller could
// otherwise exfiltrate from a bucket it cannot read.
func authorize(c *policy.Caller, op classify.Op, t classify.Target, src *s3req.CopySource, h http.Header) error {
	if err := c.Authorize(op, t.Bucket, t.Key); err != nil {
		return err
	}
	for _, action := range op.PrivilegedActions(h) {
		if err := c.AuthorizePrivileged(action, t.Bucket); err != nil {
			return err
		}
	}
	if src == nil {
		return nil
	}
	if err := c.Authorize(classify.GetObject, src.Bucket, src.Key); err != nil {
		return err
	}
	// Forward exactly what was authorised.
	h.Set("X-Amz-Copy-Source", src.Canonical())
	return nil
}

// admission is what admitUpload decided about a request that puts bytes
// into an object, for the gateway to finish once the backend answered.
type admission struct {
	release func(kept bool) // the quota reservation; never nil
	// part, when not nil, records the type verdict of the uploaded part
	// once the backend named its ETag.
	part *partVerdict
	// uploadEnds names the upload this request completes or aborts: its
	// part verdicts go once the backend did it.
	uploadEnds string
}

func noAdmission() *admission { return &admission{release: func(bool) {}} }

// admitUpload applies the size, type and quota rules to every way bytes
// enter an object (the table's Bytes column) before any body byte is
// forwarded, reserves the upload against the quotas, and throttles the body
// to the user's upload rate.
func (s *Server) admitUpload(ctx context.Context, r *http.Request, c *policy.Caller, op classify.Op, t classify.Target, src *s3req.CopySource, body *uploadBody) (*admission, error) {
	spec := op.Spec()
	query := r.URL.Query()
	uploadID := query.Get("uploadId")
	if spec.Aborts {
		release, err := c.Reserve(ctx, policy.Upload{Bucket: t.Bucket, Key: t.Key, Op: op, UploadID: uploadID, Size: -1, UploadedSoFar: -1})
		if err != nil {
			return nil, err
		}
		return &admission{release: release, uploadEnds: uploadID}, nil
	}
	if spec.Bytes == classify.NoBytes {
		return noAdmission(), nil
	}
	declares := spec.Bytes == classify.DeclaredObject ||
		spec.Bytes == classify.BodyBytes && !spec.Part ||
		spec.Bytes == classify.CopiedBytes && !spec.Part && strings.EqualFold(r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE")
	if declares {
		if err := c.CheckDeclaredType(t.Bucket, r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	typed := c.TypesRestricted(t.Bucket)
	// Sizes of copy sources, existing parts and replaced objects each cost a
	// lookup; fetch only those the bucket's and user's rules use.
	needs := c.UploadNeeds(t.Bucket)
	u := policy.Upload{Bucket: t.Bucket, Key: t.Key, Op: op, UploadID: uploadID, Size: -1, UploadedSoFar: -1}
	var srcHead []byte
	switch spec.Bytes {
	case classify.BodyBytes:
		u.Size = body.length
	case classify.CopiedBytes:
		if needs.Sizes || typed {
			size, head, srcType, err := s.readSource(ctx, *src, r.Header.Get("X-Amz-Copy-Source-Range"), typed)
			if err != nil {
				return nil, ownCallFailed("the copy source", err)
			}
			u.Size, srcHead = size, head
			if typed && !spec.Part && !declares && size >= 0 {
				// Without REPLACE the copy keeps the source's stored
				// Content-Type, which must pass the destination's rules as
				// a declared one would: text/html copied into an image
				// bucket would be served as a page.
				if err := c.CheckDeclaredType(t.Bucket, srcType); err != nil {
					return nil, err
				}
			}
		}
	}
	if spec.Part || spec.Bytes == classify.PartBytes {
		u.PartNumber = partNumber(query)
		if needs.Sizes {
			// The parts already stored count towards the object's size and
			// the quota; a re-sent part replaces its earlier version.
			so, err := s.backend.UploadedSoFar(ctx, t, uploadID, u.PartNumber)
			if err != nil {
				return nil, ownCallFailed("the upload's parts", err)
			}
			u.UploadedSoFar = so
		}
	}
	u.MetadataBytes = s3req.MetadataBytes(r.Header)
	if s.lookup != nil && needs.Replaced && !spec.Part && spec.Bytes != classify.DeclaredObject {
		obj, exists, err := s.lookup.Lookup(ctx, t.Bucket, t.Key)
		if err != nil {
			return nil, s3err.Wrap(s3err.ServiceUnavailable, "The index is unavailable.", err)
		}
		u.ReplacedSize, u.ReplacedOwner, u.Overwrites = obj.Size, obj.Owner, exists
	}

	// Size and quota first: they need no body byte, so an upload refused
	// for its size is refused before the client sends it (Expect:
	// 100-continue); the type check then reads the body's first bytes.
	release, err := c.Reserve(ctx, u)
	if err != nil {
		return nil, err
	}
	adm := &admission{release: release}
	if typed {
		if err := s.checkTypes(c, spec, t, uploadID, u.PartNumber, r, body, srcHead, adm); err != nil {
			release(false)
			return nil, err
		}
	}
	if spec.Bytes == classify.PartBytes {
		adm.uploadEnds = uploadID
	}
	if body.reader != nil {
		body.reader = readCloser{c.Throttle(ctx, body.reader), body.reader}
	}
	return adm, nil
}

// checkTypes judges content by its magic bytes wherever bytes enter an
// object in a bucket with allowed_types:
//   - a PUT or a part by the first bytes of its body;
//   - a copy by the first bytes of the source version (at the range's start);
//   - a completed multipart upload by the verdict on its first listed part,
//     which must have been judged when it was uploaded.
//
// Parts other than part 1 are judged but not refused (the middle of a photo
// is no photo); their verdict matters only if a completion lists them first.
func (s *Server) checkTypes(c *policy.Caller, spec classify.Spec, t classify.Target, uploadID string, part int, r *http.Request, body *uploadBody, srcHead []byte, adm *admission) error {
	var head []byte
	switch spec.Bytes {
	case classify.BodyBytes:
		if body.reader == nil {
			return nil // no bytes, no content to judge (the declared type was)
		}
		// The bytes are read through the body's one tap (verified, and seen
		// by the metadata extractor), then forwarded ahead of the rest.
		buf := make([]byte, min(body.length, sniffBytes))
		n, err := io.ReadFull(body.reader, buf)
		if err != nil {
			return err
		}
		head = buf[:n]
		body.reader = readCloser{io.MultiReader(bytes.NewReader(head), body.reader), body.reader}
	case classify.CopiedBytes:
		head = srcHead
	case classify.PartBytes:
		first, err := firstListedPart(body)
		if err != nil {
			return err
		}
		return s.partTypes.check(t, uploadID, first)
	default:
		return nil
	}
	verdict := c.CheckType(t.Bucket, head)
	if !spec.Part {
		return verdict
	}
	if part == 1 && verdict != nil {
		return verdict
	}
	adm.part = &partVerdict{target: t, uploadID: uploadID, part: part, refusal: verdict}
	return nil
}

// ownCallFailed maps a failure of photogate's own call to the backend
// (reading a copy source, listing an upload's parts) to what the client
// hears: the backend could not answer, which is not the request's fault. S3
// errors (a SlowDown from the breaker, a request error) pass as they are.
func ownCallFailed(what string, err error) error {
	var e *s3err.Error
	if errors.As(err, &e) {
		return err
	}
	if backend.CredentialsRefused(err) {
		return s3err.Wrap(s3err.ServiceUnavailable, "The storage backend refused photogate's credentials.", err)
	}
	return s3err.Wrap(s3err.ServiceUnavailable, "The storage backend did not answer photogate's request for "+what+"; retry later.", err)
}

// sniffBytes is how much of an object's start the type check reads.
const sniffBytes = 4096

// readSource finds the size of a copy's source version (or of its range)
// and, when withHead, its first bytes (from the range's start) and its
// stored Content-Type. An object the backend does not have yields size -1:
// the backend answers the copy with the right error.
func (s *Server) readSource(ctx context.Context, src s3req.CopySource, rangeHeader string, withHead bool) (size int64, head []byte, contentType string, err error) {
	size = -1
	if src.VersionID == "" && s.lookup != nil && !withHead {
		if obj, ok, err := s.lookup.Lookup(ctx, src.Bucket, src.Key); err == nil && ok {
			size = obj.Size
		}
	}
	if size < 0 {
		obj, ok, err := s.backend.StatVersion(ctx, src.Bucket, src.Key, src.VersionID)
		if err != nil {
			return 0, nil, "", err
		}
		if !ok {
			return -1, nil, "", nil
		}
		size, contentType = obj.Size, obj.ContentType
	}
	offset := int64(0)
	if rangeHeader != "" {
		first, last, err := s3req.ParseCopyRange(rangeHeader)
		if err != nil {
			return 0, nil, "", err
		}
		offset, size = first, last-first+1
	}
	if !withHead {
		return size, nil, contentType, nil
	}
	head, err = s.backend.ReadVersion(ctx, src.Bucket, src.Key, src.VersionID, offset, sniffBytes)
	if err != nil {
		return 0, nil, "", err
	}
	return size, head, contentType, nil
}

// partNumber is the request's partNumber, 0 when absent.
func partNumber(q url.Values) int {
	n, _ := strconv.Atoi(q.Get("partNumber"))
	return n
}
