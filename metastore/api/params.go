package api

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/metastore"
)

// paramError is a bad request parameter; it becomes a 400 naming Param.
type paramError struct {
	Param, Msg string
}

func (e *paramError) Error() string { return "invalid parameter " + e.Param + ": " + e.Msg }

// maxLimit is the largest page the API hands out (the index's own limit).
const maxLimit = 1000

// setter applies one parameter value to a query; it returns a message for
// the caller to wrap with the parameter's name.
type setter func(q *metastore.Query, v string) error

// searchParams lists every parameter of GET /api/v1/search with its parser.
// Range checks that the index already makes (bbox corners, orientation,
// min <= max, sort names, cursors) are left to it, so the two cannot drift;
// this layer turns strings into typed values and rejects what the Query
// type cannot express faithfully.
func searchParams() map[string]setter {
	str := func(dst func(*metastore.Query) *string) setter {
		return func(q *metastore.Query, v string) error { *dst(q) = v; return nil }
	}
	return map[string]setter{
		"bucket":       str(func(q *metastore.Query) *string { return &q.Bucket }),
		"prefix":       str(func(q *metastore.Query) *string { return &q.Prefix }),
		"make":         str(func(q *metastore.Query) *string { return &q.Make }),
		"model":        str(func(q *metastore.Query) *string { return &q.Model }),
		"lens":         str(func(q *metastore.Query) *string { return &q.Lens }),
		"format":       str(func(q *metastore.Query) *string { return &q.Format }),
		"content_type": str(func(q *metastore.Query) *string { return &q.ContentType }),
		"aspect":       str(func(q *metastore.Query) *string { return &q.Aspect }),
		"sort":         str(func(q *metastore.Query) *string { return &q.Sort }),
		"cursor":       str(func(q *metastore.Query) *string { return &q.Cursor }),
		"taken_after": func(q *metastore.Query, v string) (err error) {
			q.TakenAfter, err = parseTime(v)
			return err
		},
		"taken_before": func(q *metastore.Query, v string) (err error) {
			q.TakenBefore, err = parseTime(v)
			return err
		},
		"tag": func(q *metastore.Query, v string) error {
			k, val, ok := strings.Cut(v, "=")
			switch {
			case !ok:
				return fmt.Errorf("%q is not key=value", v)
			case k == "":
				return fmt.Errorf("%q has an empty key", v)
			}
			if old, dup := q.Tags[k]; dup && old != val {
				// Every tag filter must hold, so two values for one key
				// can never match; saying so beats an empty result.
				return fmt.Errorf("key %q is given twice with different values", k)
			}
			if q.Tags == nil {
				q.Tags = map[string]string{}
			}
			q.Tags[k] = val
			return nil
		},
		"has_gps": func(q *metastore.Query, v string) error {
			var b bool
			switch v {
			case "true":
				b = true
			case "false":
			default:
				return fmt.Errorf("%q is not true or false", v)
			}
			q.HasGPS = &b
			return nil
		},
		"bbox": func(q *metastore.Query, v string) error {
			f, err := parseFloats(v, 4, "minLon,minLat,maxLon,maxLat")
			if err != nil {
				return err
			}
			q.BBox = &metastore.BBox{MinLon: f[0], MinLat: f[1], MaxLon: f[2], MaxLat: f[3]}
			return nil
		},
		"near": func(q *metastore.Query, v string) error {
			f, err := parseFloats(v, 3, "lat,lon,radius_km")
			if err != nil {
				return err
			}
			q.Near = &metastore.Near{Lat: f[0], Lon: f[1], RadiusKm: f[2]}
			return nil
		},
		"orientation": func(q *metastore.Query, v string) error {
			// 0 would mean "any" to the index: refuse it rather than
			// widen the search.
			n, err := between(v, 1, 8)
			q.Orientation = int(n)
			return err
		},
		"min_width": func(q *metastore.Query, v string) (err error) {
			q.MinWidth, err = atLeastInt(v, 0)
			return err
		},
		"min_height": func(q *metastore.Query, v string) (err error) {
			q.MinHeight, err = atLeastInt(v, 0)
			return err
		},
		"min_megapixels": func(q *metastore.Query, v string) error {
			f, err := parseFloats(v, 1, "a number")
			if err != nil {
				return err
			}
			if f[0] < 0 {
				return fmt.Errorf("must not be negative")
			}
			q.MinMegapixels = f[0]
			return nil
		},
		"min_size": func(q *metastore.Query, v string) (err error) {
			q.MinSize, err = atLeast(v, 0)
			return err
		},
		"max_size": func(q *metastore.Query, v string) (err error) {
			// The index reads MaxSize 0 as "no limit", so max_size=0
			// (only empty objects) cannot be expressed; refuse it instead
			// of returning everything.
			q.MaxSize, err = atLeast(v, 1)
			return err
		},
		"iso_min": func(q *metastore.Query, v string) (err error) {
			q.ISOMin, err = atLeastInt(v, 0)
			return err
		},
		"iso_max": func(q *metastore.Query, v string) (err error) {
			q.ISOMax, err = atLeastInt(v, 1) // 0 would mean "no limit"
			return err
		},
		"limit": func(q *metastore.Query, v string) error {
			n, err := between(v, 1, maxLimit)
			q.Limit = int(n)
			return err
		},
	}
}

