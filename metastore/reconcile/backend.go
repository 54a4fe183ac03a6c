package reconcile

import (
	"context"
	"io"

	"github.com/photogate/photogate/backend"
)

// Object is what the backend says about one object.
type Object = backend.Object

// Backend is the read side of the S3 backend that reconciliation needs;
// *backend.Backend is the one photogate uses.
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

var _ Backend = (*backend.Backend)(nil)
