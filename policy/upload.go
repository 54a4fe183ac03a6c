package policy

import (
	"context"
	"fmt"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

// Upload describes a request that adds bytes or an object, as the gateway
// knows it before reading the body.
type Upload struct {
	User   string // access key; "" anonymous. Caller.Reserve ignores it.
	Bucket string
	Key    string
	Op     classify.Op
	// UploadID is the multipart upload's id (the uploadId query parameter)
	// for UploadPart, UploadPartCopy, CompleteMultipartUpload and
	// AbortMultipartUpload: parts are reserved under it until the upload
	// ends.
	UploadID string
	// Size is the declared body size: Content-Length, or
	// x-amz-decoded-content-length for aws-chunked bodies; for CopyObject
	// and UploadPartCopy the source's size if known. -1: unknown.
	Size int64
	// PartNumber is the part's number for UploadPart(Copy), and the highest
	// part number for CompleteMultipartUpload.
	PartNumber int
	// UploadedSoFar is, for UploadPart(Copy), the bytes already in the
	// upload's other parts, and for CompleteMultipartUpload the bytes in all
	// its parts (from ListParts). -1: unknown.
	UploadedSoFar int64
	// MetadataBytes is the user metadata size as S3 counts it: the UTF-8
	// bytes of every x-amz-meta-* name (without the prefix) and value.
	MetadataBytes int
	// ReplacedSize is the size of the object the upload overwrites (from
	// the index), 0 if the key is new.
	ReplacedSize int64
	// ReplacedOwner is the user name the index attributes the replaced
	// object to ("" unknown). Only its owner's quota is credited with it:
	// overwriting someone else's object moves it into the writer's usage.
	ReplacedOwner string
	// Overwrites says the key already holds an object, so the object count
	// does not grow. ReplacedSize > 0 implies it; set it for an existing
	// empty object.
	Overwrites bool
}

// Usage is what is stored, per bucket and per user name, as the index
// counts it. It is consulted only when a quota applies.
type Usage interface {
	BucketUsage(ctx context.Context, bucket string) (objects, bytes int64, err error)
	UserUsage(ctx context.Context, user string) (objects, bytes int64, err error)
}

// SharedQuotas checks quotas against the uploads in transfer on every
// replica sharing one index, and holds an upload's share there until it
// ends (metastore/pgstore's Reserve, through an adapter). Without it, the
// Holder's reservations count this process's uploads only: with several
// replicas, each could fill a quota on its own.
type SharedQuotas interface {
	Reserve(ctx context.Context, holds []SharedHold) (release func(), refused *SharedRefusal, err error)
}

// SharedHold is one quota an upload is checked against and what it adds.
type SharedHold struct {
	Owner bool // a user's quota; else a bucket's
	Name  string

	Objects, Bytes       int64
	MaxObjects, MaxBytes int64 // 0 is no limit
}

// SharedRefusal says which SharedHold would be exceeded and what was
// found there.
type SharedRefusal struct {
	Index                          int
	UsedObjects, UsedBytes         int64
	ReservedObjects, ReservedBytes int64
}

// Reserve applies the size, part, metadata and quota rules to an upload
// before any body byte is read, and reserves what the upload adds against
// the bucket's and the user's quotas in the same step: until release, every
// other Reserve counts it as if it were stored, so concurrent uploads cannot
// together overshoot a quota. u.User is ignored: the upload is the
// Caller's. Size rules come from the bucket's rule and from the user; each
// applies, so the stricter wins:
//
//   - MetadataBytes > max_metadata_bytes: InvalidArgument (400)
//   - PartNumber > max_parts: InvalidArgument (400)
//   - Size > max_object_size, or the multipart total > max_multipart_size:
//     EntityTooLarge (400)
//   - PutObject or UploadPart of unknown size where a size limit or a byte
//     quota applies: MissingContentLength (411)
//   - stored + reserved + new − replaced > a bucket or user quota:
//     QuotaExceeded (403)
//
// Usage errors fail closed with ServiceUnavailable (503), which SDKs retry.
//
// On success the gateway must call release exactly once, when the backend
// has answered (extra calls are ignored): kept is true when the backend
// stored what the request sent (a 2xx answer) and, for PutObject,
// CopyObject and CompleteMultipartUpload, only after the index was told
// (change.Index.Apply returned), because from then on the index's usage
// counts the object instead of the reservation. For UploadPart and
// UploadPartCopy a kept part stays reserved under its upload id until
// CompleteMultipartUpload or AbortMultipartUpload of that id is released
// with kept true; a re-sent part number replaces the earlier part. Every
// upload operation gets a release, also those that reserve nothing
// (CreateMultipartUpload, AbortMultipartUpload, which frees the upload's
// parts when kept); any other operation gets a release that does nothing.
func (c *Caller) Reserve(ctx context.Context, u Upload) (release func(kept bool), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reserve upload: %w", err)
	}
	h, e := c.h, c.engine
	name := c.Name()
	r := e.rule(u.Bucket)
	scopes := []sizeScope{{r.sizes, "bucket", u.Bucket}}
	var userQuota quota
	if usr := c.user; usr != nil {
		userQuota = usr.quota
		if usr.sizes.any() {
			scopes = append(scopes, sizeScope{usr.sizes, "user", usr.name})
		}
	}
	byteQuota := r.quota.maxBytes > 0 || userQuota.maxBytes > 0
	limited := func(pick func(sizeLimits) Size) bool {
		for _, sc := range scopes {
			if pick(sc.limits) > 0 {
				return true
			}
		}
		return false
	}
	objectLimited := limited(func(l sizeLimits) Size { return l.maxObject })
	multipartLimited := limited(func(l sizeLimits) Size { return l.maxMultipart })

	var added int64 // bytes the finished object will hold; a lower bound when unknown
	spec := u.Op.Spec()
	switch spec.Upload() {
	case classify.WholeObject:
		if err := h.checkMetadata(u, scopes, name); err != nil {
			return nil, err
		}
		if u.Size < 0 && spec.Bytes == classify.BodyBytes && (objectLimited || byteQuota) {
			return nil, h.sizeUnknown(u, name)
		}
		for _, sc := range scopes {
			if sc.limits.maxObject > 0 && u.Size > int64(sc.limits.maxObject) {
				h.refused(ReasonTooLarge, name)
				return nil, s3err.New(s3err.EntityTooLarge, fmt.Sprintf(
					"Your proposed upload exceeds the maximum allowed object size: %d bytes, and max_object_size of %s is %s.",
					u.Size, sc, sc.limits.maxObject.describe()))
			}
		}
		added = max(u.Size, 0)
	case classify.StartsUpload:
		if err := h.checkMetadata(u, scopes, name); err != nil {
			return nil, err
		}
	case classify.AddsPart:
		if err := h.checkParts(u, scopes, name); err != nil {
			return nil, err
		}
		if u.Size < 0 && spec.Bytes == classify.BodyBytes && (multipartLimited || byteQuota) {
			return nil, h.sizeUnknown(u, name)
		}
		added = max(u.UploadedSoFar, 0) + max(u.Size, 0)
		if err := h.checkMultipartTotal(u, scopes, name, added); err != nil {
			return nil, err
		}
	case classify.CompletesUpload:
		if err := h.checkParts(u, scopes, name); err != nil {
			return nil, err
		}
		added = max(u.UploadedSoFar, 0)
		if err := h.checkMultipartTotal(u, scopes, name, added); err != nil {
			return nil, err
		}
	case classify.AbortsUpload:
		return h.ledger.abortRelease(u.Bucket, u.UploadID), nil
	default:
		return func(bool) {}, nil
	}
	return h.reserve(ctx, newClaim(u, name, added), name, r.quota, userQuota)
}