// SearchParams returns the names of the parameters GET /api/v1/search
// accepts, sorted. Clients use it to check they cover the whole API.
func SearchParams() []string {
	return sortedKeys(searchParams())
}

// ParseSearch turns the query string of GET /api/v1/search into a
// metastore query. Every error is a *paramError, whose message names the
// parameter.
func ParseSearch(values url.Values) (metastore.Query, error) {
	var q metastore.Query
	params := searchParams()
	if err := checkParams(values, params, "tag"); err != nil {
		return q, err
	}
	// Sorted, so that a request with several bad parameters always gets
	// the same answer.
	for _, name := range sortedKeys(values) {
		set := params[name]
		for _, v := range values[name] {
			if err := set(&q, v); err != nil {
				return q, &paramError{Param: name, Msg: err.Error()}
			}
		}
	}
	return q, nil
}

// checkParams rejects unknown parameters, repeated ones (except those named
// in multi) and empty values. A misspelt or empty filter must fail loudly:
// silently dropping it would widen the search, and for bucket= it would
// search every bucket.
func checkParams[T any](values url.Values, known map[string]T, multi ...string) error {
	for _, name := range sortedKeys(values) {
		if _, ok := known[name]; !ok {
			msg := "unknown parameter"
			if len(known) > 0 {
				msg += "; known: " + strings.Join(sortedKeys(known), ", ")
			}
			return &paramError{Param: name, Msg: msg}
		}
		vs := values[name]
		if len(vs) > 1 && !slices.Contains(multi, name) {
			return &paramError{Param: name, Msg: "given more than once"}
		}
		for _, v := range vs {
			if v == "" {
				return &paramError{Param: name, Msg: "must not be empty (leave the parameter out instead)"}
			}
		}
	}
	return nil
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseTime accepts RFC 3339 (fractional seconds allowed) or a bare date,
// which means midnight UTC; with taken_before exclusive,
// taken_after=2024-05-01&taken_before=2024-05-02 is exactly one UTC day.
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	// An unencoded "+02:00" in a query string arrives as " 02:00" (form
	// encoding turns + into a space). Undo that one well-known slip
	// rather than make every shell user learn %2B.
	if n := len(v); n > 6 && v[n-6] == ' ' {
		if t, err := time.Parse(time.RFC3339, v[:n-6]+"+"+v[n-5:]); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2024-05-01T14:30:00Z) or a date (2024-05-01)", v)
}

// between parses a base-10 integer within [lo, hi].
func between(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

// atLeast parses a base-10 integer of at least lo.
func atLeast(v string, lo int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo {
		return 0, fmt.Errorf("%q is not an integer of at least %d", v, lo)
	}
	return n, nil
}

// atLeastInt is atLeast for int fields, capped at MaxInt32 so the value
// fits an int everywhere and no photo dimension or ISO is excluded.
func atLeastInt(v string, lo int64) (int, error) {
	n, err := atLeast(v, lo)
	if err == nil && n > math.MaxInt32 {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return int(n), err
}

// parseFloats parses exactly n comma-separated finite numbers; shape names
// them for the error message.
func parseFloats(v string, n int, shape string) ([]float64, error) {
	parts := strings.Split(v, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%q is not %s", v, shape)
	}
	out := make([]float64, n)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		// ParseFloat accepts "NaN" and "Inf"; neither is a coordinate
		// or a threshold.
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not %s: %q is not a finite number", v, shape, p)
		}
		out[i] = f
	}
	return out, nil
}
