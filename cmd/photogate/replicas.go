package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/pgstore"
	"github.com/photogate/photogate/policy"
)

// sharedQuotas adapts the PostgreSQL index's cross-replica reservations to
// policy.SharedQuotas; nil for the bbolt index, which one process holds.
func sharedQuotas(store metastore.Index) policy.SharedQuotas {
	pg, ok := store.(*pgstore.Store)
	if !ok {
		return nil
	}
	return pgQuotas{pg}
}

type pgQuotas struct{ pg *pgstore.Store }

func (q pgQuotas) Reserve(ctx context.Context, holds []policy.SharedHold) (func(), *policy.SharedRefusal, error) {
	pgHolds := make([]pgstore.Hold, len(holds))
	for i, h := range holds {
		pgHolds[i] = pgstore.Hold(h)
	}
	release, refused, err := q.pg.Reserve(ctx, pgHolds)
	if refused != nil {
		r := policy.SharedRefusal(*refused)
		return nil, &r, err
	}
	return release, nil, err
}

// followReplicas keeps the policy's per-user limits divided among the live
// replicas (policy.Holder.SetReplicas), looking every interval, until ctx
// ends. The count comes from the replicas' heartbeats in PostgreSQL, read
// in the background: no request waits for it.
func followReplicas(ctx context.Context, pg *pgstore.Store, pol *policy.Holder, interval time.Duration, log *slog.Logger) {
	last := 1
	for {
		qctx, cancel := context.WithTimeout(ctx, interval)
		n, err := pg.LiveReplicas(qctx)
		cancel()
		switch {
		case err != nil:
			// Keep the last share: a database hiccup must not hand every
			// replica the whole limit at once.
			log.Warn("counting live replicas; keeping the rate-limit share", "replicas", last, "error", err)
		case n != last:
			log.Info("live replicas changed: per-user limits divided among them", "replicas", n, "was", last)
			pol.SetReplicas(n)
			last = n
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
