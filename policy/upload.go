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
	User   string // access key; "" anonymous
	Bucket string
	Key    string
	Op     classify.Op
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

// CheckUpload applies the size, part, metadata and quota rules to an upload
// before any body byte is read. Size rules come from the bucket's rule and
// from the user; each applies, so the stricter wins:
//
//   - MetadataBytes > max_metadata_bytes: InvalidArgument (400)
//   - PartNumber > max_parts: InvalidArgument (400)
//   - Size > max_object_size, or the multipart total > max_multipart_size:
//     EntityTooLarge (400)
//   - PutObject or UploadPart of unknown size where a size limit or a byte
//     quota applies: MissingContentLength (411)
//   - stored + new − replaced > a bucket or user quota: QuotaExceeded (403)
//
// Operations that add nothing return nil. Usage errors fail closed with
// ServiceUnavailable (503), which SDKs retry.
func (h *Holder) CheckUpload(ctx context.Context, u Upload) error {
	e := h.Load()
	name := e.name(u.User)
	r := e.rule(u.Bucket)
	scopes := []sizeScope{{r.sizes, "bucket", u.Bucket}}
	var userQuota quota
	if usr := e.users[u.User]; usr != nil {
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
	switch u.Op {
	case classify.PutObject, classify.CopyObject:
		if err := h.checkMetadata(u, scopes, name); err != nil {
			return err
		}
		if u.Size < 0 && u.Op == classify.PutObject && (objectLimited || byteQuota) {
			return h.sizeUnknown(u, name)
		}
		for _, sc := range scopes {
			if sc.limits.maxObject > 0 && u.Size > int64(sc.limits.maxObject) {
				h.refused(ReasonTooLarge, name)
				return s3err.New(s3err.EntityTooLarge, fmt.Sprintf(
					"Your proposed upload exceeds the maximum allowed object size: %d bytes, and max_object_size of %s is %s.",
					u.Size, sc, sc.limits.maxObject.describe()))
			}
		}
		added = max(u.Size, 0)
	case classify.CreateMultipartUpload:
		if err := h.checkMetadata(u, scopes, name); err != nil {
			return err
		}
	case classify.UploadPart, classify.UploadPartCopy:
		if err := h.checkParts(u, scopes, name); err != nil {
			return err
		}
		if u.Size < 0 && u.Op == classify.UploadPart && (multipartLimited || byteQuota) {
			return h.sizeUnknown(u, name)
		}
		added = max(u.UploadedSoFar, 0) + max(u.Size, 0)
		if err := h.checkMultipartTotal(u, scopes, name, added); err != nil {
			return err
		}
	case classify.CompleteMultipartUpload:
		if err := h.checkParts(u, scopes, name); err != nil {
			return err
		}
		added = max(u.UploadedSoFar, 0)
		if err := h.checkMultipartTotal(u, scopes, name, added); err != nil {
			return err
		}
	default:
		return nil
	}
	return h.checkQuotas(ctx, u, name, r.quota, userQuota, added)
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
		case u.Op == classify.CompleteMultipartUpload:
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

// checkQuotas refuses an upload that would take a bucket or the user over a
// quota. An upload that adds no object and no bytes to what a quota counts
// (an overwrite of one's own object with a smaller or equal one) is never
// refused, so an owner over a lowered quota can still shrink what they hold.
func (h *Holder) checkQuotas(ctx context.Context, u Upload, name string, bucketQuota, userQuota quota, added int64) error {
	// The bucket always gets the replaced object's credit; the user only
	// when the replaced object counted as theirs.
	bucketGrowth := growth(added, u.Overwrites || u.ReplacedSize > 0, u.ReplacedSize)
	userGrowth := growth(added, false, 0)
	if u.ReplacedOwner == name {
		userGrowth = bucketGrowth
	}
	bucketApplies := bucketQuota.set() && bucketGrowth.any()
	userApplies := userQuota.set() && userGrowth.any()
	if !bucketApplies && !userApplies {
		return nil
	}
	if h.usage == nil {
		return s3err.New(s3err.InternalError, "A storage quota applies but photogate has no usage source; refusing rather than ignoring the quota.")
	}
	if bucketApplies {
		objects, bytes, err := h.usage.BucketUsage(ctx, u.Bucket)
		if err != nil {
			return usageUnavailable(fmt.Errorf("usage of bucket %s: %w", u.Bucket, err))
		}
		if msg := exceeded(bucketQuota, objects, bytes, bucketGrowth); msg != "" {
			h.refused(ReasonQuota, name)
			return s3err.New(s3err.QuotaExceeded, fmt.Sprintf("The upload would exceed the quota of bucket %s: %s.", u.Bucket, msg))
		}
	}
	if userApplies {
		objects, bytes, err := h.usage.UserUsage(ctx, name)
		if err != nil {
			return usageUnavailable(fmt.Errorf("usage of user %s: %w", name, err))
		}
		if msg := exceeded(userQuota, objects, bytes, userGrowth); msg != "" {
			h.refused(ReasonQuota, name)
			return s3err.New(s3err.QuotaExceeded, fmt.Sprintf("The upload would exceed the quota of user %s: %s.", name, msg))
		}
	}
	return nil
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

// exceeded describes how q would be exceeded, "" if it would not. Reaching a
// quota exactly is allowed.
func exceeded(q quota, objects, bytes int64, g usageGrowth) string {
	switch {
	case q.maxObjects > 0 && g.objects > 0 && objects+g.objects > q.maxObjects:
		return fmt.Sprintf("%d objects stored + 1 new > max_objects %d", objects, q.maxObjects)
	case q.maxBytes > 0 && g.bytes > 0 && bytes+g.bytes > q.maxBytes:
		return fmt.Sprintf("%d bytes stored + %d new > max_bytes %s", bytes, g.bytes, Size(q.maxBytes).describe())
	}
	return ""
}

// usageUnavailable fails closed: a quota that cannot be checked is not
// waived. 503 makes SDKs retry, which succeeds once the index answers.
func usageUnavailable(cause error) error {
	return &s3err.Error{Code: s3err.ServiceUnavailable, Message: "Storage usage is unavailable; please retry.", RetryAfter: 1, Cause: cause}
}

// UploadNeeds says which facts about an upload CheckUpload will use for
// accessKey in bucket. Each costs the caller a lookup (the index, or a
// backend HEAD or part listing), so callers fetch only what is needed.
type UploadNeeds struct {
	// Sizes: a size limit or a byte quota applies, so the sizes of copy
	// sources and of a multipart upload's existing parts matter.
	Sizes bool
	// Replaced: a quota applies, so the object an upload replaces matters.
	Replaced bool
}

// UploadNeeds reports what CheckUpload needs to know for uploads by
// accessKey into bucket.
func (h *Holder) UploadNeeds(accessKey, bucket string) UploadNeeds {
	e := h.Load()
	r := e.rule(bucket)
	var us sizeLimits
	var uq quota
	if usr := e.users[accessKey]; usr != nil {
		us, uq = usr.sizes, usr.quota
	}
	return UploadNeeds{
		Sizes: r.sizes.maxObject > 0 || r.sizes.maxMultipart > 0 || us.maxObject > 0 || us.maxMultipart > 0 ||
			r.quota.maxBytes > 0 || uq.maxBytes > 0,
		Replaced: r.quota.set() || uq.set(),
	}
}
