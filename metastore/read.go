package metastore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Get returns the record of bucket/key, and false if there is none.
func (s *Store) Get(ctx context.Context, bucket, key string) (Record, bool, error) {
	var (
		r  Record
		ok bool
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bkRecords)).Get(recordKey(bucket, key))
		if v == nil {
			return nil
		}
		var err error
		r, err = decodeRecord(bucket, key, v)
		ok = err == nil
		return err
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("metastore: get %s/%s: %w", bucket, key, err)
	}
	return r, ok, nil
}

// scanChunk is how many records Scan reads per read transaction.
const scanChunk = 512

// Scan calls fn for every record of bucket ("" = every bucket, in bucket
// order) whose key starts with prefix, in key order. It is built for
// reconciliation against a backend listing, which can take long: records
// are read in chunks, each in its own short read transaction, and fn runs
// outside any transaction. So fn may call the store, long scans do not pin
// old pages, and the scan is not a snapshot: a record changed during the
// scan is seen in the state of the chunk that read it. An error from fn
// stops the scan and is returned unchanged.
func (s *Store) Scan(ctx context.Context, bucket, prefix string, fn func(Record) error) error {
	buckets := []string{bucket}
	if bucket == "" {
		var err error
		if buckets, err = s.bucketNames(ctx); err != nil {
			return fmt.Errorf("metastore: scan: %w", err)
		}
	}
	for _, b := range buckets {
		start := recordKey(b, prefix)
		end := prefixEnd(start)
		for start != nil {
			var chunk []Record
			err := s.view(ctx, func(tx *bolt.Tx) error {
				chunk = chunk[:0]
				c := tx.Bucket([]byte(bkRecords)).Cursor()
				for k, v := c.Seek(start); k != nil && (end == nil || bytes.Compare(k, end) < 0); k, v = c.Next() {
					if len(chunk) == scanChunk {
						start = bytes.Clone(k)
						return nil
					}
					r, err := decodeRecordKV(k, v)
					if err != nil {
						return err
					}
					chunk = append(chunk, r)
				}
				start = nil
				return nil
			})
			if err != nil {
				return fmt.Errorf("metastore: scan %s/%s: %w", b, prefix, err)
			}
			for _, r := range chunk {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := fn(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// bucketNames lists the S3 buckets that have at least one record.
func (s *Store) bucketNames(ctx context.Context) ([]string, error) {
	var names []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		names = listBuckets(tx)
		return nil
	})
	return names, err
}

// listBuckets reads the bucket list from stat_bucket, whose keys are
// exactly the buckets with records (counters are deleted at zero).
func listBuckets(tx *bolt.Tx) []string {
	var names []string
	c := tx.Bucket([]byte(bkBucketStats)).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		names = append(names, string(k))
	}
	return names
}
