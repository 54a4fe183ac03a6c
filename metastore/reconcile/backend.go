package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Object is what the backend says about one object.
type Object struct {
	Key          string
	Size         int64
	ETag         string
	VersionID    string
	ContentType  string
	LastModified time.Time
	UserMeta     map[string]string
}

// Backend is the read side of the S3 backend that reconciliation needs.
type Backend interface {
	// Stat returns the object, or ok=false when it does not exist.
	Stat(ctx context.Context, bucket, key string) (obj Object, ok bool, err error)
	// Head reads the first n bytes of the object.
	Head(ctx context.Context, bucket, key string, n int64) ([]byte, error)
	// Open returns a reader over the whole object for ranged reads.
	Open(ctx context.Context, bucket, key string) (io.ReaderAt, error)
	Tags(ctx context.Context, bucket, key string) (map[string]string, error)
	BucketExists(ctx context.Context, bucket string) (bool, error)
	Buckets(ctx context.Context) ([]string, error)
	// List calls fn for every object in bucket, in key order.
	List(ctx context.Context, bucket string, fn func(Object) error) error
}

// MinIO is a Backend over minio-go: photogate's own client for the backend.
type MinIO struct{ c *minio.Client }

// NewMinIO connects to endpoint (http(s)://host:port) with photogate's
// backend credentials; transport may carry a custom TLS configuration.
func NewMinIO(endpoint, accessKey, secretKey, region string, transport http.RoundTripper) (*MinIO, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("backend endpoint: %w", err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:    u.Scheme == "https",
		Region:    region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("backend client: %w", err)
	}
	return &MinIO{c: c}, nil
}

func (m *MinIO) Stat(ctx context.Context, bucket, key string) (Object, bool, error) {
	info, err := m.c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return Object{}, false, nil
		}
		return Object{}, false, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	obj := Object{
		Key: info.Key, Size: info.Size, ETag: strings.Trim(info.ETag, `"`), VersionID: info.VersionID,
		ContentType: info.ContentType, LastModified: info.LastModified.UTC(),
	}
	for k, v := range info.UserMetadata {
		if obj.UserMeta == nil {
			obj.UserMeta = map[string]string{}
		}
		obj.UserMeta[strings.ToLower(k)] = v
	}
	return obj, true, nil
}

func (m *MinIO) Head(ctx context.Context, bucket, key string, n int64) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, n-1); err != nil {
		return nil, err
	}
	obj, err := m.c.GetObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, n))
	if err != nil {
		if isInvalidRange(err) { // an empty object has no byte 0
			return nil, nil
		}
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return b, nil
}

func (m *MinIO) Open(ctx context.Context, bucket, key string) (io.ReaderAt, error) {
	obj, err := m.c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("open %s/%s: %w", bucket, key, err)
	}
	return obj, nil
}

func (m *MinIO) Tags(ctx context.Context, bucket, key string) (map[string]string, error) {
	t, err := m.c.GetObjectTagging(ctx, bucket, key, minio.GetObjectTaggingOptions{})
	if err != nil {
		// A backend without tagging (the embedded one) has no tags to index.
		if isNotFound(err) || minio.ToErrorResponse(err).Code == "NotImplemented" {
			return nil, nil
		}
		return nil, fmt.Errorf("tags %s/%s: %w", bucket, key, err)
	}
	return t.ToMap(), nil
}

func (m *MinIO) BucketExists(ctx context.Context, bucket string) (bool, error) {
	ok, err := m.c.BucketExists(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return ok, nil
}

func (m *MinIO) Buckets(ctx context.Context) ([]string, error) {
	bs, err := m.c.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}

func (m *MinIO) List(ctx context.Context, bucket string, fn func(Object) error) error {
	for info := range m.c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			return fmt.Errorf("list %s: %w", bucket, info.Err)
		}
		if err := fn(Object{Key: info.Key, Size: info.Size, ETag: strings.Trim(info.ETag, `"`), LastModified: info.LastModified.UTC()}); err != nil {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion":
		return true
	}
	return false
}

func isInvalidRange(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.Code == "InvalidRange"
}
