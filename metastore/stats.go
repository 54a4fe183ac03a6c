package metastore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Stats summarises the index. It is read from counters kept in step with
// the records, so it costs O(buckets + statuses + job kinds), not O(records).
type Stats struct {
	SchemaVersion  int
	Objects, Bytes int64
	Buckets        []BucketStats       // by name
	Owners         []BucketStats       // by owner name; objects without a known owner are not counted
	Status         map[string]int64    // records per extraction status
	PendingIntents int                 // not yet committed or abandoned
	Jobs           map[string]JobStats // by kind
}

// BucketStats counts the objects of one S3 bucket, or of one owner.
type BucketStats struct {
	Name           string
	Objects, Bytes int64
}

// Stats returns the current counters.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{SchemaVersion: SchemaVersion, Status: map[string]int64{}, Jobs: map[string]JobStats{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		err := tx.Bucket([]byte(bkBucketStats)).ForEach(func(k, v []byte) error {
			objects, size := decodeBucketStat(v)
			st.Buckets = append(st.Buckets, BucketStats{Name: string(k), Objects: objects, Bytes: size})
			st.Objects += objects
			st.Bytes += size
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte(bkOwnerStats)).ForEach(func(k, v []byte) error {
			objects, size := decodeBucketStat(v)
			st.Owners = append(st.Owners, BucketStats{Name: string(k), Objects: objects, Bytes: size})
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte(bkStatusStats)).ForEach(func(k, v []byte) error {
			st.Status[counterName(k)] = int64(readU64(v))
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte(bkJobStats)).ForEach(func(k, v []byte) error {
			if len(k) < 1 {
				return nil
			}
			kind := string(k[1:])
			js := st.Jobs[kind]
			switch k[0] {
			case jobQueued:
				js.Queued = int64(readU64(v))
			case jobFailed:
				js.Failed = int64(readU64(v))
			}
			st.Jobs[kind] = js
			return nil
		})
		if err != nil {
			return err
		}
		// Intents are few (one per in-flight mutation), so counting them
		// beats maintaining a counter on the hottest write path.
		st.PendingIntents = tx.Bucket([]byte(bkIntents)).Stats().KeyN
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("metastore: stats: %w", err)
	}
	return st, nil
}

// BucketUsage returns the objects and bytes the index holds in bucket: one
// counter read, cheap enough for every quota check.
func (s *Store) BucketUsage(ctx context.Context, bucket string) (objects, bytes int64, err error) {
	return s.usage(ctx, bkBucketStats, bucket)
}

// OwnerUsage returns the objects and bytes the index attributes to owner.
func (s *Store) OwnerUsage(ctx context.Context, owner string) (objects, bytes int64, err error) {
	return s.usage(ctx, bkOwnerStats, owner)
}

func (s *Store) usage(ctx context.Context, counters, name string) (objects, bytes int64, err error) {
	if name == "" {
		return 0, 0, fmt.Errorf("%w: usage of an empty name", ErrInvalid)
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		objects, bytes = decodeBucketStat(tx.Bucket([]byte(counters)).Get([]byte(name)))
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("metastore: usage of %s: %w", name, err)
	}
	return objects, bytes, nil
}
