package metastore

import (
	"fmt"
	"maps"
	"time"
)

// MutationOp is what a Mutation does to the index.
type MutationOp uint8

// Mutation operations. The zero value is invalid so that a forgotten Op is
// an error, not a silent Put.
const (
	OpPut          MutationOp = iota + 1 // insert or replace Record
	OpDelete                             // remove Bucket/Key (absent is fine)
	OpSetTags                            // replace the tags of Bucket/Key (absent: no-op)
	OpDeleteBucket                       // remove every record of Bucket
	OpEnqueueJob                         // add Job to the queue
)

func (op MutationOp) String() string {
	switch op {
	case OpPut:
		return "Put"
	case OpDelete:
		return "Delete"
	case OpSetTags:
		return "SetTags"
	case OpDeleteBucket:
		return "DeleteBucket"
	case OpEnqueueJob:
		return "EnqueueJob"
	}
	return fmt.Sprintf("MutationOp(%d)", uint8(op))
}

// Mutation is one change to the index, applied by Commit atomically with
// the others of the same call and with clearing the intent.
type Mutation struct {
	Op          MutationOp
	Record      Record            // OpPut
	Bucket, Key string            // OpDelete, OpSetTags; Bucket for OpDeleteBucket
	Tags        map[string]string // OpSetTags; nil clears
	Job         Job               // OpEnqueueJob
}

// Put, Delete, SetTags, DeleteBucket and EnqueueJob build mutations.
func Put(r Record) Mutation               { return Mutation{Op: OpPut, Record: r} }
func Delete(bucket, key string) Mutation  { return Mutation{Op: OpDelete, Bucket: bucket, Key: key} }
func DeleteBucket(bucket string) Mutation { return Mutation{Op: OpDeleteBucket, Bucket: bucket} }
func EnqueueJob(j Job) Mutation           { return Mutation{Op: OpEnqueueJob, Job: j} }
func SetTags(bucket, key string, tags map[string]string) Mutation {
	return Mutation{Op: OpSetTags, Bucket: bucket, Key: key, Tags: tags}
}

// prepare validates m and returns a private copy with defaults filled in.
// It runs before the batch so that bad input fails alone instead of making
// bbolt re-run everyone else's batch, and so that the batch function, which
// may run twice, sees fixed values (IndexedAt, NotBefore) both times.
func (m Mutation) prepare(now time.Time) (Mutation, error) {
	switch m.Op {
	case OpPut:
		if err := validateRecord(&m.Record); err != nil {
			return m, err
		}
		m.Record = m.Record.clone()
		if m.Record.IndexedAt.IsZero() {
			m.Record.IndexedAt = now
		}
	case OpDelete, OpSetTags:
		if err := validateBucket(m.Bucket); err != nil {
			return m, err
		}
		if m.Key == "" {
			return m, fmt.Errorf("%w: %v needs a key", ErrInvalid, m.Op)
		}
		m.Tags = maps.Clone(m.Tags)
	case OpDeleteBucket:
		if err := validateBucket(m.Bucket); err != nil {
			return m, err
		}
	case OpEnqueueJob:
		j, err := prepareJob(m.Job, now)
		if err != nil {
			return m, err
		}
		m.Job = j
	default:
		return m, fmt.Errorf("%w: unknown mutation op %v", ErrInvalid, m.Op)
	}
	return m, nil
}

// apply performs m inside a write transaction.
func (m *Mutation) apply(t *txn) error {
	switch m.Op {
	case OpPut:
		return t.putRecord(&m.Record)
	case OpDelete:
		return t.deleteRecord(m.Bucket, m.Key)
	case OpSetTags:
		v := t.records.Get(recordKey(m.Bucket, m.Key))
		if v == nil {
			// Not indexed (yet): the next reconciliation brings the
			// whole object in, tags included.
			return nil
		}
		r, err := decodeRecord(m.Bucket, m.Key, v)
		if err != nil {
			return err
		}
		r.Tags = maps.Clone(m.Tags)
		return t.putRecord(&r)
	case OpDeleteBucket:
		return t.deleteBucket(m.Bucket)
	case OpEnqueueJob:
		_, err := enqueue(t.tx, m.Job)
		return err
	}
	return fmt.Errorf("%w: unknown mutation op %v", ErrInvalid, m.Op)
}
