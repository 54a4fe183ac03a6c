package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// DefaultLease is how long a replica's intents stay its own after its last
// heartbeat when Options.Lease is zero. It must outlast a long GC pause or
// a slow database round trip (a replica whose heartbeat is late loses its
// intents to another, see ClaimIntents), and is how long a dead replica's
// unresolved writes may stay unindexed.
const DefaultLease = 15 * time.Second

// replica is this Store's membership in the replicas table: a random id
// per Open, announced with its lease and renewed every third of it.
type replica struct {
	id    string
	lease time.Duration
	stop  context.CancelFunc
	done  chan struct{}
}

func newReplicaID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReplicaID names this open Store among the replicas sharing the database;
// the intents it begins carry it.
func (s *Store) ReplicaID() string { return s.replica.id }

// IntentLease is how long after this replica's last heartbeat its intents
// become claimable by the others.
func (s *Store) IntentLease() time.Duration { return s.replica.lease }

// join registers the replica with a first heartbeat, so that its intents
// are its own from the first one, then keeps beating until leave.
func (s *Store) join(ctx context.Context) error {
	if err := s.beat(ctx); err != nil {
		return fmt.Errorf("pgstore: register replica: %w", err)
	}
	beatCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.replica.stop, s.replica.done = stop, make(chan struct{})
	go func() {
		defer close(s.replica.done)
		tick := time.NewTicker(s.replica.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-tick.C:
			}
			// A failed beat is retried at the next tick; if the database
			// stays away longer than the lease, others may claim this
			// replica's intents, which is what the lease is for.
			bctx, cancel := context.WithTimeout(beatCtx, s.replica.lease/3)
			_ = s.beat(bctx)
			cancel()
		}
	}()
	return nil
}

// beat renews the heartbeat. Times are the database's (now()), so the
// replicas' clocks never meet.
func (s *Store) beat(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO replicas (id, beat, lease_ms) VALUES ($1, now(), $2)
		ON CONFLICT (id) DO UPDATE SET beat = now(), lease_ms = excluded.lease_ms`,
		s.replica.id, s.replica.lease.Milliseconds())
	return err
}

// leave stops the heartbeat and removes the replica, so that the intents
// it leaves (none after a clean shutdown, unless the backend was down) are
// claimable at once instead of after the lease.
func (s *Store) leave() {
	if s.replica.stop == nil {
		return
	}
	s.replica.stop()
	<-s.replica.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.pool.Exec(ctx, "DELETE FROM reservations WHERE replica = $1", s.replica.id)
	_, _ = s.pool.Exec(ctx, "DELETE FROM replicas WHERE id = $1", s.replica.id)
}

// ClaimIntents takes over the intents of replicas whose lease has run out
// (dead, or cut off from the database for longer than their lease), then
// lists every intent this replica owns, oldest first: what its recovery
// may resolve. Intents are claimed under row locks in one transaction, so
// two replicas never claim the same intent, and a live replica's intents
// are never claimed. The owner's in-flight requests are the caller's to
// skip (reconcile.Indexer does).
//
// A replica whose heartbeat is late by more than its lease while one of
// its requests is in flight can lose that request's intent to another
// replica; both then write the key's state, the request its answer and the
// claimer what it reads back from the backend, and the later commit wins.
// The lease is chosen long enough (DefaultLease) for that to need a stall
// the database would notice anyway.
func (s *Store) ClaimIntents(ctx context.Context) ([]metastore.Intent, error) {
	var out []metastore.Intent
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE intents SET replica = $1 WHERE id IN (
			SELECT i.id FROM intents i
			WHERE i.replica <> $1 AND NOT EXISTS (
				SELECT 1 FROM replicas r
				WHERE r.id = i.replica AND r.beat + r.lease_ms * interval '1 millisecond' > now())
			FOR UPDATE SKIP LOCKED)`, s.replica.id)
		if err != nil {
			return err
		}
		// Quota reservations of dead replicas are swept here, some leases
		// after their last heartbeat (see reservationSweep).
		_, err = tx.Exec(ctx, `DELETE FROM reservations r WHERE NOT EXISTS (
			SELECT 1 FROM replicas p WHERE p.id = r.replica AND p.beat + $1 * p.lease_ms * interval '1 millisecond' > now())`, reservationSweep)
		if err != nil {
			return err
		}
		out, err = scanIntents(ctx, tx, `SELECT id, op, bucket, keys, owner, created_s, created_ns
			FROM intents WHERE replica = $1 ORDER BY id`, s.replica.id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim intents: %w", err)
	}
	return out, nil
}

// LiveReplicas counts the replicas whose lease has not run out, this one
// included.
func (s *Store) LiveReplicas(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM replicas
		WHERE beat + lease_ms * interval '1 millisecond' > now()`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pgstore: live replicas: %w", err)
	}
	return n, nil
}
