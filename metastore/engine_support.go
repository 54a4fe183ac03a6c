package metastore

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// This file exports, for other Index engines, the rules that decide
// results: input validation, the record encoding, how fields are
// normalised for filters and facets, the exact filter, the result order
// and the cursor format. An engine narrows candidates with its own indexes
// and then applies these, so that it returns what Store returns by
// construction rather than by a second implementation that could drift.

// PrepareMutations validates muts and fills in defaults (IndexedAt, a
// job's NotBefore) as Commit does, returning private copies.
func PrepareMutations(now time.Time, muts []Mutation) ([]Mutation, error) {
	out := make([]Mutation, len(muts))
	for i, m := range muts {
		p, err := m.prepare(now)
		if err != nil {
			return nil, fmt.Errorf("mutation %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

// PrepareJob validates j and fills in defaults as Enqueue does.
func PrepareJob(j Job, now time.Time) (Job, error) { return prepareJob(j, now) }

// PrepareJobQuery validates q and applies Jobs' limit defaults; a query
// with only one of Bucket and Key gets neither.
func PrepareJobQuery(q JobQuery) (JobQuery, error) { return prepareJobQuery(q) }

// JobStateAt is the State a stored job reads as at now: a running job
// whose lease has expired is queued.
func JobStateAt(j *Job, now time.Time) JobState { return j.stateAt(now) }

// PrepareIntent validates in and fills in Created as BeginIntent does.
func PrepareIntent(in Intent, now time.Time) (Intent, error) {
	if strings.TrimSpace(in.Op) == "" {
		return in, fmt.Errorf("%w: intent without an operation", ErrInvalid)
	}
	if err := validateBucket(in.Bucket); err != nil {
		return in, fmt.Errorf("intent %s: %w", in.Op, err)
	}
	if len(in.Owner) > maxOwnerLen {
		return in, fmt.Errorf("%w: intent %s: owner name of %d bytes exceeds %d", ErrInvalid, in.Op, len(in.Owner), maxOwnerLen)
	}
	if len(in.Keys) > maxIntentKeys {
		return in, fmt.Errorf("%w: intent %s has %d keys, at most %d", ErrInvalid, in.Op, len(in.Keys), maxIntentKeys)
	}
	if in.Created.IsZero() {
		in.Created = now
	}
	return in, nil
}

// ValidateUsageName rejects what BucketUsage and OwnerUsage reject.
func ValidateUsageName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: usage of an empty name", ErrInvalid)
	}
	return nil
}

// EncodeRecord is the versioned binary form Store keeps a record in; an
// engine that stores it returns records exactly as Store does (times in
// UTC, empty maps as nil).
func EncodeRecord(r *Record) []byte { return encodeRecord(r) }

// DecodeRecord undoes EncodeRecord. Bucket and key are not part of the
// encoding.
func DecodeRecord(bucket, key string, v []byte) (Record, error) {
	return decodeRecord(bucket, key, v)
}

// SearchFields are a record's values in the form the filters compare:
// what an engine stores in indexed columns so that its own predicates
// select a superset of what Query.Match accepts.
type SearchFields struct {
	Make, Model, Lens, Format, ContentType, Aspect string // normalised; "" = none
	TakenKey                                       []byte // sorts like TakenAt; undated sorts first
	HasGPS                                         bool   // a valid position; Lat/Lon only then
	Lat, Lon                                       float64
	DisplayWidth, DisplayHeight                    int
}

// SearchFieldsOf derives r's SearchFields.
func SearchFieldsOf(r *Record) SearchFields {
	f := SearchFields{
		Make: fold(r.Make), Model: fold(r.Model), Aspect: fold(r.Aspect),
		TakenKey:     appendTaken(nil, r.TakenAt),
		DisplayWidth: displayWidth(r), DisplayHeight: displayHeight(r),
	}
	for _, ix := range valueIndexes() {
		v := ix.norm(ix.record(r))
		switch ix.param {
		case "lens":
			f.Lens = v
		case "format":
			f.Format = v
		case "content_type":
			f.ContentType = v
		}
	}
	if r.GPS.valid() {
		f.HasGPS, f.Lat, f.Lon = true, r.GPS.Lat, r.GPS.Lon
	}
	return f
}

// FacetValue is one facet a record counts towards: Field is make, model,
// lens, format or year; Folded groups values; Display is what users see.
type FacetValue struct{ Field, Folded, Display string }

// FacetValuesOf lists the facets r counts towards.
func FacetValuesOf(r *Record) []FacetValue {
	fvs := facetValues(r)
	out := make([]FacetValue, len(fvs))
	for i, f := range fvs {
		out[i] = FacetValue{Field: facetFieldName(f.field), Folded: f.folded, Display: f.display}
	}
	return out
}

func facetFieldName(code byte) string {
	for _, name := range []string{"make", "model", "lens", "format", "year"} {
		if c, _ := facetField(name); c == code {
			return name
		}
	}
	return ""
}

// ValidateFacetField fails with the *QueryError Facets returns for an
// unknown field.
func ValidateFacetField(field string) error {
	if _, ok := facetField(field); !ok {
		return qerr("field", "must be one of make, model, lens, format, year")
	}
	return nil
}

// CompiledQuery is a validated Query with its normalised filter values,
// result order and cursor position.
type CompiledQuery struct{ c *compiled }

// CompileQuery validates q as Search does; every error is a *QueryError.
func CompileQuery(q Query) (*CompiledQuery, error) {
	c, err := compile(q)
	if err != nil {
		return nil, err
	}
	return &CompiledQuery{c}, nil
}

// Query is the query as given.
func (cq *CompiledQuery) Query() Query { return cq.c.q }

// Limit is the page size after defaults and clamping.
func (cq *CompiledQuery) Limit() int { return cq.c.limit }

// SortField is "key", "taken" or "size". Every order is total: (sort key,
// bucket, key) with bucket and key compared as bytes, ascending or, when
// Descending, entirely reversed.
func (cq *CompiledQuery) SortField() string { return cq.c.sort.field }

// Descending reports a reversed order.
func (cq *CompiledQuery) Descending() bool { return cq.c.sort.desc }

// SortKey is r's sort key: TakenKey for taken, the big-endian size for
// size, empty for key.
func (cq *CompiledQuery) SortKey(r *Record) []byte { return cq.c.sort.sortKey(r) }

// After is the position the page starts strictly after, from the cursor;
// ok is false on the first page.
func (cq *CompiledQuery) After() (sortKey []byte, bucket, key string, ok bool) {
	if cq.c.cursor == nil {
		return nil, "", "", false
	}
	p := cq.c.cursor
	return p.sk, p.bucket, p.key, true
}

// CursorAfter is the NextCursor of a page whose last item is r.
func (cq *CompiledQuery) CursorAfter(r *Record) string {
	return encodeCursor(cq.c.sort, cq.c.hash, position{sk: cq.c.sort.sortKey(r), bucket: r.Bucket, key: r.Key})
}

// Match is the exact filter: only it decides whether r is a result.
func (cq *CompiledQuery) Match(r *Record) bool { return cq.c.match(r) }

// Fields are the normalised filter values of the query, comparable with
// SearchFieldsOf; only the string fields are set.
func (cq *CompiledQuery) Fields() SearchFields {
	q := cq.c.q
	return SearchFieldsOf(&Record{
		Make: q.Make, Model: q.Model, Aspect: q.Aspect,
		Lens: q.Lens, Format: q.Format, ContentType: q.ContentType,
	})
}

// TakenRange is the TakenKey range [lo, hi) of the date filter (hi nil:
// unbounded), and ok false when there is no date filter. Undated photos
// are below lo.
func (cq *CompiledQuery) TakenRange() (lo, hi []byte, ok bool) {
	if cq.c.q.TakenAfter.IsZero() && cq.c.q.TakenBefore.IsZero() {
		return nil, nil, false
	}
	lo, hi = cq.c.takenRange()
	return lo, hi, true
}

// GeoBoxes are boxes that do not cross the antimeridian and whose union
// contains every position the bbox and near filters can accept; nil when
// the query has neither.
func (cq *CompiledQuery) GeoBoxes() []BBox {
	out := make([]BBox, 0, len(cq.c.geoBoxes))
	for _, b := range cq.c.geoBoxes {
		out = append(out, BBox{MinLon: b.minLon, MinLat: b.minLat, MaxLon: b.maxLon, MaxLat: b.maxLat})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SizeSortKey decodes the sort key of the size order.
func SizeSortKey(sk []byte) (int64, bool) {
	if len(sk) != sizeLen {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(sk)), true
}

// EarthRadiusKm is the radius the near filter's great-circle distance
// uses, for engines that pre-filter by distance themselves.
const EarthRadiusKm = earthRadiusKm

// TakenKeyOf is the sortable taken form of t (Record's TakenKey).
func TakenKeyOf(t time.Time) []byte { return appendTaken(nil, t) }

// MonthStart is the first instant of month (0 = January) of year in UTC;
// month 12 is the next year's January.
func MonthStart(year, month int) time.Time {
	return time.Date(year, time.Month(month+1), 1, 0, 0, 0, 0, time.UTC)
}
