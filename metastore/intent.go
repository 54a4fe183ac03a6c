package metastore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Intent records that a mutation is about to be forwarded to the backend,
// whose outcome is unknown until Commit or Abandon. After a crash every
// leftover intent names the only keys whose index entries may disagree with
// the backend.
type Intent struct {
	ID      uint64 // assigned by BeginIntent, increasing
	Op      string // S3 operation, e.g. "PutObject", "DeleteObjects"
	Bucket  string
	Keys    []string // affected keys: one for most operations, none for bucket operations
	Owner   string   // user name making the request: owns what it writes
	Created time.Time
}

// maxIntentKeys is DeleteObjects' limit, the largest S3 operation.
const maxIntentKeys = 1000

// BeginIntent durably records in (fsynced before it returns) and returns its
// ID. Concurrent calls share one transaction and one fsync.
func (s *Store) BeginIntent(ctx context.Context, in Intent) (uint64, error) {
	if strings.TrimSpace(in.Op) == "" {
		return 0, fmt.Errorf("%w: intent without an operation", ErrInvalid)
	}
	if err := validateBucket(in.Bucket); err != nil {
		return 0, fmt.Errorf("intent %s: %w", in.Op, err)
	}
	if len(in.Owner) > maxOwnerLen {
		return 0, fmt.Errorf("%w: intent %s: owner name of %d bytes exceeds %d", ErrInvalid, in.Op, len(in.Owner), maxOwnerLen)
	}
	if len(in.Keys) > maxIntentKeys {
		return 0, fmt.Errorf("%w: intent %s has %d keys, at most %d", ErrInvalid, in.Op, len(in.Keys), maxIntentKeys)
	}
	if in.Created.IsZero() {
		in.Created = time.Now()
	}
	var id uint64
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkIntents))
		next, err := b.NextSequence()
		if err != nil {
			return err
		}
		in.ID = next
		id = next
		return b.Put(u64(next), encodeIntent(&in))
	})
	if err != nil {
		return 0, fmt.Errorf("metastore: begin intent %s %s: %w", in.Op, in.Bucket, err)
	}
	return id, nil
}

// Commit applies muts and deletes intent intentID in one transaction, which
// it shares with concurrent callers (one fsync for all). intentID 0 means
// there is no intent (reconciliation writes, background jobs).
//
// Commit is idempotent: an intent that no longer exists is not an error,
// so recovery can re-run a resolution that a crash interrupted. A Put whose
// record is unchanged rewrites the same entries.
func (s *Store) Commit(ctx context.Context, intentID uint64, muts ...Mutation) error {
	now := time.Now()
	prepared := make([]Mutation, len(muts))
	for i, m := range muts {
		p, err := m.prepare(now)
		if err != nil {
			return fmt.Errorf("metastore: commit intent %d: mutation %d: %w", intentID, i, err)
		}
		prepared[i] = p
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		t, err := openTxn(tx)
		if err != nil {
			return err
		}
		for i := range prepared {
			if err := prepared[i].apply(t); err != nil {
				return fmt.Errorf("mutation %d (%v): %w", i, prepared[i].Op, err)
			}
		}
		if intentID != 0 {
			return tx.Bucket([]byte(bkIntents)).Delete(u64(intentID))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metastore: commit intent %d: %w", intentID, err)
	}
	return nil
}

// Abandon drops an intent whose mutation the backend refused: nothing
// changed, so there is nothing to index. A missing intent is not an error.
func (s *Store) Abandon(ctx context.Context, intentID uint64) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkIntents)).Delete(u64(intentID))
	})
	if err != nil {
		return fmt.Errorf("metastore: abandon intent %d: %w", intentID, err)
	}
	return nil
}

// PendingIntents lists the intents not yet committed or abandoned, oldest
// first. At startup, before serving, these are what recovery resolves.
func (s *Store) PendingIntents(ctx context.Context) ([]Intent, error) {
	var out []Intent
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkIntents)).ForEach(func(k, v []byte) error {
			in, err := decodeIntent(k, v)
			if err != nil {
				return err
			}
			out = append(out, in)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("metastore: pending intents: %w", err)
	}
	return out, nil
}

// Intent encodings; v2 appends Owner.
const (
	intentV1 = 1
	intentV2 = 2
)

func encodeIntent(in *Intent) []byte {
	e := encoder{}
	e.byte1(intentV2)
	e.str(in.Op)
	e.str(in.Bucket)
	e.time(in.Created)
	e.strs(in.Keys)
	e.str(in.Owner)
	return e.b
}

func decodeIntent(k, v []byte) (Intent, error) {
	if len(k) != 8 {
		return Intent{}, fmt.Errorf("%w: intent key %x", ErrCorrupt, k)
	}
	in := Intent{ID: binary.BigEndian.Uint64(k)}
	d := decoder{b: v}
	ver := d.byte1()
	if d.err == nil && ver != intentV1 && ver != intentV2 {
		return Intent{}, fmt.Errorf("%w: intent %d: unknown encoding version %d", ErrCorrupt, in.ID, ver)
	}
	in.Op = d.str()
	in.Bucket = d.str()
	in.Created = d.time()
	in.Keys = d.strs()
	if ver >= intentV2 {
		in.Owner = d.str()
	}
	if err := d.done(); err != nil {
		return Intent{}, fmt.Errorf("%w: intent %d: %v", ErrCorrupt, in.ID, err)
	}
	return in, nil
}
