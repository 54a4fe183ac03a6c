// Package metastore is photogate's photo index: one bbolt file that holds a
// record per object, secondary indexes for search, a write-intent log and a
// small durable job queue.
//
// The backend (MinIO) is the source of truth. Nothing here is needed to serve
// an object and everything here can be rebuilt by listing the backend. What
// the store guarantees is that the index can be kept exactly equal to the
// backend across crashes: the gateway records an intent (BeginIntent, fsynced)
// before it forwards a mutation, and applies the resulting index change
// together with deleting the intent in one transaction (Commit) once the
// backend has answered. After a crash, PendingIntents lists exactly the keys
// whose backend state is unknown; resolving each against the backend (HEAD)
// and committing the answer leaves zero drift.
//
// Every write goes through group commit (groupCommit), so concurrent
// uploads share transactions and fsyncs without waiting on a timer. Every change to a record updates its secondary index
// entries and the per-bucket, per-status and facet counters in the same
// transaction, so readers never see an index that disagrees with the records.
//
// The on-disk layout (bucket names, key layouts, encodings and invariants) is
// documented in docs/metastore.md; keep the two in step.
package metastore
