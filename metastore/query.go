package metastore

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Query selects records. Zero values mean "no constraint". String filters
// other than Bucket, Prefix and Tags are case-insensitive exact matches.
type Query struct {
	Bucket string // "" = every bucket
	Prefix string // key prefix

	// TakenAfter is inclusive and TakenBefore exclusive, so consecutive
	// ranges tile time. Photos without a date taken never match either.
	TakenAfter, TakenBefore time.Time

	Make, Model, Lens, Format string
	ContentType               string // media type of the declared type; parameters ignored

	Tags map[string]string // all must match, case-sensitive (S3 tags are)

	HasGPS *bool
	BBox   *BBox // MinLon > MaxLon crosses the antimeridian
	Near   *Near

	Orientation int    // 1..8
	Aspect      string // compared like Make

	MinWidth, MinHeight int // display size (after orientation) when known
	MinMegapixels       float64
	MinSize, MaxSize    int64 // bytes, inclusive; MaxSize 0 = unset
	ISOMin, ISOMax      int   // inclusive; a photo without ISO never matches

	// Sort is "key" (default), "taken", "size", or any of them prefixed with
	// "-" for descending. Ties are broken by bucket, then key, in the same
	// direction, so the order is total.
	Sort   string
	Limit  int    // default 100, at most 1000 (larger values are clamped, like S3 max-keys)
	Cursor string // Page.NextCursor of the previous page of the same query
}

// BBox is a rectangle in WGS84 degrees.
type BBox struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// Near is a circle on the globe: everything within RadiusKm (great-circle
// distance) of Lat/Lon.
type Near struct{ Lat, Lon, RadiusKm float64 }

// QueryError says which query parameter is wrong, so an HTTP layer can
// answer 400 naming it. Param is the snake_case name of the Query field
// ("taken_after", "bbox", "iso_min", "cursor", ...) or "field" for Facets.
type QueryError struct {
	Param string
	Msg   string
}

func (e *QueryError) Error() string {
	return "metastore: invalid query parameter " + e.Param + ": " + e.Msg
}

func qerr(param, msg string) *QueryError { return &QueryError{Param: param, Msg: msg} }

// Query limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
	maxRadiusKm  = math.Pi * earthRadiusKm // half the circumference covers the globe
)

// tagPair is one required tag, in index form and in full.
type tagPair struct{ k, v string }

// compiled is a validated query with every filter in the form the matcher
// and the planner need.
type compiled struct {
	q     Query
	sort  sortSpec
	limit int

	make, model, aspect string // folded; "" = unset
	valueIdx            []valueIndex
	values              []string // per valueIdx, normalised; "" = unset
	tags                []tagPair
	bbox                *BBox
	near                *Near
	geoBoxes            []box // for the geo index: bbox, else near's bounding box
	// geoOnly: every filter besides bucket and prefix is one geoVerdict
	// decides (bbox, near, has_gps=true), so a geo index entry alone can
	// say that its record matches. cameraOnly, cameraDateOnly: the filters
	// are make and model (and the date range), with values short enough
	// that the camera index holds them whole (see indexPart).
	geoOnly, cameraOnly, cameraDateOnly bool

	cursor *position // nil on the first page
	hash   uint64    // identifies the query in its cursors
}

// compile validates q and prepares it. Every error is a *QueryError.
func compile(q Query) (*compiled, error) {
	c := &compiled{q: q}
	sort, ok := parseSort(q.Sort)
	if !ok {
		return nil, qerr("sort", `must be one of key, taken, size, optionally prefixed with "-"`)
	}
	c.sort = sort
	switch {
	case q.Limit < 0:
		return nil, qerr("limit", "must not be negative")
	case q.Limit == 0:
		c.limit = defaultLimit
	default:
		c.limit = min(q.Limit, maxLimit)
	}
	if q.Bucket != "" {
		if err := validateBucket(q.Bucket); err != nil {
			return nil, qerr("bucket", "not a valid bucket name")
		}
	}
	if !q.TakenAfter.IsZero() && !q.TakenBefore.IsZero() && !q.TakenAfter.Before(q.TakenBefore) {
		return nil, qerr("taken_before", "must be later than taken_after")
	}
	c.make, c.model, c.aspect = fold(q.Make), fold(q.Model), fold(q.Aspect)
	c.valueIdx = valueIndexes()
	for _, ix := range c.valueIdx {
		c.values = append(c.values, ix.norm(ix.query(&q)))
	}
	for k, v := range q.Tags {
		if k == "" {
			return nil, qerr("tags", "tag key must not be empty")
		}
		c.tags = append(c.tags, tagPair{k, v})
	}
	slices.SortFunc(c.tags, func(a, b tagPair) int { return strings.Compare(a.k, b.k) })
	if b := q.BBox; b != nil {
		if !validLat(b.MinLat) || !validLat(b.MaxLat) || !validLon(b.MinLon) || !validLon(b.MaxLon) {
			return nil, qerr("bbox", "latitudes must be within [-90, 90] and longitudes within [-180, 180]")
		}
		if b.MinLat > b.MaxLat {
			return nil, qerr("bbox", "min latitude is above max latitude")
		}
		bb := *b
		c.bbox = &bb
		c.geoBoxes = splitBBox(bb)
	}
	if n := q.Near; n != nil {
		if !validLat(n.Lat) || !validLon(n.Lon) {
			return nil, qerr("near", "latitude must be within [-90, 90] and longitude within [-180, 180]")
		}
		if !(n.RadiusKm > 0) || n.RadiusKm > maxRadiusKm {
			return nil, qerr("near", "radius must be above 0 and at most half the earth's circumference")
		}
		nn := *n
		c.near = &nn
		if c.geoBoxes == nil {
			c.geoBoxes = splitBBox(nearBBox(nn))
		}
	}
	if q.Orientation < 0 || q.Orientation > 8 {
		return nil, qerr("orientation", "must be an EXIF orientation, 1 to 8")
	}
	if q.MinWidth < 0 {
		return nil, qerr("min_width", "must not be negative")
	}
	if q.MinHeight < 0 {
		return nil, qerr("min_height", "must not be negative")
	}
	if q.MinMegapixels < 0 || math.IsNaN(q.MinMegapixels) || math.IsInf(q.MinMegapixels, 0) {
		return nil, qerr("min_megapixels", "must be a non-negative number")
	}
	if q.MinSize < 0 {
		return nil, qerr("min_size", "must not be negative")
	}
	if q.MaxSize < 0 {
		return nil, qerr("max_size", "must not be negative")
	}
	if q.MaxSize > 0 && q.MinSize > q.MaxSize {
		return nil, qerr("max_size", "must not be below min_size")
	}
	if q.ISOMin < 0 {
		return nil, qerr("iso_min", "must not be negative")
	}
	if q.ISOMax < 0 {
		return nil, qerr("iso_max", "must not be negative")
	}
	if q.ISOMax > 0 && q.ISOMin > q.ISOMax {
		return nil, qerr("iso_max", "must not be below iso_min")
	}
	c.geoOnly = (q.BBox != nil || q.Near != nil) && !filtersBeyond(q, func(q *Query) {
		q.BBox, q.Near = nil, nil
		if q.HasGPS != nil && *q.HasGPS {
			q.HasGPS = nil
		}
	})
	if (c.make != "" || c.model != "") && len(c.make) <= maxIndexValue-utf8.UTFMax && len(c.model) <= maxIndexValue-utf8.UTFMax {
		camera := func(q *Query) { q.Make, q.Model = "", "" }
		c.cameraOnly = !filtersBeyond(q, camera)
		c.cameraDateOnly = !filtersBeyond(q, func(q *Query) { camera(q); q.TakenAfter, q.TakenBefore = time.Time{}, time.Time{} })
	}
	c.hash = queryHash(q)
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor, c.sort, c.hash)
		if err != nil {
			return nil, err
		}
		c.cursor = &pos
	}
	return c, nil
}