// sizeScope is one set of size limits and whose they are, for messages:
// "bucket photos" or "user ana" (built only when refusing).
type sizeScope struct {
	limits     sizeLimits
	kind, name string
}

func (sc sizeScope) String() string { return sc.kind + " " + sc.name }

// checkMetadata uses InvalidArgument: S3's own MetadataTooLarge (400) is not
// in photogate's error table, and EntityTooLarge would make clients think
// the body is the problem.
func (h *Holder) checkMetadata(u Upload, scopes []sizeScope, name string) error {
	for _, sc := range scopes {
		if m := sc.limits.maxMetadata; m > 0 && int64(u.MetadataBytes) > int64(m) {
			h.refused(ReasonMetadata, name)
			return s3err.New(s3err.InvalidArgument, fmt.Sprintf(
				"Your metadata headers exceed the maximum allowed metadata size: x-amz-meta-* total %d bytes, and max_metadata_bytes of %s is %s.",
				u.MetadataBytes, sc, m.describe()))
		}
	}
	return nil
}

// checkParts uses InvalidArgument, as S3 does for part numbers over 10000.
func (h *Holder) checkParts(u Upload, scopes []sizeScope, name string) error {
	for _, sc := range scopes {
		if m := sc.limits.maxParts; m > 0 && u.PartNumber > m {
			h.refused(ReasonTooManyParts, name)
			return s3err.New(s3err.InvalidArgument, fmt.Sprintf(
				"Part number %d is over max_parts %d of %s; use larger parts.", u.PartNumber, m, sc))
		}
	}
	return nil
}

