package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
)

// Hold is one quota an upload is checked against and what it adds: the
// objects and bytes of Bucket, or of the user Owner, as the index counts
// them (BucketUsage, OwnerUsage).
type Hold struct {
	Owner bool // a user's quota; else a bucket's
	Name  string

	Objects, Bytes       int64 // what the upload adds
	MaxObjects, MaxBytes int64 // the quota; 0 is no limit
}

func (h Hold) scope() []byte {
	kind := byte('b')
	if h.Owner {
		kind = 'u'
	}
	return append([]byte{kind}, h.Name...)
}

// Refusal says which Hold would be exceeded and what it found there.
type Refusal struct {
	Index                          int // into the holds given to Reserve
	UsedObjects, UsedBytes         int64
	ReservedObjects, ReservedBytes int64 // by uploads in transfer on every live replica
}

// Reserve checks each hold against its quota, counting what the index
// holds and what every live replica has reserved for uploads in transfer,
// and reserves what the upload adds, all under one transaction that holds
// an advisory lock per quota: two replicas checking the same quota at once
// take turns, so together they never admit more than it allows. release
// ends the reservation; call it once the upload's record is committed (or
// the upload failed), so that its bytes are counted in usage or in
// reservations at every moment. A replica that dies leaves rows that count
// until they are swept, reservationSweep leases after its last heartbeat:
// the error is on the safe side, refusing rather than overshooting.
//
// It returns a non-nil Refusal, and holds nothing, when a quota would be
// exceeded.
func (s *Store) Reserve(ctx context.Context, holds []Hold) (release func(), refused *Refusal, err error) {
	for _, h := range holds {
		if err := metastore.ValidateUsageName(h.Name); err != nil {
			return nil, nil, err
		}
	}
	var ids []int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		ids, refused = nil, nil
		// Locks in one order, so that two uploads naming the same two
		// quotas never wait on each other crosswise.
		scopes := make([][]byte, len(holds))
		for i, h := range holds {
			scopes[i] = h.scope()
		}
		ordered := slices.Clone(scopes)
		slices.SortFunc(ordered, func(a, b []byte) int { return slices.Compare(a, b) })
		for _, sc := range slices.CompactFunc(ordered, slices.Equal) {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(encode($2, 'escape')))", quotaLockClass, sc); err != nil {
				return err
			}
		}
		for i, h := range holds {
			var r Refusal
			table, column := "bucket_usage", "bucket"
			if h.Owner {
				table, column = "owner_usage", "owner"
			}
			// One statement, so one snapshot: an upload finishing meanwhile
			// commits its record and only then drops its reservation, so a
			// snapshot sees its bytes in usage or in reservations. Two
			// statements could read usage before the commit and
			// reservations after the drop, and miss it (the advisory lock
			// orders Reserves, not finishing uploads).
			//
			// Every reservation counts, a late replica's too: a heartbeat
			// delayed by load must not make its uploads invisible. Rows of
			// dead replicas are swept (ClaimIntents) well after their lease.
			err := tx.QueryRow(ctx, `SELECT u.objects, u.bytes, r.objects, r.bytes FROM
				(SELECT coalesce(sum(objects), 0)::bigint AS objects, coalesce(sum(bytes), 0)::bigint AS bytes
					FROM `+table+` WHERE `+column+` = $1) u,
				(SELECT coalesce(sum(objects), 0)::bigint AS objects, coalesce(sum(bytes), 0)::bigint AS bytes
					FROM reservations WHERE scope = $2) r`,
				[]byte(h.Name), scopes[i]).Scan(&r.UsedObjects, &r.UsedBytes, &r.ReservedObjects, &r.ReservedBytes)
			if err != nil {
				return err
			}
			if over(h.MaxObjects, h.Objects, r.UsedObjects+r.ReservedObjects) || over(h.MaxBytes, h.Bytes, r.UsedBytes+r.ReservedBytes) {
				r.Index = i
				refused = &r
				return nil
			}
		}
		for i, h := range holds {
			// Only growth is held. An overwrite by a smaller object adds
			// less than nothing, but until its record commits the old size
			// is what is stored, and if it fails nothing shrinks: a negative
			// row would let every replica admit what it frees in advance.
			objects, bytes := max(h.Objects, 0), max(h.Bytes, 0)
			if objects == 0 && bytes == 0 {
				continue
			}
			var id int64
			err := tx.QueryRow(ctx, "INSERT INTO reservations (replica, scope, objects, bytes) VALUES ($1, $2, $3, $4) RETURNING id",
				s.replica.id, scopes[i], objects, bytes).Scan(&id)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pgstore: reserve quota: %w", err)
	}
	if refused != nil {
		return nil, refused, nil
	}
	return func() { s.unreserve(ids) }, nil, nil
}

// over reports whether adding need to have passes max. Reaching a quota
// exactly is allowed, and what adds nothing is never refused.
func over(max, need, have int64) bool {
	return max > 0 && need > 0 && have+need > max
}

// reservationSweep is how many of its leases a replica must have been
// silent for before its reservations are swept: more than the one after
// which its intents are claimed, since counting a slow replica's uploads
// twice only refuses early, while dropping them lets a quota overflow.
const reservationSweep = 3

// quotaLockClass is the first key of the quota advisory locks (ASCII
// "quot"), apart from the migration lock's.
const quotaLockClass int32 = 0x71756f74

// unreserve deletes reservation rows. It must not fail for a request that
// is over: a row it could not delete (the database away) stops counting
// when this replica leaves or its lease runs out.
func (s *Store) unreserve(ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.pool.Exec(ctx, "DELETE FROM reservations WHERE id = ANY($1)", ids)
}
