// Package change is what the proxy tells the index after the backend
// answered a request that changes objects: the Index interface and the
// Outcome record. It is a leaf, so the index writer (metastore/reconcile)
// depends on this record and not on the proxy.
package change

import (
	"context"
	"time"

	"github.com/photogate/photogate/s3/classify"
)

// Index follows every mutation photogate forwards. Begin records an intent
// durably before the request goes to the backend; after the backend's answer
// the proxy either abandons it (the backend refused: nothing changed) or
// applies the outcome, which updates the index and clears the intent in one
// step. When the answer was lost (the backend may or may not have acted),
// the proxy settles the intent: without waiting, the index hands it to
// recovery, which reads the keys back from the backend, as it does for an
// intent a crash left behind.
//
// owner is the user name making the request (what per-user quotas count);
// "" for anonymous requests.
type Index interface {
	Begin(ctx context.Context, op classify.Op, bucket string, keys []string, owner string) (uint64, error)
	Abandon(ctx context.Context, intent uint64) error
	Apply(ctx context.Context, intent uint64, o Outcome) error
	Settle(ctx context.Context, intent uint64) error
}

// Outcome is what a successful mutation did, as far as the proxy saw it.
// Each key it touched appears in exactly one place: Written, Refresh,
// Deleted or Retagged.
type Outcome struct {
	Op     classify.Op
	Bucket string
	Owner  string // user name that made the request; owns what it wrote

	// Written is the one object a write (PutObject, CopyObject,
	// CompleteMultipartUpload) stored; nil for every other operation.
	Written *Written
	// Upload is what a PutObject streamed through the proxy, enough to index
	// Written without reading it back; nil when the backend composed the
	// object (copies, completed uploads), which is then read back.
	Upload *Upload

	// Refresh lists keys whose current version only the backend knows now:
	// what version deletes and version-targeted tag changes left current.
	Refresh []string
	// Deleted lists keys whose current version is gone.
	Deleted []string
	// Retagged is a tag set replaced on a current version.
	Retagged *Retagged

	BucketDeleted bool
}

// Written names the object a write stored. ETag is what the backend
// answered the write with ("" when it did not say): a read-back that finds
// another ETag found a concurrent writer's object, not this one.
type Written struct {
	Key  string
	ETag string
}

// Upload describes the body of a PutObject as it passed through.
type Upload struct {
	Size         int64
	VersionID    string
	ContentType  string
	LastModified time.Time
	UserMeta     map[string]string
	Tags         map[string]string
	Prefix       []byte // the first bytes of the body, for metadata extraction; valid only during Index.Apply (the gateway reuses the buffer)
}

// Retagged is the new tag set of one key (empty when the tags were deleted).
type Retagged struct {
	Key  string
	Tags map[string]string
}

// Keys lists every key o touches, for locking and read-backs.
func (o Outcome) Keys() []string {
	keys := append(append([]string{}, o.Refresh...), o.Deleted...)
	if o.Written != nil {
		keys = append(keys, o.Written.Key)
	}
	if o.Retagged != nil {
		keys = append(keys, o.Retagged.Key)
	}
	return keys
}
