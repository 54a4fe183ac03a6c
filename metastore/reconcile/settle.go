package reconcile

import (
	"context"
	"fmt"
)

// Settle resolves the intent of a request whose backend answer was lost:
// the backend may or may not have acted, so what it holds now for each key
// the intent names is read back and written, as recovery does after a
// crash. The intent stops counting as in flight first, so that if the
// backend cannot be read now either, the next recovery pass resolves it
// instead of skipping it until a restart.
func (ix *Indexer) Settle(ctx context.Context, id uint64) error {
	if t, ok := ix.take(id); ok {
		ix.locks.end(t)
	}
	pending, err := ix.store.PendingIntents(ctx)
	if err != nil {
		return err
	}
	for _, in := range pending {
		if in.ID == id {
			if err := ix.resolve(ctx, in); err != nil {
				return fmt.Errorf("settle intent %d (%s %s): %w", id, in.Op, in.Bucket, err)
			}
			return nil
		}
	}
	return nil // already resolved by a recovery pass
}
