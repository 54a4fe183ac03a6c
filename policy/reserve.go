package policy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

const (
	// pendingUploadTTL is how long the parts of a multipart upload nobody
	// touches stay reserved: MinIO removes stale uploads after 24 hours
	// (api stale_uploads_expiry), and an upload completed or aborted behind
	// photogate's back must not hold its quota for ever.
	pendingUploadTTL = 24 * time.Hour
	// sweepInterval spaces the scans for such uploads.
	sweepInterval = time.Minute
	// quotaAttempts bounds how often a check re-reads usage when uploads
	// finished while it was reading (see Holder.reserve).
	quotaAttempts = 3
)

// ledger is what uploads in progress will add to the index's usage: the
// bytes and objects of uploads between Reserve and release, and the parts
// of multipart uploads not completed or aborted. The Holder owns it, so it
// outlives Engines; it tracks every upload, with or without a quota, so a
// reload that sets a quota counts what is already under way.
type ledger struct {
	mu        sync.Mutex
	scopes    map[scopeKey]*scopeEntry
	uploads   map[uploadKey]*pendingUpload
	now       func() time.Time
	lastSweep time.Time
}

// scopeKey names what a quota counts: a bucket or a user (by name).
type scopeKey struct {
	user bool
	name string
}

// String is "bucket photos" or "user ana", for messages.
func (k scopeKey) String() string {
	if k.user {
		return "user " + k.name
	}
	return "bucket " + k.name
}

type scopeEntry struct {
	reserved usageGrowth // in transfer, and parts of pending uploads
	// kept only grows: what releases moved from reserved into the index's
	// usage. A check that read usage before such a release and compares
	// after it counts the difference, which its read may have missed.
	kept usageGrowth
	// refs are reservations and checks holding on to the entry (a check
	// needs its kept to stay monotonic); an entry with no refs and nothing
	// reserved is dropped, so buckets named in refused requests cost
	// nothing.
	refs int
}

type uploadKey struct{ bucket, id string }

// pendingUpload is a multipart upload's parts as this process saw them
// stored. Part 0 (S3 numbers parts from 1) holds bytes the backend listed
// for the upload that this process did not see stored, e.g. before a
// restart.
type pendingUpload struct {
	parts    map[int]partCharge
	lastUsed time.Time
}

// partCharge is a part's size and whose user quota it counts against (the
// user who uploaded it; "" for nobody's).
type partCharge struct {
	bytes int64
	user  string
}

func newLedger() *ledger {
	return &ledger{scopes: make(map[scopeKey]*scopeEntry), uploads: make(map[uploadKey]*pendingUpload), now: time.Now}
}

// claim is what one upload asks of the ledger.
type claim struct {
	op                classify.Op
	bucket, user      string
	uploadID          string
	partNumber        int
	size              int64 // this request's body or copy, ≥ 0
	uploadedSoFar     int64 // from the backend; -1 unknown
	added             int64 // as Reserve computed it, for single-request uploads
	replaces          bool
	replacedSize      int64
	replacedOwnerSelf bool
}

func newClaim(u Upload, name string, added int64) claim {
	return claim{
		op: u.Op, bucket: u.Bucket, user: name, uploadID: u.UploadID, partNumber: u.PartNumber,
		size: max(u.Size, 0), uploadedSoFar: u.UploadedSoFar, added: added,
		replaces: u.Overwrites || u.ReplacedSize > 0, replacedSize: u.ReplacedSize, replacedOwnerSelf: u.ReplacedOwner == name,
	}
}

// growths are what the finished upload adds to the bucket's and to the
// user's usage, before what the ledger already holds for it.
func (c claim) growths(objectBytes int64) (bucket, user usageGrowth) {
	bucket = growth(objectBytes, c.replaces, c.replacedSize)
	user = growth(objectBytes, false, 0)
	if c.replacedOwnerSelf {
		// Only the replaced object's owner is credited with it.
		user = bucket
	}
	return bucket, user
}

// plan is a claim judged against the ledger: what each quota check adds on
// top of usage and reserved (need), what the ledger holds from now until
// release (hold), and, for a part, what the pending upload records if the
// part is kept.
type plan struct {
	needBucket, needUser usageGrowth
	holdBucket, holdUser usageGrowth
	untracked            int64 // UploadPart: part 0 once kept
}

