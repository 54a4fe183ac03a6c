package pgstore

import (
	"context"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// The commit of an upload (its record, its jobs, the counters, the intent
// cleared) is on every write request's path. Run statement by statement
// it costs five round trips: BEGIN, the old record's DELETE … RETURNING,
// the INSERT, the counters, COMMIT. pipelined does the same statements in
// two: BEGIN with every old record's DELETE … RETURNING, then, once the new
// rows and counters are computed from them, every write with COMMIT.

const (
	insertRecordSQL = "INSERT INTO records (" + recordColumns + `, written)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15, $16, $17, $18, $19, $20, $21, nextval('write_seq'))`
	takeRecordSQL = "DELETE FROM records WHERE bucket = $1 AND key = $2 RETURNING rec, coalesce(written, 0)"
	// intentBegunSQL is when the intent began, in write_seq; 0 when it is
	// gone (resolved by recovery) or from before write_seq.
	intentBegunSQL = "SELECT coalesce((SELECT begun FROM intents WHERE id = $1), 0)"
	insertJobSQL   = `INSERT INTO jobs (kind, bucket, key, etag, attempts, not_before_s, not_before_ns, last_error, state, created_s, created_ns)
		VALUES ($1, $2, $3, $4, 0, $5, $6, '', 'queued', $7, $8)`
)

// pipelinable reports whether muts can be committed by pipelined: puts,
// deletes and tag changes of distinct keys, and jobs. A second mutation
// of one key needs the first one's row, and the other operations read
// more than one row; they take the statement-by-statement path.
func pipelinable(muts []metastore.Mutation) bool {
	type key struct{ bucket, key string }
	seen := make(map[key]bool, len(muts))
	for i := range muts {
		m := &muts[i]
		var k key
		switch m.Op {
		case metastore.OpPut:
			k = key{m.Record.Bucket, m.Record.Key}
		case metastore.OpDelete, metastore.OpSetTags:
			k = key{m.Bucket, m.Key}
		case metastore.OpEnqueueJob:
			continue
		default:
			return false
		}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// pipelined commits muts (pipelinable) and clears intentID in one
// transaction of two round trips.
func (s *Store) pipelined(ctx context.Context, intentID uint64, muts []metastore.Mutation) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	c := conn.Conn()

	first := &pgx.Batch{}
	first.Queue("BEGIN ISOLATION LEVEL READ COMMITTED") // as write (store.go) names it
	checkRace := intentID != 0 && exclusive(muts)
	if checkRace {
		first.Queue(intentBegunSQL, int64(intentID))
	}
	var taken []int // index into muts of each DELETE … RETURNING
	for i := range muts {
		m := &muts[i]
		switch m.Op {
		case metastore.OpPut:
			first.Queue(takeRecordSQL, []byte(m.Record.Bucket), []byte(m.Record.Key))
		case metastore.OpDelete, metastore.OpSetTags:
			first.Queue(takeRecordSQL, []byte(m.Bucket), []byte(m.Key))
		default:
			continue
		}
		taken = append(taken, i)
	}
	prev := make(map[int]*metastore.Record, len(taken))
	err = func() error {
		br := c.SendBatch(ctx, first)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		var begun int64
		if checkRace {
			if err := br.QueryRow().Scan(&begun); err != nil {
				return err
			}
		}
		for _, i := range taken {
			var (
				v       []byte
				written int64
			)
			err := br.QueryRow().Scan(&v, &written)
			if err == pgx.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			if raced(&muts[i], begun, written) {
				return metastore.ErrRaced
			}
			bucket, key := muts[i].Bucket, muts[i].Key
			if muts[i].Op == metastore.OpPut {
				bucket, key = muts[i].Record.Bucket, muts[i].Record.Key
			}
			r, err := metastore.DecodeRecord(bucket, key, v)
			if err != nil {
				return err
			}
			prev[i] = &r
		}
		return nil
	}()
	if err != nil {
		rollback(c)
		return err
	}

	second := &pgx.Batch{}
	counts := newCounters()
	for i := range muts {
		m := &muts[i]
		old := prev[i]
		if old != nil {
			counts.record(old, -1)
		}
		switch m.Op {
		case metastore.OpPut:
			r := m.Record
			if old != nil {
				r = metastore.KeepPlaceholder(&r, old)
				if r.Owner == "" {
					r.Owner = old.Owner
				}
			}
			second.Queue(insertRecordSQL, recordArgs(&r)...)
			counts.record(&r, 1)
			if old != nil {
				queueReplaced(second, m, old, &r)
			}
		case metastore.OpDelete:
			if old != nil {
				queueReplaced(second, m, old, nil)
			}
		case metastore.OpSetTags:
			if old == nil {
				continue // not indexed (yet): reconciliation brings it in, tags included
			}
			r := *old
			r.Tags = maps.Clone(m.Tags)
			second.Queue(insertRecordSQL, recordArgs(&r)...)
			counts.record(&r, 1)
		case metastore.OpEnqueueJob:
			queueJob(second, m.Job)
		}
	}
	counts.queue(second)
	if intentID != 0 {
		second.Queue("DELETE FROM intents WHERE id = $1", int64(intentID))
	}
	second.Queue("COMMIT")
	if err := c.SendBatch(ctx, second).Close(); err != nil {
		rollback(c)
		return err
	}
	return nil
}

// exclusive reports whether any of muts is Exclusive.
func exclusive(muts []metastore.Mutation) bool {
	for i := range muts {
		if muts[i].Exclusive {
			return true
		}
	}
	return false
}

// rollback ends a failed pipelined transaction, so that the connection
// goes back to the pool clean; a connection that cannot is closed.
func rollback(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		_ = c.Close(ctx)
	}
}

func queueReplaced(b *pgx.Batch, m *metastore.Mutation, prev, newRec *metastore.Record) {
	if j, ok := m.ReplacedJob(prev, newRec); ok {
		queueJob(b, j)
	}
}

func queueJob(b *pgx.Batch, j metastore.Job) {
	sec, nsec := unixTime(j.NotBefore)
	csec, cnsec := unixTime(j.Created)
	b.Queue(insertJobSQL, []byte(j.Kind), []byte(j.Bucket), []byte(j.Key), []byte(j.ETag), sec, nsec, csec, cnsec)
}
