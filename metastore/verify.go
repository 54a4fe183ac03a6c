package metastore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Verify checks the store's internal invariants: every secondary index
// entry, bucket and owner counter, status counter and facet counter is exactly what
// the records imply, and the job queue's indexes and counters are exactly
// what its jobs imply. It reads the
// whole file in one transaction (O(records)); it is for `photogate check`
// and tests. It says nothing about drift against the backend.
func (s *Store) Verify(ctx context.Context) error {
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		t, err := openTxn(tx)
		if err != nil {
			return err
		}
		want := map[string]map[string]bool{}
		for _, n := range indexNames() {
			want[n] = map[string]bool{}
		}
		type bstat struct{ objects, size int64 }
		wantBuckets := map[string]bstat{}
		wantOwners := map[string]bstat{}
		wantStatus := map[string]int64{}
		wantFacets := map[string]int64{}
		n := 0
		err = t.records.ForEach(func(k, v []byte) error {
			if n++; n%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r, err := decodeRecordKV(k, v)
			if err != nil {
				report("%v", err)
				return nil
			}
			for _, e := range indexEntries(&r) {
				want[e.index][string(e.key)] = true
			}
			bs := wantBuckets[r.Bucket]
			wantBuckets[r.Bucket] = bstat{bs.objects + 1, bs.size + r.Size}
			if r.Owner != "" {
				ow := wantOwners[r.Owner]
				wantOwners[r.Owner] = bstat{ow.objects + 1, ow.size + r.Size}
			}
			wantStatus[r.Status]++
			for _, f := range facetValues(&r) {
				wantFacets[string(facetKey(f.field, r.Bucket, f.folded))]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range indexNames() {
			got := map[string]bool{}
			_ = t.idx[name].ForEach(func(k, _ []byte) error {
				got[string(k)] = true
				if !want[name][string(k)] {
					report("%s: stray entry %q", name, k)
				}
				return nil
			})
			for k := range want[name] {
				if !got[k] {
					report("%s: missing entry %q", name, k)
				}
			}
		}
		gotBuckets := map[string]bstat{}
		_ = t.bstats.ForEach(func(k, v []byte) error {
			o, sz := decodeBucketStat(v)
			gotBuckets[string(k)] = bstat{o, sz}
			return nil
		})
		if !maps.Equal(gotBuckets, wantBuckets) {
			report("stat_bucket: have %v, records say %v", gotBuckets, wantBuckets)
		}
		gotOwners := map[string]bstat{}
		_ = t.ostats.ForEach(func(k, v []byte) error {
			o, sz := decodeBucketStat(v)
			gotOwners[string(k)] = bstat{o, sz}
			return nil
		})
		if !maps.Equal(gotOwners, wantOwners) {
			report("stat_owner: have %v, records say %v", gotOwners, wantOwners)
		}
		gotStatus := map[string]int64{}
		_ = t.sstats.ForEach(func(k, v []byte) error {
			gotStatus[counterName(k)] = int64(readU64(v))
			return nil
		})
		if !maps.Equal(gotStatus, wantStatus) {
			report("stat_status: have %v, records say %v", gotStatus, wantStatus)
		}
		gotFacets := map[string]int64{}
		_ = t.facets.ForEach(func(k, v []byte) error {
			n, _ := decodeFacet(v)
			gotFacets[string(k)] = n
			return nil
		})
		if !maps.Equal(gotFacets, wantFacets) {
			report("facets: have %d values, records imply %d (or counts differ)", len(gotFacets), len(wantFacets))
		}
		verifyJobs(tx, report)
		return nil
	})
	if err != nil {
		return fmt.Errorf("metastore: verify: %w", err)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// verifyJobs checks that the jobs and their indexes agree one to one
// (job_due for jobs not failed, job_failed for failed ones, job_object for
// all) and that the queued and failed counters match.
func verifyJobs(tx *bolt.Tx, report func(string, ...any)) {
	want := map[string]map[string]bool{bkJobDue: {}, bkJobFailed: {}, bkJobObject: {}}
	counts := map[string]int64{}
	_ = tx.Bucket([]byte(bkJobs)).ForEach(func(k, v []byte) error {
		j, err := decodeJob(readU64(k), v)
		if err != nil {
			report("%v", err)
			return nil
		}
		counts[string(jobCounterOf(&j))]++
		if j.State == JobFailed {
			want[bkJobFailed][string(u64(j.ID))] = true
		} else {
			want[bkJobDue][string(dueKey(&j))] = true
		}
		want[bkJobObject][string(jobObjectKey(&j))] = true
		return nil
	})
	for _, name := range []string{bkJobDue, bkJobFailed, bkJobObject} {
		b := tx.Bucket([]byte(name))
		_ = b.ForEach(func(k, _ []byte) error {
			if !want[name][string(k)] {
				report("%s: stray entry %x", name, k)
			}
			return nil
		})
		for k := range want[name] {
			if b.Get([]byte(k)) == nil {
				report("%s: missing entry %x", name, k)
			}
		}
	}
	got := map[string]int64{}
	_ = tx.Bucket([]byte(bkJobStats)).ForEach(func(k, v []byte) error {
		got[string(k)] = int64(readU64(v))
		return nil
	})
	if !maps.Equal(got, counts) {
		report("job_stats: have %q, jobs say %q", got, counts)
	}
}
