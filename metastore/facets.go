package metastore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Facet is one distinct value of a field and how many records have it.
type Facet struct {
	Value string
	Count int64
}

// facetField maps the public field names to their key byte.
func facetField(field string) (byte, bool) {
	switch field {
	case "make":
		return facetMake, true
	case "model":
		return facetModel, true
	case "lens":
		return facetLens, true
	case "format":
		return facetFormat, true
	case "year":
		return facetYear, true
	}
	return 0, false
}

// Facets lists the distinct values of field (make, model, lens, format or
// year) in bucket ("" = all buckets) with their record counts, by count
// descending, then value. Values are grouped case-insensitively, as the
// search filters match them, and shown as first written. Records without
// the field are not counted. It reads maintained counters: O(distinct
// values), not O(records).
func (s *Store) Facets(ctx context.Context, field, bucket string) ([]Facet, error) {
	code, ok := facetField(field)
	if !ok {
		return nil, qerr("field", "must be one of make, model, lens, format, year")
	}
	type agg struct {
		display string
		count   int64
	}
	byValue := map[string]*agg{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte{code}
		if bucket != "" {
			prefix = append(append(prefix, bucket...), 0)
		}
		c := tx.Bucket([]byte(bkFacets)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			i := bytes.IndexByte(k[1:], 0)
			if i < 0 {
				return fmt.Errorf("%w: facet key %q", ErrCorrupt, k)
			}
			folded := string(k[1+i+1:])
			n, display := decodeFacet(v)
			a := byValue[folded]
			if a == nil {
				// Buckets are visited in name order, so the display form
				// comes from the first bucket that has the value.
				a = &agg{display: display}
				byValue[folded] = a
			}
			a.count += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metastore: facets %s: %w", field, err)
	}
	type row struct {
		folded string
		Facet
	}
	rows := make([]row, 0, len(byValue))
	for f, a := range byValue {
		rows = append(rows, row{f, Facet{Value: a.display, Count: a.count}})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.folded, b.folded)
	})
	out := make([]Facet, len(rows))
	for i, r := range rows {
		out[i] = r.Facet
	}
	return out, nil
}

// TakenMonths counts bucket's photos taken in each month of year (UTC), by
// seeking the date index: keys only, no record is read.
func (s *Store) TakenMonths(ctx context.Context, bucket string, year int) ([12]int64, error) {
	var out [12]int64
	bp := bucketPrefix(bucket)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bkIdxTaken)).Cursor()
		for m := range 12 {
			lo := appendTaken(slices.Clone(bp), MonthStart(year, m))
			hi := appendTaken(slices.Clone(bp), MonthStart(year, m+1))
			for k, _ := c.Seek(lo); k != nil && bytes.Compare(k, hi) < 0; k, _ = c.Next() {
				if out[m]++; out[m]%4096 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("metastore: taken months of %s in %d: %w", bucket, year, err)
	}
	return out, nil
}
