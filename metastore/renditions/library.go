package renditions

import (
	"context"
	"fmt"
	"io"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/rendition"
)

// Objects is the rendition bucket as the Library reads and cleans it;
// *backend.Backend is one.
type Objects interface {
	GetObject(ctx context.Context, bucket, key string) (body io.ReadCloser, obj backend.Object, found bool, err error)
	Stat(ctx context.Context, bucket, key string) (obj backend.Object, ok bool, err error)
	List(ctx context.Context, bucket string, fn func(backend.Object) error) error
	Buckets(ctx context.Context) ([]string, error)
	DeleteObject(ctx context.Context, bucket, key string) error
}

var _ Objects = (*backend.Backend)(nil)

// Library is the read side of the renditions, for the admin API: it finds
// a version's renditions, its failure record or its job.
type Library struct {
	store  metastore.Index
	in     Objects
	bucket string

	// OnQueued, when set, is called after the Library queued a render,
	// so that the worker looks at once.
	OnQueued func()
}

var (
	_ api.Renditions = (*Library)(nil)
	_ api.Backfiller = (*Library)(nil)
)

// NewLibrary returns the renditions in bucket ("" is DefaultBucket).
func NewLibrary(store metastore.Index, in Objects, bucket string) *Library {
	if bucket == "" {
		bucket = DefaultBucket
	}
	return &Library{store: store, in: in, bucket: bucket}
}

// Renders reports whether photos of format get renditions.
func (l *Library) Renders(format string) bool { return rendition.Renders(format) }

// Open streams the "thumb" or "preview" of one version.
func (l *Library) Open(ctx context.Context, bucket, key, etag, size string) (io.ReadCloser, int64, string, bool, error) {
	name := ThumbObject
	if size == api.SizePreview {
		name = PreviewObject
	}
	body, obj, found, err := l.in.GetObject(ctx, l.bucket, Prefix(bucket, key, etag)+name)
	if err != nil || !found {
		return nil, 0, "", false, err
	}
	return body, obj.Size, obj.ContentType, true, nil
}

// maxReason bounds what is read of a failure record: the worker writes a
// sentence.
const maxReason = 4 << 10

// Failure reads the failure record of one version.
func (l *Library) Failure(ctx context.Context, bucket, key, etag string) (string, bool, error) {
	body, _, found, err := l.in.GetObject(ctx, l.bucket, Prefix(bucket, key, etag)+FailedObject)
	if err != nil || !found {
		return "", false, err
	}
	defer body.Close()
	reason, err := io.ReadAll(io.LimitReader(body, maxReason))
	if err != nil {
		return "", false, fmt.Errorf("renditions: read failure record: %w", err)
	}
	return string(reason), true, nil
}

// Pending returns the job rendering rec's version, queuing one if there is
// none.
func (l *Library) Pending(ctx context.Context, rec metastore.Record) (metastore.Job, error) {
	job, found, err := l.job(ctx, rec)
	if err != nil || found {
		return job, err
	}
	j := metastore.Job{Kind: JobKind, Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag}
	if j.ID, err = l.store.Enqueue(ctx, j); err != nil {
		return metastore.Job{}, fmt.Errorf("renditions: %w", err)
	}
	l.queued()
	j.State = metastore.JobQueued
	return j, nil
}

// job finds the render job of rec's version.
func (l *Library) job(ctx context.Context, rec metastore.Record) (metastore.Job, bool, error) {
	jobs, err := l.store.Jobs(ctx, metastore.JobQuery{Kind: JobKind, Bucket: rec.Bucket, Key: rec.Key, Limit: 1000})
	if err != nil {
		return metastore.Job{}, false, fmt.Errorf("renditions: %w", err)
	}
	for _, j := range jobs {
		if j.ETag == rec.ETag {
			return j, true, nil
		}
	}
	return metastore.Job{}, false, nil
}

// Backfill queues a render of rec's version unless it has renditions, a
// failure record or a job.
func (l *Library) Backfill(ctx context.Context, rec metastore.Record) (bool, error) {
	prefix := Prefix(rec.Bucket, rec.Key, rec.ETag)
	for _, name := range []string{MetaObject, FailedObject} {
		_, ok, err := l.in.Stat(ctx, l.bucket, prefix+name)
		if err != nil {
			return false, fmt.Errorf("renditions: %w", err)
		}
		if ok {
			return false, nil
		}
	}
	if _, found, err := l.job(ctx, rec); err != nil || found {
		return false, err
	}
	if _, err := l.store.Enqueue(ctx, metastore.Job{Kind: JobKind, Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag}); err != nil {
		return false, fmt.Errorf("renditions: %w", err)
	}
	l.queued()
	return true, nil
}

func (l *Library) queued() {
	if l.OnQueued != nil {
		l.OnQueued()
	}
}
