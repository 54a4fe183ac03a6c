// Package reconcile keeps the photo index equal to the backend: it applies
// what the gateway saw succeed, resolves write intents that a crash left
// behind, re-reads objects whose metadata lies beyond the uploaded prefix,
// and compares index and backend in full (check and repair).
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/change"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/extract"
	"github.com/photogate/photogate/s3/classify"
)

// JobExtract re-reads an object whose metadata lies beyond the first
// extract.PrefixSize bytes.
const JobExtract = "extract"

// Indexer implements change.Index over a metastore.Index.
type Indexer struct {
	store   metastore.Index
	backend Backend
	log     *slog.Logger

	locks keyLocks
	wake  chan struct{} // a job was queued: work it now, not at the next tick

	// OnCommit, when set, observes every index write (intent or commit):
	// its duration, which includes waiting for the shared fsync.
	OnCommit func(time.Duration, error)

	// Derived, when set, returns the jobs that derive data from a
	// record's version (its renditions); they are queued in the commit
	// that writes the record.
	Derived func(rec metastore.Record) []metastore.Mutation
	// Replaced is the job kind queued, in the same commit, for each
	// indexed version a Put replaces or a Delete removes
	// (metastore.Mutation.Replaced): it removes what Derived made of it.
	// "" queues none.
	Replaced string
	// OnQueued, when set, is called after a commit that queued (or, by
	// Replaced, may have queued) a job, so that workers look at once.
	OnQueued func()
	// Internal are photogate's own buckets in the backend (renditions):
	// not photos of anyone's, so Check leaves them out.
	Internal []string

	mu      sync.Mutex
	tickets map[uint64]ticket // intents of requests still running in this process
}

// NewIndexer returns an Indexer. log may be nil.
func NewIndexer(store metastore.Index, backend Backend, log *slog.Logger) *Indexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Indexer{store: store, backend: backend, log: log,
		locks: keyLocks{keys: map[string]*keyState{}}, tickets: map[uint64]ticket{},
		wake: make(chan struct{}, 1)}
}

var _ change.Index = (*Indexer)(nil)

// Begin records the intent durably before the gateway forwards the request.
// The owner is recorded with it, so that recovery can attribute what the
// request wrote even if photogate never saw the answer.
func (ix *Indexer) Begin(ctx context.Context, op classify.Op, bucket string, keys []string, owner string) (uint64, error) {
	// The ticket is taken first so that no write to these keys can slip
	// between the backend's answer and this intent being known.
	t := ix.locks.begin(bucket, keys)
	start := time.Now()
	id, err := ix.store.BeginIntent(ctx, metastore.Intent{Op: string(op), Bucket: bucket, Keys: keys, Owner: owner})
	ix.observe(start, err)
	if err != nil {
		ix.locks.end(t)
		return 0, err
	}
	ix.mu.Lock()
	ix.tickets[id] = t
	ix.mu.Unlock()
	return id, nil
}

func (ix *Indexer) take(id uint64) (ticket, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t, ok := ix.tickets[id]
	delete(ix.tickets, id)
	return t, ok
}

func (ix *Indexer) inFlight(id uint64) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, ok := ix.tickets[id]
	return ok
}

// Abandon drops the intent of a request the backend refused.
func (ix *Indexer) Abandon(ctx context.Context, id uint64) error {
	if t, ok := ix.take(id); ok {
		ix.locks.end(t)
	}
	return ix.store.Abandon(ctx, id)
}

