package pgstore

// migrations returns the schema steps, index = version. They are applied in order, each in its own transaction, by Open
// under an advisory lock; schema_migrations records which ran. Append new
// migrations, never edit an applied one: a replica of an older release may
// be running against the same database during a rolling update, so a
// migration must also keep the previous release working (add, do not
// rename or drop).
//
// Layout. Strings that come from S3 callers (bucket, key, owner, tags,
// job fields) are bytea or escaped so that any byte sequence round-trips
// and orders byte-wise, exactly like bbolt's keys. rec is the whole record
// in metastore's versioned record encoding, so Get and Search return what
// the bbolt engine returns bit for bit; the other columns are derived from
// it (metastore.SearchFieldsOf) and exist to be indexed. taken is the
// 12-byte sortable form of TakenAt (undated sorts first), so the taken
// order and its cursors are the bbolt engine's.
func migrations() []string {
	return []string{
		1: `
CREATE TABLE records (
	bucket      bytea NOT NULL,
	key         bytea NOT NULL,
	rec         bytea NOT NULL,
	size        bigint NOT NULL,
	taken       bytea NOT NULL,
	make        text,
	model       text,
	lens        text,
	format      text,
	ctype       text,
	aspect      text,
	tags        jsonb,
	lat         double precision,
	lon         double precision,
	orientation integer NOT NULL,
	dwidth      integer NOT NULL,
	dheight     integer NOT NULL,
	megapixels  double precision NOT NULL,
	iso         integer NOT NULL,
	owner       bytea NOT NULL,
	status      bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);
-- Result orders: per bucket, and across buckets for queries without one.
CREATE INDEX records_bucket_taken ON records (bucket, taken, key);
CREATE INDEX records_taken ON records (taken, bucket, key);
CREATE INDEX records_bucket_size ON records (bucket, size, key);
CREATE INDEX records_size ON records (size, bucket, key);
-- Exact-match filters, followed by the key order: a filtered search in
-- key order (the default) reads its page straight from the index.
CREATE INDEX records_camera ON records (make, model, bucket, key) WHERE make IS NOT NULL;
CREATE INDEX records_model ON records (model, bucket, key) WHERE model IS NOT NULL;
CREATE INDEX records_lens ON records (lens, bucket, key) WHERE lens IS NOT NULL;
CREATE INDEX records_format ON records (format, bucket, key) WHERE format IS NOT NULL;
CREATE INDEX records_ctype ON records (ctype, bucket, key) WHERE ctype IS NOT NULL;
CREATE INDEX records_tags ON records USING gin (tags jsonb_path_ops) WHERE tags IS NOT NULL;
-- bbox and near: a box containment on an R-tree of positions. Boxes never
-- cross the antimeridian (metastore.CompiledQuery.GeoBoxes splits them).
CREATE INDEX records_geo ON records USING gist (point(lon, lat)) WHERE lat IS NOT NULL;

-- Counters kept in the records' transaction, each split in shards by a
-- hash of the record's bucket and key (see shardOf): concurrent uploads
-- into one bucket then update different rows instead of queueing on one
-- row lock through each other's commit. A record always counts in the same
-- shard, so a shard's count is that of its records, and a row is deleted
-- when it reaches zero. Readers sum the shards.
CREATE TABLE bucket_usage (
	bucket  bytea NOT NULL,
	shard   smallint NOT NULL,
	objects bigint NOT NULL,
	bytes   bigint NOT NULL,
	PRIMARY KEY (bucket, shard)
);
CREATE TABLE owner_usage (
	owner   bytea NOT NULL,
	shard   smallint NOT NULL,
	objects bigint NOT NULL,
	bytes   bigint NOT NULL,
	PRIMARY KEY (owner, shard)
);
CREATE TABLE status_counts (
	status bytea NOT NULL,
	shard  smallint NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (status, shard)
);
-- Every shard of a value carries the same display form: a new shard row
-- copies it from an existing one, and only a value that exists nowhere
-- takes the display of the record creating it.
CREATE TABLE facets (
	field   text NOT NULL,
	bucket  bytea NOT NULL,
	folded  bytea NOT NULL,
	shard   smallint NOT NULL,
	n       bigint NOT NULL,
	display bytea NOT NULL,
	PRIMARY KEY (field, bucket, folded, shard)
);

CREATE TABLE intents (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	op         bytea NOT NULL,
	bucket     bytea NOT NULL,
	keys       bytea[] NOT NULL,
	owner      bytea NOT NULL,
	created_s  bigint NOT NULL,
	created_ns integer NOT NULL
);

-- not_before is split in seconds and nanoseconds so that it keeps Go's
-- full precision and range (timestamptz has microseconds).
CREATE TABLE jobs (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind          bytea NOT NULL,
	bucket        bytea NOT NULL,
	key           bytea NOT NULL,
	etag          bytea NOT NULL,
	attempts      integer NOT NULL,
	not_before_s  bigint NOT NULL,
	not_before_ns integer NOT NULL,
	last_error    bytea NOT NULL
);
CREATE INDEX jobs_due ON jobs (kind, not_before_s, not_before_ns, id);
CREATE TABLE jobs_dropped (
	kind bytea PRIMARY KEY,
	n    bigint NOT NULL
);
`,
		// Intent leases (see replicas.go). An intent belongs to the replica
		// that began it; another replica may resolve it only once that
		// replica's heartbeat is older than the lease it announced. Intents
		// written before this migration have no replica ('') and are
		// anyone's to claim.
		2: `
ALTER TABLE intents ADD COLUMN replica text NOT NULL DEFAULT '';
CREATE INDEX intents_replica ON intents (replica, id);
CREATE TABLE replicas (
	id       text PRIMARY KEY,
	beat     timestamptz NOT NULL,
	lease_ms bigint NOT NULL,
	started  timestamptz NOT NULL DEFAULT now()
);
`,
		// Job states: a job that exhausts its attempts, or that a worker
		// fails, is kept as 'failed' instead of deleted and counted in
		// jobs_dropped (which stays, unused, for replicas of the
		// previous release during a rolling update). Jobs written before
		// have no creation time (NULL) and are 'queued'; a lease such a
		// replica takes leaves the state 'queued', which only reporting
		// sees, since leasing follows not_before. Leases read a partial
		// index without the failed jobs, which would otherwise sit at the
		// front of the due order; jobs_due stays for the previous
		// release's Lease. jobs_object serves the lookup of one object's
		// jobs, jobs_failed the listing and retrying of failed ones.
		3: `
ALTER TABLE jobs ADD COLUMN state text NOT NULL DEFAULT 'queued';
ALTER TABLE jobs ADD COLUMN created_s bigint;
ALTER TABLE jobs ADD COLUMN created_ns integer;
CREATE INDEX jobs_live_due ON jobs (kind, not_before_s, not_before_ns, id) WHERE state <> 'failed';
CREATE INDEX jobs_object ON jobs (bucket, key, id);
CREATE INDEX jobs_failed ON jobs (id) WHERE state = 'failed';
`,
		// Quota reservations of uploads in transfer, by replica, so that
		// a quota is checked against every replica's uploads (see
		// Reserve). scope is 'b' or 'u' and the bucket or user name.
		4: `
CREATE TABLE reservations (
	id      bigserial PRIMARY KEY,
	replica text NOT NULL,
	scope   bytea NOT NULL,
	objects bigint NOT NULL,
	bytes   bigint NOT NULL
);
CREATE INDEX reservations_scope ON reservations (scope);
`,
		// The order of writes across replicas: every record row and every
		// intent takes the next value of write_seq when written or begun,
		// so a commit can tell that another one wrote its key after its
		// intent began (Mutation.Exclusive). Rows from before have none
		// (NULL), which counts as older than any intent.
		5: `
CREATE SEQUENCE write_seq;
ALTER TABLE records ADD COLUMN written bigint;
ALTER TABLE intents ADD COLUMN begun bigint;
`,
		// Searches whose candidates must be sorted pick a page's
		// candidates from an index alone and read only the page's rows
		// (see roundSQL), which needs indexes that hold the filter
		// columns and the result orders' columns:
		//
		// records_geo_covering replaces records_geo: the same R-tree of
		// positions carrying the order columns (bucket, key, taken, size)
		// and lat and lon, so that a place's thousands of photos are
		// filtered and ordered without visiting their rows.
		//
		// records_camera_taken: a camera in a date range is one range of
		// it (the model, usually fixed too, is checked in the index), and
		// one camera's photos come in date order.
		//
		// records_tags stops deferring its insertions to a pending list,
		// which every tag search reads through until VACUUM empties it
		// (megabytes after bulk uploads); an upload inserts its few tag
		// entries into the index instead.
		//
		// Index-only scans skip the row only on pages the visibility map
		// marks all-visible, which VACUUM sets; by default autovacuum
		// comes after 20% of the table has been inserted, so a large
		// library's recent uploads would all be visited. 1% keeps them
		// few.
		//
		// The previous release runs against this schema unchanged: the
		// geo index keeps records_geo's expression and predicate.
		6: `
CREATE INDEX records_geo_covering ON records USING gist (point(lon, lat))
	INCLUDE (bucket, key, taken, size, lat, lon) WHERE lat IS NOT NULL;
DROP INDEX records_geo;
CREATE INDEX records_camera_taken ON records (make, taken, model, bucket, key) WHERE make IS NOT NULL;
ALTER INDEX records_tags SET (fastupdate = off);
SELECT gin_clean_pending_list('records_tags');
ALTER TABLE records SET (autovacuum_vacuum_insert_scale_factor = 0.01);
`,
	}
}

// SchemaVersion is the newest migration this code knows. Open refuses a
// database migrated further: an older binary must not half-understand it.
const SchemaVersion = 6

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// between replicas starting at once (ASCII "photogat").
const migrationLockKey int64 = 0x70686f746f676174
