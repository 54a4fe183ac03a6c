package metastore

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent snapshot of the whole file to w and returns
// the bytes written. It runs in one read transaction, so writers are not
// blocked; the output is a complete bbolt file that Open accepts (restore
// is: stop, replace the file, start). Cancelling ctx aborts the copy.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("metastore: backup: %w", err)
	}
	return n, nil
}

// ctxWriter fails writes once ctx is done, which is the only way to stop
// tx.WriteTo part way.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
