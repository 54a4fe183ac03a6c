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
	OpPut            MutationOp = iota + 1 // insert or replace Record
	OpDelete                               // remove Bucket/Key (absent is fine)
	OpSetTags                              // replace the tags of Bucket/Key (absent: no-op)
	OpDeleteBucket                         // remove every record of Bucket
	OpEnqueueJob                           // add Job to the queue
	OpSetPlaceholder                       // set the Placeholder of Bucket/Key if its ETag is ETag (else no-op)
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
	case OpSetPlaceholder:
		return "SetPlaceholder"
	}
	return fmt.Sprintf("MutationOp(%d)", uint8(op))
}

// Mutation is one change to the index, applied by Commit atomically with
// the others of the same call and with clearing the intent.
type Mutation struct {
	Op          MutationOp
	Record      Record            // OpPut
	Bucket, Key string            // OpDelete, OpSetTags, OpSetPlaceholder; Bucket for OpDeleteBucket
	Tags        map[string]string // OpSetTags; nil clears
	Job         Job               // OpEnqueueJob
	ETag        string            // OpSetPlaceholder: the version the placeholder was made from
	Placeholder string            // OpSetPlaceholder; "" clears

	// Replaced, on OpPut and OpDelete: when this mutation replaces or
	// removes a record whose Format is not empty and whose ETag differs
	// from the new record's (any ETag, for OpDelete), a job of this kind
	// is enqueued in the same transaction for the old record's Bucket,
	// Key and ETag (to delete what was derived from that version, such
	// as its renditions). Both engines read the old record anyway. "" =
	// no job; ignored on other operations.
	Replaced string

	// Exclusive, on OpPut and OpDelete of a Commit with an intent: the
	// mutation describes what this intent's request did, and holds only if
	// no other commit wrote the record since the intent began; otherwise
	// Commit fails with ErrRaced. Engines shared by several processes
	// (PostgreSQL) check it; the bbolt engine, held by one process whose
	// writer serialises requests on a key itself, has nothing to check.
	Exclusive bool
}

// Put, Delete, SetTags, DeleteBucket and EnqueueJob build mutations.
func Put(r Record) Mutation               { return Mutation{Op: OpPut, Record: r} }
func Delete(bucket, key string) Mutation  { return Mutation{Op: OpDelete, Bucket: bucket, Key: key} }
func DeleteBucket(bucket string) Mutation { return Mutation{Op: OpDeleteBucket, Bucket: bucket} }
func EnqueueJob(j Job) Mutation           { return Mutation{Op: OpEnqueueJob, Job: j} }
func SetTags(bucket, key string, tags map[string]string) Mutation {
	return Mutation{Op: OpSetTags, Bucket: bucket, Key: key, Tags: tags}
}

// SetPlaceholder builds an OpSetPlaceholder: it applies only while the
// record still has etag, so a placeholder made from an older version never
// lands on a newer one (which keeps its own, or gets it from its own job).
func SetPlaceholder(bucket, key, etag, placeholder string) Mutation {
	return Mutation{Op: OpSetPlaceholder, Bucket: bucket, Key: key, ETag: etag, Placeholder: placeholder}
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
	case OpDelete, OpSetTags, OpSetPlaceholder:
		if err := validateBucket(m.Bucket); err != nil {
			return m, err
		}
		if m.Key == "" {
			return m, fmt.Errorf("%w: %v needs a key", ErrInvalid, m.Op)
		}
		if err := validatePlaceholder(m.Placeholder); err != nil {
			return m, err
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
	if (m.Op == OpPut || m.Op == OpDelete) && m.Replaced != "" {
		// The job's template, fixed here like the rest: apply fills in
		// the old record's object.
		j, err := prepareJob(Job{Kind: m.Replaced}, now)
		if err != nil {
			return m, fmt.Errorf("replaced job: %w", err)
		}
		m.Job = j
	}
	return m, nil
}

// ReplacedJob is the job m's Replaced asks for when it replaces (newRec
// non-nil) or removes prev, and false when it asks for none. m is a
// prepared mutation.
func (m *Mutation) ReplacedJob(prev, newRec *Record) (Job, bool) {
	if m.Replaced == "" || (m.Op != OpPut && m.Op != OpDelete) || prev.Format == "" {
		return Job{}, false
	}
	if newRec != nil && newRec.ETag == prev.ETag {
		return Job{}, false
	}
	j := m.Job
	j.Bucket, j.Key, j.ETag = prev.Bucket, prev.Key, prev.ETag
	return j, true
}

// SetPlaceholderOf is the record an OpSetPlaceholder m turns prev into,
// and false when it leaves prev alone (another version).
func (m *Mutation) SetPlaceholderOf(prev *Record) (Record, bool) {
	if prev.ETag != m.ETag {
		return Record{}, false
	}
	r := prev.clone()
	r.Placeholder = m.Placeholder
	return r, true
}

// KeepPlaceholder is r with the placeholder of the record prev it
// replaces when r has none and is the same version.
func KeepPlaceholder(r, prev *Record) Record {
	out := *r
	if out.Placeholder == "" && prev.ETag == r.ETag {
		out.Placeholder = prev.Placeholder
	}
	return out
}

// enqueueReplaced enqueues the job m.Replaced asks for, if any.
func (t *txn) enqueueReplaced(m *Mutation, prev, newRec *Record) error {
	j, ok := m.ReplacedJob(prev, newRec)
	if !ok {
		return nil
	}
	_, err := enqueue(t.tx, j)
	return err
}

// apply performs m inside a write transaction.
func (m *Mutation) apply(t *txn) error {
	switch m.Op {
	case OpPut:
		prev, found, err := t.replaceRecord(&m.Record)
		if err != nil || !found {
			return err
		}
		return t.enqueueReplaced(m, &prev, &m.Record)
	case OpDelete:
		prev, found, err := t.removeRecord(m.Bucket, m.Key)
		if err != nil || !found {
			return err
		}
		return t.enqueueReplaced(m, &prev, nil)
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
	case OpSetPlaceholder:
		v := t.records.Get(recordKey(m.Bucket, m.Key))
		if v == nil {
			return nil
		}
		prev, err := decodeRecord(m.Bucket, m.Key, v)
		if err != nil {
			return err
		}
		r, ok := m.SetPlaceholderOf(&prev)
		if !ok {
			return nil
		}
		// Nothing indexed or counted depends on the placeholder: only
		// the record changes.
		return t.records.Put(recordKey(r.Bucket, r.Key), encodeRecord(&r))
	}
	return fmt.Errorf("%w: unknown mutation op %v", ErrInvalid, m.Op)
}