// filtersBeyond reports whether q filters on more than bucket, prefix and
// what drop removes. It compares what is left with the zero Query, so a
// filter added to Query later counts as one more by default.
func filtersBeyond(q Query, drop func(*Query)) bool {
	drop(&q)
	if len(q.Tags) == 0 {
		q.Tags = nil
	}
	q.Bucket, q.Prefix = "", ""
	q.Sort, q.Limit, q.Cursor = "", 0, ""
	return !reflect.ValueOf(q).IsZero()
}

func validLat(v float64) bool { return v >= -90 && v <= 90 }   // false for NaN
func validLon(v float64) bool { return v >= -180 && v <= 180 } // false for NaN

// match applies every filter to a record. The planner only narrows which
// records reach match; match alone decides, so every plan returns the same
// result.
func (c *compiled) match(r *Record) bool {
	q := &c.q
	if q.Bucket != "" && r.Bucket != q.Bucket {
		return false
	}
	if !strings.HasPrefix(r.Key, q.Prefix) {
		return false
	}
	if !q.TakenAfter.IsZero() || !q.TakenBefore.IsZero() {
		if r.TakenAt.IsZero() ||
			(!q.TakenAfter.IsZero() && r.TakenAt.Before(q.TakenAfter)) ||
			(!q.TakenBefore.IsZero() && !r.TakenAt.Before(q.TakenBefore)) {
			return false
		}
	}
	if (c.make != "" && fold(r.Make) != c.make) ||
		(c.model != "" && fold(r.Model) != c.model) ||
		(c.aspect != "" && fold(r.Aspect) != c.aspect) {
		return false
	}
	for i, ix := range c.valueIdx {
		if c.values[i] != "" && ix.norm(ix.record(r)) != c.values[i] {
			return false
		}
	}
	for _, t := range c.tags {
		if v, ok := r.Tags[t.k]; !ok || v != t.v {
			return false
		}
	}
	hasGPS := r.GPS.valid()
	if q.HasGPS != nil && *q.HasGPS != hasGPS {
		return false
	}
	if c.bbox != nil && (!hasGPS || !inBBox(*c.bbox, r.GPS.Lat, r.GPS.Lon)) {
		return false
	}
	if c.near != nil && (!hasGPS || !(haversineKm(c.near.Lat, c.near.Lon, r.GPS.Lat, r.GPS.Lon) <= c.near.RadiusKm)) {
		return false
	}
	if q.Orientation != 0 && r.Orientation != q.Orientation {
		return false
	}
	if q.MinWidth > 0 && displayWidth(r) < q.MinWidth {
		return false
	}
	if q.MinHeight > 0 && displayHeight(r) < q.MinHeight {
		return false
	}
	if q.MinMegapixels > 0 && !(r.Megapixels >= q.MinMegapixels) {
		return false
	}
	if r.Size < q.MinSize || (q.MaxSize > 0 && r.Size > q.MaxSize) {
		return false
	}
	if q.ISOMin > 0 || q.ISOMax > 0 {
		if r.ISO <= 0 || r.ISO < q.ISOMin || (q.ISOMax > 0 && r.ISO > q.ISOMax) {
			return false
		}
	}
	return true
}

// displayWidth is the width a viewer shows: the oriented size when the
// extractor computed it, else the stored size.
func displayWidth(r *Record) int {
	if r.DisplayWidth > 0 {
		return r.DisplayWidth
	}
	return r.Width
}

func displayHeight(r *Record) int {
	if r.DisplayHeight > 0 {
		return r.DisplayHeight
	}
	return r.Height
}