func (h *Holder) checkMultipartTotal(u Upload, scopes []sizeScope, name string, total int64) error {
	for _, sc := range scopes {
		limit := sc.limits.maxMultipart
		if limit == 0 || total <= int64(limit) {
			continue
		}
		h.refused(ReasonTooLarge, name)
		var msg string
		switch {
		case u.Op.Spec().Upload() == classify.CompletesUpload:
			msg = fmt.Sprintf("Your proposed upload exceeds the maximum allowed object size: its parts hold %d bytes, and max_multipart_size of %s is %s.",
				total, sc, limit.describe())
		case u.UploadedSoFar > 0:
			msg = fmt.Sprintf("Your proposed upload exceeds the maximum allowed object size: %d bytes in other parts + %d in this part, and max_multipart_size of %s is %s.",
				u.UploadedSoFar, max(u.Size, 0), sc, limit.describe())
		default:
			msg = fmt.Sprintf("Your proposed upload exceeds the maximum allowed object size: this part has %d bytes, and max_multipart_size of %s is %s.",
				total, sc, limit.describe())
		}
		return s3err.New(s3err.EntityTooLarge, msg)
	}
	return nil
}

// sizeUnknown refuses a body of unknown length where a limit applies: the
// only alternative would be to store first and judge later. S3 itself
// answers MissingContentLength to a PutObject without a length, and every
// SDK sends one (x-amz-decoded-content-length for aws-chunked bodies).
func (h *Holder) sizeUnknown(u Upload, name string) error {
	h.refused(ReasonSizeUnknown, name)
	return s3err.New(s3err.MissingContentLength, fmt.Sprintf(
		"Uploads to bucket %s are limited in size; send Content-Length (or x-amz-decoded-content-length with aws-chunked).", u.Bucket))
}

// usageGrowth is how much an upload adds to what one quota counts.
type usageGrowth struct{ objects, bytes int64 }

func (g usageGrowth) any() bool { return g.objects > 0 || g.bytes > 0 }

// growth is what an upload of added bytes adds when it replaces (or not) an
// object of replacedSize that counts towards the same quota.
func growth(added int64, replaces bool, replacedSize int64) usageGrowth {
	if !replaces {
		return usageGrowth{1, added}
	}
	return usageGrowth{0, added - max(replacedSize, 0)}
}

// usageUnavailable fails closed: a quota that cannot be checked is not
// waived. 503 makes SDKs retry, which succeeds once the index answers.
func usageUnavailable(cause error) error {
	return &s3err.Error{Code: s3err.ServiceUnavailable, Message: "Storage usage is unavailable; please retry.", RetryAfter: 1, Cause: cause}
}

// UploadNeeds says which facts about an upload Reserve will use for
// accessKey in bucket. Each costs the caller a lookup (the index, or a
// backend HEAD or part listing), so callers fetch only what is needed.
type UploadNeeds struct {
	// Sizes: a size limit or a byte quota applies, so the sizes of copy
	// sources and of a multipart upload's existing parts matter.
	Sizes bool
	// Replaced: a quota applies, so the object an upload replaces matters.
	Replaced bool
}

// UploadNeeds reports what Reserve needs to know for the Caller's uploads
// into bucket.
func (c *Caller) UploadNeeds(bucket string) UploadNeeds {
	r := c.engine.rule(bucket)
	var us sizeLimits
	var uq quota
	if usr := c.user; usr != nil {
		us, uq = usr.sizes, usr.quota
	}
	return UploadNeeds{
		Sizes: r.sizes.maxObject > 0 || r.sizes.maxMultipart > 0 || us.maxObject > 0 || us.maxMultipart > 0 ||
			r.quota.maxBytes > 0 || uq.maxBytes > 0,
		Replaced: r.quota.set() || uq.set(),
	}
}