// plan must be called with l.mu held.
func (l *ledger) plan(c claim) plan {
	var p plan
	pending := l.uploads[uploadKey{c.bucket, c.uploadID}]
	switch c.op.Spec().Upload() {
	case classify.WholeObject:
		p.needBucket, p.needUser = c.growths(c.added)
		p.holdBucket, p.holdUser = p.needBucket.positive(), p.needUser.positive()
	case classify.StartsUpload:
		// Nothing to hold yet, but an upload that could never complete
		// into a bucket full of objects is refused at once.
		p.needBucket, p.needUser = usageGrowth{objects: 1}, usageGrowth{objects: 1}
	case classify.AddsPart:
		var others, untrackedBefore int64
		if pending != nil {
			for n, pc := range pending.parts {
				if n != 0 && n != c.partNumber {
					others += pc.bytes
				}
			}
			untrackedBefore = pending.parts[0].bytes
		}
		p.untracked = untrackedBefore
		if c.uploadedSoFar >= 0 {
			// The backend's other parts that this process did not see.
			p.untracked = max(c.uploadedSoFar-others, 0)
		}
		// A re-sent part counts in full until it replaces the earlier
		// one: the backend keeps the earlier one if this one fails.
		extra := c.size + max(p.untracked-untrackedBefore, 0)
		// The object count is checked (a part is no use if the upload
		// cannot complete) but held only by CompleteMultipartUpload.
		p.needBucket, p.needUser = usageGrowth{1, extra}, usageGrowth{1, extra}
		p.holdBucket, p.holdUser = usageGrowth{0, extra}, usageGrowth{0, extra}
	case classify.CompletesUpload:
		var all, mine int64
		if pending != nil {
			for _, pc := range pending.parts {
				all += pc.bytes
				if pc.user == c.user {
					mine += pc.bytes
				}
			}
		}
		total := all
		if c.uploadedSoFar >= 0 {
			total = c.uploadedSoFar
		}
		b, u := c.growths(total)
		// The parts already reserved become the object: only the rest is
		// new to the quotas.
		p.needBucket = usageGrowth{b.objects, b.bytes - all}
		p.needUser = usageGrowth{u.objects, u.bytes - mine}
		p.holdBucket, p.holdUser = p.needBucket.positive(), p.needUser.positive()
	}
	return p
}

func (g usageGrowth) positive() usageGrowth { return usageGrowth{max(g.objects, 0), max(g.bytes, 0)} }

func (g usageGrowth) plus(o usageGrowth) usageGrowth {
	return usageGrowth{g.objects + o.objects, g.bytes + o.bytes}
}

func (g usageGrowth) minus(o usageGrowth) usageGrowth {
	return usageGrowth{g.objects - o.objects, g.bytes - o.bytes}
}

// entry returns the scope's entry, creating it; l.mu must be held.
func (l *ledger) entry(k scopeKey) *scopeEntry {
	e := l.scopes[k]
	if e == nil {
		e = &scopeEntry{}
		l.scopes[k] = e
	}
	return e
}

// tidy drops k's entry once nothing holds it; l.mu must be held.
func (l *ledger) tidy(k scopeKey) {
	if e := l.scopes[k]; e != nil && e.refs == 0 && e.reserved == (usageGrowth{}) {
		delete(l.scopes, k)
	}
}

// charge adds g to the reservations of bucket and of user ("" for none),
// and when kept also to what moved into the index; l.mu must be held.
func (l *ledger) charge(bucket, user string, g usageGrowth, kept bool) {
	for _, k := range scopeKeys(bucket, user) {
		e := l.entry(k)
		e.reserved = e.reserved.plus(g)
		if kept {
			e.kept = e.kept.minus(g) // g is negative: what left reserved
		}
		l.tidy(k)
	}
}

func scopeKeys(bucket, user string) []scopeKey {
	if user == "" {
		return []scopeKey{{false, bucket}}
	}
	return []scopeKey{{false, bucket}, {true, user}}
}

// quotaCheck is one quota a Reserve consults.
type quotaCheck struct {
	key   scopeKey
	quota quota
	kept  usageGrowth // the entry's kept when usage was read
	usage usageGrowth // objects, bytes
}

