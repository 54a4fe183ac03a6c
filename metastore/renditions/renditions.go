// Package renditions works the rendition job queue: it reads each photo
// from the backend, renders its thumb, preview and placeholder (package
// rendition) and writes them to the rendition bucket, keyed by source
// bucket, key and ETag so that a stale rendition is never served. It is
// not wired into serve yet: see docs/architecture.md.
package renditions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/rendition"
)

// Job kinds.
const (
	// JobKind makes an object's thumbnail, preview and placeholder.
	JobKind = "rendition"
	// DeleteJobKind removes the renditions of one version of an object
	// that was overwritten or deleted: the job names the old ETag.
	DeleteJobKind = "rendition-delete"
)

// DefaultBucket is where renditions live unless configured.
const DefaultBucket = "photogate-renditions"

// The objects one source version has in the rendition bucket, under
// Prefix. A version has either the three renditions or a failure
// record, never both.
const (
	ThumbObject   = "thumb.webp"
	PreviewObject = "preview.jpg"
	// Meta is JSON (Info): the placeholder, the preview's size, the
	// format. It is written last, so its presence says the set is whole.
	MetaObject = "meta.json"
	// Failed is the reason, as text, that the source cannot be
	// rendered: the job is done, and retrying would not help.
	FailedObject = "failed.txt"
)

// Info is the content of Meta.
type Info struct {
	Placeholder string `json:"placeholder"` // thumbhash, standard base64
	Width       int    `json:"width"`       // of the preview
	Height      int    `json:"height"`
	Format      string `json:"format"`   // of the source
	Embedded    bool   `json:"embedded"` // made from the source's embedded preview
}

// Source reads the photos to render and lists what the rendition bucket
// holds; *backend.Backend is one.
type Source interface {
	Stat(ctx context.Context, bucket, key string) (obj backend.Object, ok bool, err error)
	OpenStatted(ctx context.Context, bucket string, obj backend.Object) io.ReaderAt
	ListPrefix(ctx context.Context, bucket, prefix string, fn func(backend.Object) error) error
}

var _ Source = (*backend.Backend)(nil)

// Writer is where renditions are written; *backend.Backend is one.
type Writer interface {
	PutObject(ctx context.Context, bucket, key, contentType string, body []byte) error
	DeleteObject(ctx context.Context, bucket, key string) error
	EnsureBucket(ctx context.Context, bucket string) error
}

var _ Writer = (*backend.Backend)(nil)

// Prefix is the key prefix of one source version's renditions:
// bucket/sha256(key)/etag/. The key is hashed because S3 keys may hold
// any byte and up to 1024 of them (the prefix would not fit, and a key
// that is a prefix of another would share its listing); a new ETag is a
// new prefix, so a stale rendition is never served for a new version.
func Prefix(bucket, key, etag string) string {
	sum := sha256.Sum256([]byte(key))
	return bucket + "/" + hex.EncodeToString(sum[:]) + "/" + etag + "/"
}

// Job is the mutation that queues renditions for rec, to pass to
// Commit with the record itself; none for a record that is not a photo
// the renderer accepts.
func Job(rec metastore.Record) (metastore.Mutation, bool) {
	if !rendition.Renders(rec.Format) {
		return metastore.Mutation{}, false
	}
	return metastore.EnqueueJob(metastore.Job{Kind: JobKind, Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag}), true
}

// Observer is told about every job the worker ends; *observe.Metrics is
// one. outcome is "rendered", "failed" (the source cannot be rendered,
// class says why), "stale", "current", "deleted" or "retry" (the backend
// failed).
type Observer interface {
	RenditionJob(kind, outcome, class string, took time.Duration)
	RenditionRunning(delta int) // a job starts (+1) or ends (-1)
}

// Renditions works the JobKind queue: it reads each object from the
// backend, renders it and writes the renditions to the rendition bucket.
type Worker struct {
	store    metastore.Index
	source   Source
	out      Writer
	bucket   string
	renderer *rendition.Renderer
	log      *slog.Logger
	observer Observer
	wake     chan struct{}

	// Lease is how long a job is hidden from other workers, and how long
	// one a crashed worker held waits; a render takes well under a second,
	// reading a large source longer.
	Lease time.Duration
	// RetryAfter is the base delay before a failed job (the backend
	// failed) is tried again: attempt × RetryAfter, ±50% jitter.
	RetryAfter time.Duration
}