// Apply indexes what a successful mutation did and clears its intent in the
// same transaction. On error the intent stays for Recover.
func (ix *Indexer) Apply(ctx context.Context, id uint64, o change.Outcome) error {
	// The client may hang up now; the index update must still happen.
	ctx = context.WithoutCancel(ctx)
	t, _ := ix.take(id)
	names := t.names
	if len(names) == 0 {
		names = uniqueNames(o.Bucket, o.Keys())
	}
	contended, done := ix.locks.write(t, names)
	defer done()
	// What this request wrote is its owner's. Uncontended, whatever the
	// written key holds now is what it wrote; contended, only an object with
	// the ETag the backend answered this request with.
	var written change.Written
	if o.Written != nil {
		written = *o.Written
	}
	owner := func(obj Object) (string, error) {
		if obj.Key != written.Key || contended && written.ETag != "" && written.ETag != obj.ETag {
			return "", nil // the record keeps its owner
		}
		return o.Owner, nil
	}
	var muts []metastore.Mutation
	readBack := o.Refresh
	switch {
	case contended:
		// Its own response may not be the backend's last word: read every
		// key back.
		readBack = o.Keys()
	case o.Upload != nil:
		u := o.Upload
		photo := extract.FromPrefix(ctx, u.Prefix, u.Size)
		rec := record(o.Bucket, Object{
			Key: written.Key, Size: u.Size, ETag: written.ETag, VersionID: u.VersionID,
			ContentType: u.ContentType, LastModified: u.LastModified, UserMeta: u.UserMeta,
		}, u.Tags, photo)
		rec.Owner = o.Owner
		muts = append(muts, exclusive(ix.withJob(rec, photo))...)
	case o.Written != nil:
		readBack = append(readBack, written.Key)
	}
	for _, key := range readBack {
		m, err := ix.readBack(ctx, o.Bucket, key, owner)
		if err != nil {
			return err
		}
		muts = append(muts, m...)
	}
	if !contended {
		for _, key := range o.Deleted {
			m := ix.delete(o.Bucket, key)
			m.Exclusive = true
			muts = append(muts, m)
		}
		if o.Retagged != nil {
			muts = append(muts, metastore.SetTags(o.Bucket, o.Retagged.Key, o.Retagged.Tags))
		}
	}
	if o.BucketDeleted {
		muts = append(muts, metastore.DeleteBucket(o.Bucket))
	}
	err := ix.commit(ctx, id, muts...)
	if !errors.Is(err, metastore.ErrRaced) {
		return err
	}
	// Another replica's request on one of these keys overlapped this one
	// (the index engine saw its commit land after this intent began): the
	// answers cannot tell which write the backend kept, so ask it.
	ix.log.Info("a request on the same key through another replica overlapped; reading the keys back", "bucket", o.Bucket, "keys", len(o.Keys()))
	contended = true // owner: only an object with this request's ETag is this request's
	muts = muts[:0]
	for _, key := range o.Keys() {
		m, err := ix.readBack(ctx, o.Bucket, key, owner)
		if err != nil {
			return err
		}
		muts = append(muts, m...)
	}
	if o.BucketDeleted {
		muts = append(muts, metastore.DeleteBucket(o.Bucket))
	}
	return ix.commit(ctx, id, muts...)
}

// exclusive marks the record mutations of muts Exclusive: they describe
// what the request answered, which holds only if no other request wrote
// the key meanwhile (metastore.ErrRaced).
func exclusive(muts []metastore.Mutation) []metastore.Mutation {
	for i := range muts {
		if muts[i].Op == metastore.OpPut || muts[i].Op == metastore.OpDelete {
			muts[i].Exclusive = true
		}
	}
	return muts
}

// ownerOf names the owner of an object a read-back found; "" keeps the
// indexed record's owner (or none, for an object new to the index).
type ownerOf func(Object) (string, error)

// readBackAttempts bounds how often readBack starts over on a key that
// vanished while it was read.
const readBackAttempts = 3

