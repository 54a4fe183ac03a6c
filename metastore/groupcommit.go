package metastore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit shares write transactions, and so fsyncs, among concurrent
// writers without a timer. A writer that finds no commit running commits
// at once, alone; writers that arrive while a commit runs queue up, and
// when it ends the first of them commits the whole queue in one
// transaction. So a lone client pays one fsync per write and no waiting,
// and under load every fsync carries everyone who arrived during the one
// before. bbolt's DB.Batch instead holds each batch open for a fixed delay
// in case more writers come, which every writer pays as latency even when
// all the writers in flight have already joined.
type groupCommit struct {
	mu         sync.Mutex
	queue      []*groupCall
	committing bool // a leader is running a transaction
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan bool // true: lead the next group; false: err is set
}

// batch runs fn in a write transaction, shared with concurrent callers.
// fn may run more than once (a group that fails is run again without the
// failing member), so it must not have effects outside tx and must set
// its results on every run.
//
// ctx is only checked before submitting: once a mutation is submitted it
// completes, because dropping the index update of a write the backend
// already confirmed would create drift.
func (s *Store) batch(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.calls.Add(1)
	c := &groupCall{fn: fn, done: make(chan bool, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.committing {
		g.mu.Unlock()
		if lead := <-c.done; !lead {
			return c.err
		}
		g.mu.Lock()
	}
	g.committing = true
	calls := g.queue
	if len(calls) > maxGroup {
		// The rest wait for the next group; a transaction stays a size
		// whose failure costs its members little to re-run.
		calls, g.queue = calls[:maxGroup:maxGroup], calls[maxGroup:]
	} else {
		g.queue = nil
	}
	g.mu.Unlock()
	s.lead(calls, c)
	return c.err
}

// lead commits calls, then passes the lead to the first writer that
// queued meanwhile and wakes the others of its group. It does both even
// if the commit panics (net/http recovers a request's panic, and the
// process goes on), so that writers never wait on a leader that is gone.
func (s *Store) lead(calls []*groupCall, self *groupCall) {
	for _, c := range calls {
		c.err = errCommitUnfinished
	}
	defer func() {
		g := &s.group
		g.mu.Lock()
		if len(g.queue) > 0 {
			g.queue[0].done <- true // it takes the queue, itself included
		} else {
			g.committing = false
		}
		g.mu.Unlock()
		for _, c := range calls {
			if c != self {
				c.done <- false
			}
		}
	}()
	s.commitGroup(calls)
}

// errCommitUnfinished is what the members of a group hear when its leader
// panicked outside their functions: whether the transaction committed is
// unknown, which every writer already handles (Commit is idempotent, and
// intents are resolved by recovery).
var errCommitUnfinished = errors.New("metastore: the shared write transaction ended in a panic; its outcome is unknown")

// maxGroup bounds the calls one transaction carries, as DB.MaxBatchSize did.
const maxGroup = 1000

// commitGroup runs calls in one transaction and sets each one's err. A
// call that fails is taken out and run alone, so that its error is its
// own, and the rest are committed without it.
func (s *Store) commitGroup(calls []*groupCall) {
	for len(calls) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			tx.OnCommit(func() { s.txs.Add(1) })
			for i, c := range calls {
				if err := callSafely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 || len(calls) == 1 {
			for _, c := range calls {
				c.err = err
			}
			return
		}
		alone := calls[failed]
		alone.err = s.db.Update(func(tx *bolt.Tx) error {
			tx.OnCommit(func() { s.txs.Add(1) })
			return callSafely(alone.fn, tx)
		})
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// callSafely turns a panic in one writer's fn into that writer's error:
// the others sharing its transaction did nothing wrong.
func callSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("metastore: write panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}
