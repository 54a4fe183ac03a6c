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
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/rendition"
)

// JobKind makes an object's thumbnail, preview and placeholder.
const JobKind = "rendition"

// DefaultBucket is where renditions live unless configured.
const DefaultBucket = "photogate-renditions"

// The objects one source version has in the rendition bucket, under
// Prefix. A version has either the three renditions or a failure
// record, never both.
const (
	ThumbObject   = "thumb.webp"
	PreviewObject = "preview.jpg"
	// Meta is JSON (Info): the placeholder until the
	// index record has a field for it, the preview's size, the format.
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

// Source reads the photos to render; *backend.Backend is one.
type Source interface {
	Stat(ctx context.Context, bucket, key string) (obj backend.Object, ok bool, err error)
	Open(ctx context.Context, bucket, key string) (io.ReaderAt, error)
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

// Renditions works the JobKind queue: it reads each object from the
// backend, renders it and writes the renditions to the rendition bucket.
type Worker struct {
	store    metastore.Index
	source   Source
	out      Writer
	bucket   string
	renderer *rendition.Renderer
	log      *slog.Logger

	// Lease is how long a job is hidden from other workers; a render
	// takes well under a second, reading a large source longer.
	Lease time.Duration
	// RetryAfter is the base delay before a failed job (the backend
	// failed) is tried again: attempt × RetryAfter, ±50% jitter.
	RetryAfter time.Duration
}

// New returns the rendition worker. bucket "" is
// DefaultBucket; log may be nil.
func New(store metastore.Index, source Source, out Writer, bucket string, renderer *rendition.Renderer, log *slog.Logger) *Worker {
	if bucket == "" {
		bucket = DefaultBucket
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{store: store, source: source, out: out, bucket: bucket, renderer: renderer, log: log,
		Lease: 5 * time.Minute, RetryAfter: 30 * time.Second}
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
)

// Work renders one job's object. An error means the job should be tried
// again (the backend failed); a source that cannot be rendered is not an
// error but Failed, with the reason written beside where the renditions
// would be.
func (r *Worker) Work(ctx context.Context, job metastore.Job) (Outcome, error) {
	obj, ok, err := r.source.Stat(ctx, job.Bucket, job.Key)
	if err != nil {
		return 0, fmt.Errorf("renditions: %w", err)
	}
	if !ok || obj.ETag != job.ETag {
		return Stale, nil
	}
	src, err := r.source.Open(ctx, job.Bucket, job.Key)
	if err != nil {
		return 0, fmt.Errorf("renditions: %w", err)
	}
	prefix := Prefix(job.Bucket, job.Key, job.ETag)
	res, err := r.renderer.Render(ctx, src, obj.Size)
	if rendition.IsRejected(err) {
		if err := r.out.PutObject(ctx, r.bucket, prefix+FailedObject, "text/plain; charset=utf-8", []byte(err.Error())); err != nil {
			return 0, fmt.Errorf("renditions: record failure: %w", err)
		}
		return Failed, nil
	}
	if err != nil {
		return 0, fmt.Errorf("renditions: %s/%s: %w", job.Bucket, job.Key, err)
	}
	meta, err := json.Marshal(Info{Placeholder: res.Placeholder, Width: res.Width, Height: res.Height, Format: res.Format, Embedded: res.Embedded})
	if err != nil {
		return 0, fmt.Errorf("renditions: %w", err)
	}
	// meta.json last: its presence says the set is complete.
	for _, o := range []struct {
		name, contentType string
		body              []byte
	}{
		{ThumbObject, rendition.ThumbType, res.Thumb},
		{PreviewObject, rendition.PreviewType, res.Preview},
		{MetaObject, "application/json", meta},
	} {
		if err := r.out.PutObject(ctx, r.bucket, prefix+o.name, o.contentType, o.body); err != nil {
			return 0, fmt.Errorf("renditions: write %s: %w", o.name, err)
		}
	}
	return Rendered, nil
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

// WorkOne leases and works one due job; false when there was none.
func (r *Worker) WorkOne(ctx context.Context) bool {
	job, ok, err := r.store.Lease(ctx, JobKind, time.Now(), r.Lease)
	if err != nil {
		r.log.Warn("lease rendition job", "error", err)
		return false
	}
	if !ok {
		return false
	}
	start := time.Now()
	outcome, err := r.Work(ctx, job)
	if err != nil {
		r.log.Warn("rendition job failed", "bucket", job.Bucket, "key", job.Key, "attempt", job.Attempts, "error", err)
		if err := r.store.Retry(ctx, job.ID, err, r.backoff(job.Attempts)); err != nil {
			r.log.Warn("retry rendition job", "error", err)
		}
		return true
	}
	if outcome == Failed {
		r.log.Info("photo cannot be rendered", "bucket", job.Bucket, "key", job.Key)
	}
	r.log.Debug("rendition job done", "bucket", job.Bucket, "key", job.Key, "outcome", outcome, "took", time.Since(start))
	if err := r.store.Finish(ctx, job.ID); err != nil {
		r.log.Warn("finish rendition job", "error", err)
	}
	return true
}

// backoff is attempt × RetryAfter with ±50% jitter, so that jobs failed by
// one backend outage do not all come back at once.
func (r *Worker) backoff(attempt int) time.Duration {
	base := time.Duration(max(attempt, 1)) * r.RetryAfter
	return time.Duration(float64(base) * (0.5 + rand.Float64()))
}

// Run works the queue with the renderer's concurrency until ctx ends,
// looking for due jobs every interval.
func (r *Worker) Run(ctx context.Context, interval time.Duration) {
	var wg sync.WaitGroup
	for range r.renderer.Options().Concurrency {
		wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				for r.WorkOne(ctx) {
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
}
