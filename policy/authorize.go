package policy

import (
	"context"
	"fmt"
	"slices"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

// Secret returns the secret key of accessKey, for SigV4 verification.
func (h *Holder) Secret(accessKey string) (string, bool) {
	u, ok := h.Load().users[accessKey]
	if !ok {
		return "", false
	}
	return u.secret.Reveal(), true
}

// UserName returns the configured name of accessKey: what quotas (Usage),
// logs and metrics call the user. The index should record uploads under it.
func (h *Holder) UserName(accessKey string) (string, bool) { return h.Load().UserName(accessKey) }

// Authorize returns nil if the caller may perform op on bucket, or
// AccessDenied (403). accessKey "" is an anonymous (unsigned) request. key is
// the object key; grants are per bucket today, so it does not change the
// answer. It never does I/O.
//
// CopyObject and UploadPartCopy also read their source: the caller must
// authorize GetObject on the source bucket and key as well.
func (h *Holder) Authorize(_ context.Context, accessKey string, op classify.Op, bucket, _ string) error {
	e := h.Load()
	if accessKey == "" {
		return h.authorizeAnonymous(e, op, bucket)
	}
	u, ok := e.users[accessKey]
	if !ok {
		// SigV4 has verified the key, so it was removed by a reload while
		// the request was in flight.
		h.refused(ReasonAccessDenied, "")
		return s3err.New(s3err.AccessDenied, "Access Denied: the access key is no longer valid.")
	}
	action := op.Action()
	for _, g := range u.grants {
		if !g.actions.has(action) {
			continue
		}
		for _, p := range g.patterns {
			if matchBucket(p, bucket) {
				return nil
			}
		}
	}
	h.refused(ReasonAccessDenied, u.name)
	if bucket == "" {
		return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: %s needs a grant of %s on every bucket (\"*\").", op, action))
	}
	return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: no grant allows %s (%s) on bucket %s.", action, op, bucket))
}

// authorizeAnonymous lets unsigned requests read objects and list the
// buckets whose rule says public_read, and nothing else: no listing of
// buckets, uploads or versions, no tags, ACLs or Select.
func (h *Holder) authorizeAnonymous(e *Engine, op classify.Op, bucket string) error {
	switch op {
	case classify.GetObject, classify.HeadObject, classify.HeadBucket, classify.ListObjects, classify.ListObjectsV2:
		if bucket != "" && e.rule(bucket).publicRead {
			return nil
		}
	}
	h.refused(ReasonAccessDenied, "")
	return s3err.New(s3err.AccessDenied, "Anonymous access is not allowed; sign the request with a photogate access key.")
}

// IsAdmin reports whether accessKey holds the admin action on every bucket
// (a grant whose pattern is "*"): what the admin API asks of a signed
// caller, since it answers about all buckets at once.
func (h *Holder) IsAdmin(accessKey string) bool {
	u, ok := h.Load().users[accessKey]
	if !ok {
		return false
	}
	for _, g := range u.grants {
		if g.actions.has(classify.ActionAdmin) && slices.Contains(g.patterns, "*") {
			return true
		}
	}
	return false
}