// reserve checks c against the bucket's and the user's quotas and holds
// what it adds. Usage is read without the ledger's lock (it is I/O); what
// finished meanwhile is caught by the entries' kept counters, so the check
// can only over-count, never under-count, and an over-count at the edge of
// a quota is retried with a fresh read.
func (h *Holder) reserve(ctx context.Context, c claim, name string, bucketQuota, userQuota quota) (func(kept bool), error) {
	l := h.ledger
	var checks []quotaCheck
	if bucketQuota.set() {
		checks = append(checks, quotaCheck{key: scopeKey{false, c.bucket}, quota: bucketQuota})
	}
	if userQuota.set() && name != "" {
		checks = append(checks, quotaCheck{key: scopeKey{true, name}, quota: userQuota})
	}
	if len(checks) > 0 && h.usage == nil {
		return nil, s3err.New(s3err.InternalError, "A storage quota applies but photogate has no usage source; refusing rather than ignoring the quota.")
	}
	for attempt := 1; ; attempt++ {
		l.mu.Lock()
		l.sweep()
		for i := range checks {
			e := l.entry(checks[i].key)
			e.refs++
			checks[i].kept = e.kept
		}
		l.mu.Unlock()

		err := h.readUsage(ctx, checks)

		l.mu.Lock()
		p := l.plan(c)
		var refusal error
		retry := false
		for i := 0; err == nil && refusal == nil && i < len(checks); i++ {
			qc := checks[i]
			e := l.scopes[qc.key]
			need := p.needBucket
			if qc.key.user {
				need = p.needUser
			}
			missed := e.kept.minus(qc.kept)
			if msg := exceeded(qc.quota, qc.usage, e.reserved.plus(missed), need); msg != "" {
				if missed.any() && attempt < quotaAttempts {
					retry = true
					break
				}
				refusal = quotaExceeded(qc.key, msg)
			}
		}
		for _, qc := range checks {
			l.scopes[qc.key].refs--
			l.tidy(qc.key)
		}
		switch {
		case err != nil:
			l.mu.Unlock()
			return nil, err
		case retry:
			l.mu.Unlock()
			continue
		case refusal != nil:
			l.mu.Unlock()
			h.refused(ReasonQuota, name)
			return nil, refusal
		}
		release := l.hold(c, p)
		l.mu.Unlock()
		if h.shared == nil || len(checks) == 0 {
			return release, nil
		}
		return h.reserveShared(ctx, checks, p, name, release)
	}
}

// reserveShared checks and holds the upload against every replica's
// uploads too (SharedQuotas), after this process's own ledger admitted it;
// local is the ledger's release, given back if the shared check refuses.
func (h *Holder) reserveShared(ctx context.Context, checks []quotaCheck, p plan, name string, local func(kept bool)) (func(kept bool), error) {
	holds := make([]SharedHold, len(checks))
	for i, qc := range checks {
		need := p.needBucket
		if qc.key.user {
			need = p.needUser
		}
		holds[i] = SharedHold{Owner: qc.key.user, Name: qc.key.name, Objects: need.objects, Bytes: need.bytes,
			MaxObjects: qc.quota.maxObjects, MaxBytes: qc.quota.maxBytes}
	}
	unshare, refused, err := h.shared.Reserve(ctx, holds)
	if err != nil {
		local(false)
		return nil, usageUnavailable(fmt.Errorf("shared quota reservation: %w", err))
	}
	if refused != nil {
		local(false)
		qc := checks[refused.Index]
		h.refused(ReasonQuota, name)
		used := usageGrowth{refused.UsedObjects, refused.UsedBytes}
		reserved := usageGrowth{refused.ReservedObjects, refused.ReservedBytes}
		need := usageGrowth{holds[refused.Index].Objects, holds[refused.Index].Bytes}
		return nil, quotaExceeded(qc.key, exceeded(qc.quota, used, reserved, need))
	}
	return func(kept bool) {
		// The shared hold goes first: the caller releases once the upload's
		// record is committed, so its bytes are counted in usage by then.
		unshare()
		local(kept)
	}, nil
}

func (h *Holder) readUsage(ctx context.Context, checks []quotaCheck) error {
	for i := range checks {
		qc := &checks[i]
		var err error
		if qc.key.user {
			qc.usage.objects, qc.usage.bytes, err = h.usage.UserUsage(ctx, qc.key.name)
		} else {
			qc.usage.objects, qc.usage.bytes, err = h.usage.BucketUsage(ctx, qc.key.name)
		}
		if err != nil {
			return usageUnavailable(fmt.Errorf("usage of %s: %w", qc.key, err))
		}
	}
	return nil
}

func quotaExceeded(k scopeKey, msg string) error {
	return s3err.New(s3err.QuotaExceeded, fmt.Sprintf("The upload would exceed the quota of %s: %s.", k, msg))
}

// exceeded describes how q would be exceeded by need on top of usage and
// reserved, "" if it would not. Reaching a quota exactly is allowed, and
// what adds nothing is never refused, so an owner over a lowered quota can
// still shrink what they hold.
func exceeded(q quota, usage, reserved, need usageGrowth) string {
	switch {
	case q.maxObjects > 0 && need.objects > 0 && usage.objects+reserved.objects+need.objects > q.maxObjects:
		return fmt.Sprintf("%d objects stored%s + %d new > max_objects %d",
			usage.objects, inProgress(reserved.objects, "objects"), need.objects, q.maxObjects)
	case q.maxBytes > 0 && need.bytes > 0 && usage.bytes+reserved.bytes+need.bytes > q.maxBytes:
		return fmt.Sprintf("%d bytes stored%s + %d new > max_bytes %s",
			usage.bytes, inProgress(reserved.bytes, "bytes"), need.bytes, Size(q.maxBytes).describe())
	}
	return ""
}

