package reconcile

import "context"

// Settle hands the intent of a request whose backend answer was lost to
// recovery and wakes it. The backend may or may not have acted, so what
// it holds now for each key the intent names is read back and written, as
// after a crash. Settle does not wait for that: the backend may be the
// reason the answer was lost, and the client should hear at once. The
// intent stops counting as in flight, so the next recovery pass (now, and
// every tick after until the backend answers) resolves it instead of
// skipping it until a restart.
func (ix *Indexer) Settle(_ context.Context, id uint64) error {
	if t, ok := ix.take(id); ok {
		ix.locks.end(t)
	}
	ix.poke()
	return nil
}