// readBack builds the index mutations for one key from the backend's current
// state: a Put of what is there, or a Delete when nothing is. owner may be
// nil: the record keeps its owner. A key that other requests delete while
// it is read (a version removed concurrently, so that the Stat found an
// object that the read of its first bytes no longer does) is read again
// from the Stat, which then finds it gone.
func (ix *Indexer) readBack(ctx context.Context, bucket, key string, owner ownerOf) ([]metastore.Mutation, error) {
	for attempt := 1; ; attempt++ {
		muts, err := ix.readBackOnce(ctx, bucket, key, owner)
		var answer *backend.AnswerError
		if err == nil || attempt == readBackAttempts || !errors.As(err, &answer) || answer.Status != http.StatusNotFound {
			return muts, err
		}
	}
}

func (ix *Indexer) readBackOnce(ctx context.Context, bucket, key string, owner ownerOf) ([]metastore.Mutation, error) {
	obj, ok, err := ix.backend.Stat(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []metastore.Mutation{ix.delete(bucket, key)}, nil
	}
	name := ""
	if owner != nil {
		if name, err = owner(obj); err != nil {
			return nil, err
		}
	}
	head, err := ix.backend.Head(ctx, bucket, key, extract.PrefixSize)
	if err != nil {
		return nil, err
	}
	tags, err := ix.backend.Tags(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	photo := extract.FromPrefix(ctx, head, obj.Size)
	rec := record(bucket, obj, tags, photo)
	rec.Owner = name
	return ix.withJob(rec, photo), nil
}

// withJob is the Put of rec with its jobs: a background re-extraction when
// the prefix was not enough, and the derived data of its version.
func (ix *Indexer) withJob(rec metastore.Record, photo extract.Photo) []metastore.Mutation {
	muts := []metastore.Mutation{ix.put(rec)}
	if photo.NeedsFullRead {
		muts = append(muts, metastore.EnqueueJob(metastore.Job{Kind: JobExtract, Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag}))
	}
	if ix.Derived != nil {
		muts = append(muts, ix.Derived(rec)...)
	}
	return muts
}

// put and delete are metastore.Put and metastore.Delete that queue the
// removal of a replaced version's derived data.
func (ix *Indexer) put(rec metastore.Record) metastore.Mutation {
	m := metastore.Put(rec)
	m.Replaced = ix.Replaced
	return m
}

func (ix *Indexer) delete(bucket, key string) metastore.Mutation {
	m := metastore.Delete(bucket, key)
	m.Replaced = ix.Replaced
	return m
}

func record(bucket string, obj Object, tags map[string]string, p extract.Photo) metastore.Record {
	r := metastore.Record{
		Bucket: bucket, Key: obj.Key, VersionID: obj.VersionID, Size: obj.Size, ETag: obj.ETag,
		ContentType: obj.ContentType, LastModified: obj.LastModified, UserMeta: obj.UserMeta, Tags: tags,
		Format: p.Format, MIME: p.MIME, Width: p.Width, Height: p.Height,
		DisplayWidth: p.DisplayWidth, DisplayHeight: p.DisplayHeight, Orientation: p.Orientation,
		Megapixels: p.Megapixels, Aspect: p.Aspect, TakenAt: p.TakenAt, TakenOffset: p.TakenOffset,
		Make: p.Make, Model: p.Model, Lens: p.Lens, ISO: p.ISO, FNumber: p.FNumber,
		ExposureTime: p.ExposureTime, FocalLength: p.FocalLength, FocalLength35: p.FocalLength35,
		Status: string(p.Status), Reason: p.Reason,
	}
	if p.GPS != nil {
		r.GPS = &metastore.GPS{Lat: p.GPS.Lat, Lon: p.GPS.Lon, Alt: p.GPS.Alt}
	}
	return r
}

// IntentClaimer is implemented by engines that several processes share
// (pgstore): ClaimIntents takes over the intents of processes that are
// gone and lists the intents this process owns. Recovery then resolves
// only those, so no two processes resolve the same intent and none
// resolves an intent whose request is running in another process.
type IntentClaimer interface {
	ClaimIntents(ctx context.Context) ([]metastore.Intent, error)
}

// Recover resolves every intent not owned by a request still running in
// this process: it asks the backend what is true now for each key the
// intent names and writes that. At start-up that is every intent a crash
// left behind. On a shared engine (IntentClaimer) it is the intents this
// process owns or claimed from processes whose lease ran out. It returns
// how many intents it resolved.
func (ix *Indexer) Recover(ctx context.Context) (int, error) {
	var pending []metastore.Intent
	var err error
	if c, ok := ix.store.(IntentClaimer); ok {
		pending, err = c.ClaimIntents(ctx)
	} else {
		pending, err = ix.store.PendingIntents(ctx)
	}
	if err != nil {
		return 0, err
	}
	resolved := 0
	var errs []error
	for _, in := range pending {
		if ix.inFlight(in.ID) {
			continue
		}
		if err := ix.resolve(ctx, in); err != nil {
			errs = append(errs, fmt.Errorf("intent %d (%s %s): %w", in.ID, in.Op, in.Bucket, err))
			continue
		}
		resolved++
	}
	return resolved, errors.Join(errs...)
}

func (ix *Indexer) resolve(ctx context.Context, in metastore.Intent) error {
	if classify.Op(in.Op).Spec().Index == classify.BucketGone {
		exists, err := ix.backend.BucketExists(ctx, in.Bucket)
		if err != nil {
			return err
		}
		if exists {
			return ix.store.Abandon(ctx, in.ID)
		}
		return ix.store.Commit(ctx, in.ID, metastore.DeleteBucket(in.Bucket))
	}
	_, done := ix.locks.write(ticket{}, uniqueNames(in.Bucket, in.Keys))
	defer done()
	// The key locks order writes within this process only: with a shared
	// index, another replica may write a key while it is read back here,
	// and its record is then newer than what was read. Each key's record
	// is noted before its read-back and compared just before the commit;
	// a key whose record moved meanwhile is left to the newer write.
	type readKey struct {
		key    string
		before recordState
		muts   []metastore.Mutation
	}
	read := make([]readKey, 0, len(in.Keys))
	for _, key := range in.Keys {
		before, err := ix.recordState(ctx, in.Bucket, key)
		if err != nil {
			return err
		}
		m, err := ix.readBack(ctx, in.Bucket, key, ix.intentOwner(ctx, in))
		if err != nil {
			return err
		}
		read = append(read, readKey{key, before, m})
	}
	var muts []metastore.Mutation
	for _, r := range read {
		now, err := ix.recordState(ctx, in.Bucket, r.key)
		if err != nil {
			return err
		}
		if now != r.before {
			continue
		}
		muts = append(muts, r.muts...)
	}
	return ix.commit(ctx, in.ID, muts...)
}

// recordState is what identifies an index record's version: a write that
// changes the record changes it.
type recordState struct {
	exists       bool
	etag         string
	size         int64
	lastModified int64 // Unix nanoseconds: comparable whatever the Location
	owner        string
}

func (ix *Indexer) recordState(ctx context.Context, bucket, key string) (recordState, error) {
	rec, ok, err := ix.store.Get(ctx, bucket, key)
	if err != nil || !ok {
		return recordState{}, err
	}
	return recordState{exists: true, etag: rec.ETag, size: rec.Size, lastModified: rec.LastModified.UnixNano(), owner: rec.Owner}, nil
}

// intentOwner attributes what a crash-interrupted write left behind: an
// object that differs from what the index holds was written by the intent's
// request (photogate orders writes per key, so it is the only write the
// index has not seen), one that does not keeps its owner.
func (ix *Indexer) intentOwner(ctx context.Context, in metastore.Intent) ownerOf {
	if e := classify.Op(in.Op).Spec().Index; e != classify.Streamed && e != classify.Composed {
		return nil // it wrote nothing of its own
	}
	return func(obj Object) (string, error) {
		prev, ok, err := ix.store.Get(ctx, in.Bucket, obj.Key)
		if err != nil {
			return "", err
		}
		// Seconds: Last-Modified headers carry no more.
		if ok && prev.ETag == obj.ETag && prev.Size == obj.Size && prev.LastModified.Truncate(time.Second).Equal(obj.LastModified.Truncate(time.Second)) {
			return "", nil
		}
		return in.Owner, nil
	}
}

// commit writes muts (clearing intent id, if any) and wakes the job worker
// when they queued a job.
func (ix *Indexer) commit(ctx context.Context, id uint64, muts ...metastore.Mutation) error {
	start := time.Now()
	err := ix.store.Commit(ctx, id, muts...)
	ix.observe(start, err)
	if err != nil {
		return err
	}
	queued := false
	for _, m := range muts {
		if m.Op == metastore.OpEnqueueJob && m.Job.Kind == JobExtract {
			ix.poke()
		}
		queued = queued || m.Op == metastore.OpEnqueueJob || m.Replaced != ""
	}
	if queued && ix.OnQueued != nil {
		ix.OnQueued()
	}
	return nil
}

func (ix *Indexer) observe(start time.Time, err error) {
	if ix.OnCommit != nil {
		ix.OnCommit(time.Since(start), err)
	}
}

func (ix *Indexer) poke() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// Run resolves stale intents every interval and works the extraction
// queue until ctx ends.
func (ix *Indexer) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := ix.Recover(ctx); err != nil {
			ix.log.Warn("resolving intents", "resolved", n, "error", err)
		} else if n > 0 {
			ix.log.Info("resolved intents", "resolved", n)
		}
		for ix.workOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-ix.wake:
		}
	}
}

