package reconcile

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/photogate/photogate/metastore"
)

// Drift is one difference between index and backend.
type Drift struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Kind: "missing" (in the backend, not indexed), "stale" (indexed with
	// another ETag or size), "orphan" (indexed, gone from the backend).
	Kind string `json:"kind"`
}

// Report is the result of a full comparison.
type Report struct {
	Buckets  int     `json:"buckets"`
	Objects  int     `json:"objects"` // in the backend
	Indexed  int     `json:"indexed"`
	Drift    []Drift `json:"drift"` // never null in JSON
	Repaired int     `json:"repaired"`
}

// Check compares index and backend object by object over every bucket the
// backend has (and every bucket the index still mentions). With repair, it
// re-reads missing and stale objects from the backend and drops orphans.
// Both sides are walked in key order side by side, so memory is bounded by
// the drift found, not by the number of objects.
func (ix *Indexer) Check(ctx context.Context, repair bool) (Report, error) {
	rep := Report{Drift: []Drift{}}
	buckets, err := ix.backend.Buckets(ctx)
	if err != nil {
		return rep, err
	}
	buckets = slices.DeleteFunc(buckets, func(b string) bool { return slices.Contains(ix.Internal, b) })
	stats, err := ix.store.Stats(ctx)
	if err != nil {
		return rep, err
	}
	for _, b := range stats.Buckets {
		if !slices.Contains(buckets, b.Name) {
			buckets = append(buckets, b.Name) // indexed, but the bucket is gone
		}
	}
	slices.Sort(buckets)
	rep.Buckets = len(buckets)
	for _, bucket := range buckets {
		drift, objects, indexed, err := ix.checkBucket(ctx, bucket)
		if err != nil {
			return rep, err
		}
		rep.Objects += objects
		rep.Indexed += indexed
		rep.Drift = append(rep.Drift, drift...)
		if repair {
			n, err := ix.repair(ctx, drift)
			rep.Repaired += n
			if err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func (ix *Indexer) checkBucket(ctx context.Context, bucket string) (drift []Drift, objects, indexed int, err error) {
	exists, err := ix.backend.BucketExists(ctx, bucket)
	if err != nil {
		return nil, 0, 0, err
	}
	// Merge two key-ordered streams: the index (pulled from Scan) and the
	// backend listing (pushed by List).
	var scanErr error
	next, stop := iter.Pull(func(yield func(metastore.Record) bool) {
		scanErr = ix.store.Scan(ctx, bucket, "", func(r metastore.Record) error {
			if !yield(r) {
				return errStopScan
			}
			return nil
		})
	})
	defer stop()
	cur, more := next()
	advance := func() {
		indexed++
		cur, more = next()
	}
	if exists {
		err = ix.backend.List(ctx, bucket, func(o Object) error {
			objects++
			for more && cur.Key < o.Key {
				drift = append(drift, Drift{bucket, cur.Key, "orphan"})
				advance()
			}
			if more && cur.Key == o.Key {
				if cur.ETag != o.ETag || cur.Size != o.Size {
					drift = append(drift, Drift{bucket, o.Key, "stale"})
				}
				advance()
				return nil
			}
			drift = append(drift, Drift{bucket, o.Key, "missing"})
			return nil
		})
		if err != nil {
			return nil, 0, 0, err
		}
	}
	for more {
		drift = append(drift, Drift{bucket, cur.Key, "orphan"})
		advance()
	}
	stop()
	if scanErr != nil && !errors.Is(scanErr, errStopScan) {
		return nil, 0, 0, fmt.Errorf("scan index %s: %w", bucket, scanErr)
	}
	return drift, objects, indexed, nil
}

var errStopScan = errors.New("scan stopped")

func (ix *Indexer) repair(ctx context.Context, drift []Drift) (int, error) {
	for i, d := range drift {
		_, done := ix.locks.write(ticket{}, []string{lockName(d.Bucket, d.Key)})
		// Who wrote an object behind photogate's back is unknown; a stale
		// record keeps its owner.
		muts, err := ix.readBack(ctx, d.Bucket, d.Key, nil)
		if err == nil {
			err = ix.commit(ctx, 0, muts...)
		}
		done()
		if err != nil {
			return i, fmt.Errorf("repair %s/%s: %w", d.Bucket, d.Key, err)
		}
	}
	return len(drift), nil
}
