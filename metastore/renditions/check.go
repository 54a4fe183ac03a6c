package renditions

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
)

// CheckReport compares the renditions with the index.
type CheckReport struct {
	Photos   int `json:"photos"`   // indexed versions that get renditions
	Rendered int `json:"rendered"` // of those, with renditions or a failure record
	// Missing are photos with neither renditions, a failure record nor a
	// job; Orphaned are rendition sets of versions the index no longer
	// has (their files are deleted by a repair).
	Missing  []Drift `json:"missing"`
	Orphaned []Drift `json:"orphaned"`
	Repaired int     `json:"repaired"`
}

// Drift is one photo without renditions, or one orphaned rendition set
// (then Key is its prefix in the rendition bucket).
type Drift struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// Check compares the rendition bucket with the index; repair queues the
// missing renders and deletes the orphans. Memory holds one 32-byte digest
// per indexed photo: the rendition bucket is ordered by key digest, the
// index by key, so the two cannot be walked side by side.
func (l *Library) Check(ctx context.Context, repair bool) (CheckReport, error) {
	rep := CheckReport{Missing: []Drift{}, Orphaned: []Drift{}}
	want := map[[sha256.Size]byte]metastore.Record{}
	stats, err := l.store.Stats(ctx)
	if err != nil {
		return rep, fmt.Errorf("renditions: check: %w", err)
	}
	for _, b := range stats.Buckets {
		err := l.store.Scan(ctx, b.Name, "", func(rec metastore.Record) error {
			if l.Renders(rec.Format) {
				want[sha256.Sum256([]byte(Prefix(rec.Bucket, rec.Key, rec.ETag)))] = metastore.Record{Bucket: rec.Bucket, Key: rec.Key, ETag: rec.ETag, Format: rec.Format}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("renditions: check: %w", err)
		}
	}
	rep.Photos = len(want)

	// One pass over the rendition bucket: objects of one version are
	// listed together (same prefix), so a set is judged when its prefix
	// ends.
	done := map[[sha256.Size]byte]bool{}
	var (
		prefix   string
		names    []string
		complete bool
	)
	flush := func() error {
		if prefix == "" {
			return nil
		}
		sum := sha256.Sum256([]byte(prefix))
		if _, ok := want[sum]; !ok {
			rep.Orphaned = append(rep.Orphaned, Drift{Bucket: strings.SplitN(prefix, "/", 2)[0], Key: prefix})
			if repair {
				for _, name := range names {
					if err := l.in.DeleteObject(ctx, l.bucket, prefix+name); err != nil {
						return err
					}
				}
				rep.Repaired++
			}
		} else if complete {
			done[sum] = true
		}
		prefix, names, complete = "", nil, false
		return nil
	}
	exists, err := l.bucketExists(ctx)
	if err != nil {
		return rep, err
	}
	if exists {
		err = l.in.List(ctx, l.bucket, func(obj backend.Object) error {
			i := strings.LastIndexByte(obj.Key, '/')
			p, name := obj.Key[:i+1], obj.Key[i+1:]
			if p != prefix {
				if err := flush(); err != nil {
					return err
				}
				prefix = p
			}
			names = append(names, name)
			complete = complete || name == MetaObject || name == FailedObject
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return rep, fmt.Errorf("renditions: check: %w", err)
		}
	}
	rep.Rendered = len(done)
	var missing []metastore.Record
	for sum, rec := range want {
		if !done[sum] {
			missing = append(missing, rec)
		}
	}
	slices.SortFunc(missing, func(a, b metastore.Record) int {
		return cmp.Or(strings.Compare(a.Bucket, b.Bucket), strings.Compare(a.Key, b.Key))
	})
	for _, rec := range missing {
		// A version with a job is on its way, not missing.
		if _, queued, err := l.job(ctx, rec); err != nil {
			return rep, err
		} else if queued {
			continue
		}
		rep.Missing = append(rep.Missing, Drift{Bucket: rec.Bucket, Key: rec.Key})
		if repair {
			if _, err := l.Pending(ctx, rec); err != nil {
				return rep, err
			}
			rep.Repaired++
		}
	}
	return rep, nil
}

func (l *Library) bucketExists(ctx context.Context) (bool, error) {
	buckets, err := l.in.Buckets(ctx)
	if err != nil {
		return false, fmt.Errorf("renditions: check: %w", err)
	}
	for _, b := range buckets {
		if b == l.bucket {
			return true, nil
		}
	}
	return false, nil
}