// workOne runs one due extraction job; false when there was none.
func (ix *Indexer) workOne(ctx context.Context) bool {
	job, ok, err := ix.store.Lease(ctx, JobExtract, time.Now(), 5*time.Minute)
	if err != nil {
		ix.log.Warn("lease job", "error", err)
		return false
	}
	if !ok {
		return false
	}
	if err := ix.extractFull(ctx, job); err != nil {
		ix.log.Warn("extraction job failed", "bucket", job.Bucket, "key", job.Key, "attempt", job.Attempts, "error", err)
		if err := ix.store.Retry(ctx, job.ID, err, time.Duration(job.Attempts)*30*time.Second); err != nil {
			ix.log.Warn("retry job", "error", err)
		}
		return true
	}
	if err := ix.store.Finish(ctx, job.ID); err != nil {
		ix.log.Warn("finish job", "error", err)
	}
	return true
}

// extractFull reads the whole object's metadata and updates its record,
// unless the object changed since the job was queued (its own upload then
// queued a newer job or indexed it fully). The key's lock keeps a
// concurrent upload's commit from interleaving with this one.
func (ix *Indexer) extractFull(ctx context.Context, job metastore.Job) error {
	_, done := ix.locks.write(ticket{}, []string{lockName(job.Bucket, job.Key)})
	defer done()
	obj, ok, err := ix.backend.Stat(ctx, job.Bucket, job.Key)
	if err != nil {
		return err
	}
	if !ok || obj.ETag != job.ETag {
		return nil
	}
	rec, ok, err := ix.store.Get(ctx, job.Bucket, job.Key)
	if err != nil || !ok || rec.ETag != job.ETag {
		return err
	}
	r, err := ix.backend.Open(ctx, job.Bucket, job.Key)
	if err != nil {
		return err
	}
	photo := extract.FromReaderAt(ctx, r, obj.Size)
	full := record(job.Bucket, Object{
		Key: rec.Key, Size: rec.Size, ETag: rec.ETag, VersionID: rec.VersionID,
		ContentType: rec.ContentType, LastModified: rec.LastModified, UserMeta: rec.UserMeta,
	}, rec.Tags, photo)
	full.Owner = rec.Owner
	return ix.store.Commit(ctx, 0, ix.put(full))
}