func inProgress(n int64, unit string) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" + %d %s in uploads in progress", n, unit)
}

// hold records p's reservation and returns its release; l.mu must be held.
func (l *ledger) hold(c claim, p plan) func(kept bool) {
	kind := c.op.Spec().Upload()
	if kind == classify.StartsUpload {
		return func(bool) {} // checked, but holds nothing and leaves nothing
	}
	bucketKey, userKey := scopeKey{false, c.bucket}, scopeKey{true, c.user}
	l.addHold(bucketKey, p.holdBucket)
	if c.user != "" {
		l.addHold(userKey, p.holdUser)
	}
	var once atomic.Bool
	return func(kept bool) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		keptIntoIndex := kept && (kind == classify.WholeObject || kind == classify.CompletesUpload)
		l.unhold(bucketKey, p.holdBucket, keptIntoIndex)
		if c.user != "" {
			l.unhold(userKey, p.holdUser, keptIntoIndex)
		}
		if !kept {
			return
		}
		switch kind {
		case classify.AddsPart:
			l.keepPart(c, p.untracked)
		case classify.CompletesUpload:
			l.forget(uploadKey{c.bucket, c.uploadID}, true)
		}
	}
}

// addHold records a reservation of g on k; l.mu must be held.
func (l *ledger) addHold(k scopeKey, g usageGrowth) {
	e := l.entry(k)
	e.refs++
	e.reserved = e.reserved.plus(g)
}

// unhold gives back what a reservation held; l.mu must be held.
func (l *ledger) unhold(k scopeKey, g usageGrowth, kept bool) {
	e := l.entry(k)
	e.refs--
	e.reserved = e.reserved.minus(g)
	if kept {
		e.kept = e.kept.plus(g)
	}
	l.tidy(k)
}

// keepPart records a stored part under its upload, replacing an earlier
// part of the same number, and the upload's untracked bytes as part 0;
// l.mu must be held.
func (l *ledger) keepPart(c claim, untracked int64) {
	if c.partNumber < 1 {
		return // not a part the backend can have stored
	}
	key := uploadKey{c.bucket, c.uploadID}
	pu := l.uploads[key]
	if pu == nil {
		pu = &pendingUpload{parts: make(map[int]partCharge)}
		l.uploads[key] = pu
	}
	pu.lastUsed = l.now()
	l.setPart(c.bucket, pu, c.partNumber, partCharge{c.size, c.user})
	l.setPart(c.bucket, pu, 0, partCharge{untracked, c.user})
}

func (l *ledger) setPart(bucket string, pu *pendingUpload, n int, pc partCharge) {
	if old, ok := pu.parts[n]; ok {
		delete(pu.parts, n)
		l.charge(bucket, old.user, usageGrowth{0, -old.bytes}, false)
	}
	if n == 0 && pc.bytes == 0 {
		return
	}
	pu.parts[n] = pc
	l.charge(bucket, pc.user, usageGrowth{0, pc.bytes}, false)
}

// forget drops an upload's parts from the reservations, as moved into the
// index (completed) or gone (aborted, expired); l.mu must be held.
func (l *ledger) forget(key uploadKey, intoIndex bool) {
	pu := l.uploads[key]
	if pu == nil {
		return
	}
	delete(l.uploads, key)
	for _, pc := range pu.parts {
		l.charge(key.bucket, pc.user, usageGrowth{0, -pc.bytes}, intoIndex)
	}
}

// abortRelease is the release of an AbortMultipartUpload: once the backend
// has dropped the upload, so do its reservations.
func (l *ledger) abortRelease(bucket, uploadID string) func(kept bool) {
	var once atomic.Bool
	return func(kept bool) {
		if !once.CompareAndSwap(false, true) || !kept {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.forget(uploadKey{bucket, uploadID}, false)
	}
}

// sweep forgets uploads untouched for pendingUploadTTL; l.mu must be held.
func (l *ledger) sweep() {
	now := l.now()
	if now.Sub(l.lastSweep) < sweepInterval {
		return
	}
	l.lastSweep = now
	for key, pu := range l.uploads {
		if now.Sub(pu.lastUsed) >= pendingUploadTTL {
			l.forget(key, false)
		}
	}
}

// PendingUploads is how many multipart uploads have parts reserved, for a
// gauge.
func (h *Holder) PendingUploads() int {
	h.ledger.mu.Lock()
	defer h.ledger.mu.Unlock()
	return len(h.ledger.uploads)
}
