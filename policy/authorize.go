package policy

import (
	"fmt"
	"slices"
	"strings"

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

// Authorize returns nil if the caller may perform op on bucket, or
// AccessDenied (403). key is the object key; grants are per bucket today,
// so it does not change the answer. It never does I/O.
//
// CopyObject and UploadPartCopy also read their source: the gateway must
// authorize GetObject on the source bucket and key as well. Operations that
// touch object lock need AuthorizePrivileged on top.
func (c *Caller) Authorize(op classify.Op, bucket, _ string) error {
	if c.accessKey == "" {
		return c.authorizeAnonymous(op, bucket)
	}
	action := op.Action()
	if err := c.known(); err != nil {
		return err
	}
	if !c.allows(action, bucket) {
		c.h.refused(ReasonAccessDenied, c.Name())
		if bucket == "" {
			return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: %s needs a grant of %s on every bucket (\"*\").", op, action))
		}
		return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: no grant allows %s (%s) on bucket %s.", action, op, bucket))
	}
	return nil
}

// AuthorizePrivileged returns nil if the caller holds a grant naming action
// (classify.ActionBypassGovernance, ActionRetention or ActionLegalHold) on
// bucket, or AccessDenied (403) naming the action. The gateway asks it, in
// addition to Authorize, for each action op.PrivilegedActions(header)
// lists. No other action implies these (not write, delete or admin, not
// FullAccess), and anonymous callers never hold them.
func (c *Caller) AuthorizePrivileged(action classify.Action, bucket string) error {
	if c.accessKey == "" {
		c.h.refused(ReasonAccessDenied, "")
		return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: anonymous requests may not use %s.", action))
	}
	if err := c.known(); err != nil {
		return err
	}
	if !c.allows(action, bucket) {
		c.h.refused(ReasonAccessDenied, c.Name())
		return s3err.New(s3err.AccessDenied, fmt.Sprintf("Access Denied: no grant allows %s on bucket %s; it must be granted by name.", action, bucket))
	}
	return nil
}

// known refuses a signed caller whose key the Engine does not know: SigV4
// verified it, so a reload removed it while the request was in flight.
func (c *Caller) known() error {
	if c.user != nil {
		return nil
	}
	c.h.refused(ReasonAccessDenied, "")
	return s3err.New(s3err.AccessDenied, "Access Denied: the access key is no longer valid.")
}

// allows reports whether one of the user's grants has action on bucket.
func (c *Caller) allows(action classify.Action, bucket string) bool {
	for _, g := range c.user.grants {
		if !g.actions.has(action) {
			continue
		}
		for _, p := range g.patterns {
			if matchBucket(p, bucket) {
				return true
			}
		}
	}
	return false
}

// authorizeAnonymous lets unsigned requests perform the operations s3/classify
// marks Public (reading objects, listing objects) in the buckets whose rule
// says public_read, and nothing else: no listing of buckets, uploads or
// versions, no tags, ACLs or Select.
func (c *Caller) authorizeAnonymous(op classify.Op, bucket string) error {
	if op.Spec().Public && bucket != "" && c.engine.rule(bucket).publicRead {
		return nil
	}
	c.h.refused(ReasonAccessDenied, "")
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

// NamedBuckets lists the buckets the caller's grants name literally (a
// pattern without wildcards) for action: buckets a user interface can
// offer even before they hold anything. Buckets reached only through a
// wildcard pattern are not listed; Authorize remains the check.
func (c *Caller) NamedBuckets(action classify.Action) []string {
	if c.user == nil {
		return nil
	}
	var names []string
	for _, g := range c.user.grants {
		if !g.actions.has(action) {
			continue
		}
		for _, p := range g.patterns {
			if !strings.ContainsAny(p, `*?[\`) && !slices.Contains(names, p) {
				names = append(names, p)
			}
		}
	}
	slices.Sort(names)
	return names
}
