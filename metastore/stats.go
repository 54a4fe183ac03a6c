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
	Status         map[string]int64    // records per extraction status
	PendingIntents int                 // not yet committed or abandoned
	Jobs           map[string]JobStats // by kind
}

// BucketStats counts one S3 bucket.
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
			case jobDropped:
				js.Dropped = int64(readU64(v))
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