// New returns the rendition worker. bucket "" is
// DefaultBucket; log and observer may be nil.
func New(store metastore.Index, source Source, out Writer, bucket string, renderer *rendition.Renderer, log *slog.Logger, observer Observer) *Worker {
	if bucket == "" {
		bucket = DefaultBucket
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if observer == nil {
		observer = discardObserver{}
	}
	return &Worker{store: store, source: source, out: out, bucket: bucket, renderer: renderer, log: log, observer: observer,
		wake: make(chan struct{}, 1), Lease: 2 * time.Minute, RetryAfter: 30 * time.Second}
}

// Bucket is the rendition bucket.
func (r *Worker) Bucket() string { return r.bucket }

// Start creates the rendition bucket if it does not exist.
func (r *Worker) Start(ctx context.Context) error {
	if err := r.out.EnsureBucket(ctx, r.bucket); err != nil {
		return fmt.Errorf("renditions: %w", err)
	}
	return nil
}

type discardObserver struct{}

func (discardObserver) RenditionJob(string, string, string, time.Duration) {}
func (discardObserver) RenditionRunning(int)                               {}

// Outcome is what Work did with one job.
type Outcome int

const (
	// Stale: the object is gone or has another ETag now; its own write
	// queued the job that matters.
	Stale Outcome = iota
	// Rendered: the renditions are written.
	Rendered
	// Failed: the source cannot be rendered; the reason is written as
	// Failed.
	Failed
	// Deleted: the renditions of a replaced version are removed.
	Deleted
	// Current: the version has its renditions already (it was indexed
	// again: a repair, a recovered intent, a copy onto itself).
	Current
)

func (o Outcome) String() string {
	switch o {
	case Stale:
		return "stale"
	case Rendered:
		return "rendered"
	case Failed:
		return "failed"
	case Deleted:
		return "deleted"
	case Current:
		return "current"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Work does one job. An error means the job should be tried again (the
// backend failed); a source that cannot be rendered is not an error but
// Failed, with the reason written beside where the renditions would be
// and returned as reason.
func (r *Worker) Work(ctx context.Context, job metastore.Job) (outcome Outcome, reason *rendition.Rejected, err error) {
	if job.Kind == DeleteJobKind {
		// The same bytes may have been written back since (same ETag):
		// then the renditions are current again.
		obj, ok, err := r.source.Stat(ctx, job.Bucket, job.Key)
		if err != nil {
			return 0, nil, fmt.Errorf("renditions: %w", err)
		}
		if ok && obj.ETag == job.ETag {
			return Stale, nil, nil
		}
		if err := r.Delete(ctx, job.Bucket, job.Key, job.ETag); err != nil {
			return 0, nil, err
		}
		return Deleted, nil, nil
	}
	obj, ok, err := r.source.Stat(ctx, job.Bucket, job.Key)
	if err != nil {
		return 0, nil, fmt.Errorf("renditions: %w", err)
	}
	if !ok || obj.ETag != job.ETag {
		return Stale, nil, nil
	}
	// One listing says whether the version is rendered already and
	// whether an earlier attempt (under other limits) left a failure
	// record to remove.
	prefix := Prefix(job.Bucket, job.Key, job.ETag)
	have := map[string]bool{}
	err = r.source.ListPrefix(ctx, r.bucket, prefix, func(o backend.Object) error {
		have[strings.TrimPrefix(o.Key, prefix)] = true
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("renditions: %w", err)
	}
	if have[MetaObject] {
		return Current, nil, nil
	}
	src := r.source.OpenStatted(ctx, job.Bucket, obj)
	res, err := r.renderer.Render(ctx, src, obj.Size)
	if errors.As(err, &reason) {
		if err := r.out.PutObject(ctx, r.bucket, prefix+FailedObject, "text/plain; charset=utf-8", []byte(reason.Reason)); err != nil {
			return 0, nil, fmt.Errorf("renditions: record failure: %w", err)
		}
		return Failed, reason, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("renditions: %s/%s: %w", job.Bucket, job.Key, err)
	}
	meta, err := json.Marshal(Info{Placeholder: res.Placeholder, Width: res.Width, Height: res.Height, Format: res.Format, Embedded: res.Embedded})
	if err != nil {
		return 0, nil, fmt.Errorf("renditions: %w", err)
	}
	// A failure record of an earlier attempt goes first, so that no moment
	// has both; meta.json goes last: its presence says the set is whole.
	if have[FailedObject] {
		if err := r.out.DeleteObject(ctx, r.bucket, prefix+FailedObject); err != nil {
			return 0, nil, fmt.Errorf("renditions: %w", err)
		}
	}
	for _, o := range []struct {
		name, contentType string
		body              []byte
	}{
		{ThumbObject, rendition.ThumbType, res.Thumb},
		{PreviewObject, rendition.PreviewType, res.Preview},
		{MetaObject, "application/json", meta},
	} {
		if err := r.out.PutObject(ctx, r.bucket, prefix+o.name, o.contentType, o.body); err != nil {
			return 0, nil, fmt.Errorf("renditions: write %s: %w", o.name, err)
		}
	}
	// The record keeps the placeholder only while it is still this
	// version: the engine compares the ETag in the commit.
	if err := r.store.Commit(ctx, 0, metastore.SetPlaceholder(job.Bucket, job.Key, job.ETag, res.Placeholder)); err != nil {
		return 0, nil, fmt.Errorf("renditions: record placeholder: %w", err)
	}
	return Rendered, nil, nil
}

// Delete removes the renditions (or failure record) of one source
// version; for an overwritten or deleted source.
func (r *Worker) Delete(ctx context.Context, bucket, key, etag string) error {
	prefix := Prefix(bucket, key, etag)
	for _, name := range []string{ThumbObject, PreviewObject, MetaObject, FailedObject} {
		if err := r.out.DeleteObject(ctx, r.bucket, prefix+name); err != nil {
			return fmt.Errorf("renditions: %w", err)
		}
	}
	return nil
}

// WorkOne leases and works one due job, a render before a deletion;
// false when there was none.
func (r *Worker) WorkOne(ctx context.Context) bool {
	for _, kind := range []string{JobKind, DeleteJobKind} {
		job, ok, err := r.store.Lease(ctx, kind, time.Now(), r.Lease)
		if err != nil {
			r.log.Warn("lease rendition job", "kind", kind, "error", err)
			return false
		}
		if ok {
			// There may be more: another worker can start on the next
			// while this one renders.
			r.Wake()
			r.workLeased(ctx, job)
			return true
		}
	}
	return false
}

func (r *Worker) workLeased(ctx context.Context, job metastore.Job) {
	r.observer.RenditionRunning(1)
	defer r.observer.RenditionRunning(-1)
	start := time.Now()
	outcome, reason, err := r.Work(ctx, job)
	took := time.Since(start)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the job is due again at once, for the next start
		// or another replica, instead of when its lease would run out.
		if err := r.store.Retry(context.WithoutCancel(ctx), job.ID, err, 0); err != nil {
			r.log.Warn("hand back rendition job", "error", err)
		}
		return
	case err != nil:
		r.observer.RenditionJob(job.Kind, "retry", "", took)
		r.log.Warn("rendition job failed; will retry", "kind", job.Kind, "bucket", job.Bucket, "key", job.Key, "attempt", job.Attempts, "error", err)
		if err := r.store.Retry(ctx, job.ID, err, r.backoff(job.Attempts)); err != nil {
			r.log.Warn("retry rendition job", "error", err)
		}
		return
	case outcome == Failed:
		r.observer.RenditionJob(job.Kind, outcome.String(), reason.Class, took)
		r.log.Info("photo cannot be rendered", "bucket", job.Bucket, "key", job.Key, "class", reason.Class, "reason", reason.Reason)
		if err := r.store.Fail(ctx, job.ID, reason.Reason); err != nil {
			r.log.Warn("record failed rendition job", "error", err)
		}
		return
	}
	r.observer.RenditionJob(job.Kind, outcome.String(), "", took)
	r.log.Debug("rendition job done", "kind", job.Kind, "bucket", job.Bucket, "key", job.Key, "outcome", outcome.String(), "took", took)
	if err := r.store.Finish(ctx, job.ID); err != nil {
		r.log.Warn("finish rendition job", "error", err)
	}
}

// backoff is attempt × RetryAfter with ±50% jitter, so that jobs failed by
// one backend outage do not all come back at once.
func (r *Worker) backoff(attempt int) time.Duration {
	base := time.Duration(max(attempt, 1)) * r.RetryAfter
	return time.Duration(float64(base) * (0.5 + rand.Float64()))
}

// Wake tells the worker that a job was queued, so that it looks now
// rather than at its next tick. It never blocks.
func (r *Worker) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run creates the rendition bucket (trying again every interval while the
// backend refuses), then works the queue with the renderer's concurrency
// until ctx ends. Workers look for due jobs when woken and every interval:
// retries come due, and other replicas queue jobs too.
func (r *Worker) Run(ctx context.Context, interval time.Duration) {
	for {
		err := r.Start(ctx)
		if err == nil {
			break
		}
		r.log.Warn("cannot create the rendition bucket yet; renditions wait", "bucket", r.bucket, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
	var wg sync.WaitGroup
	for range r.renderer.Options().Concurrency {
		wg.Go(func() {
			backgroundThread()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				for r.WorkOne(ctx) {
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				case <-r.wake:
				}
			}
		})
	}
	wg.Wait()
}
