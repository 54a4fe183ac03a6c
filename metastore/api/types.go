package api

import (
	"math"
	"time"

	"github.com/photogate/photogate/metastore"
)

// The types below are the JSON wire format of /api/v1. They are exported so
// that clients in this module (the `photogate search` CLI, tests) decode
// exactly what the server encodes instead of keeping a copy in step by hand.

// Item is one indexed object. Optional fields are omitted when unknown;
// times are RFC 3339 in UTC.
type Item struct {
	Bucket          string            `json:"bucket"`
	Key             string            `json:"key"`
	Size            int64             `json:"size"`
	ETag            string            `json:"etag,omitempty"`
	ContentType     string            `json:"content_type,omitempty"`
	LastModified    time.Time         `json:"last_modified,omitzero"`
	TakenAt         time.Time         `json:"taken_at,omitzero"`
	TakenOffset     string            `json:"taken_offset,omitempty"`
	Make            string            `json:"make,omitempty"`
	Model           string            `json:"model,omitempty"`
	Lens            string            `json:"lens,omitempty"`
	ISO             int               `json:"iso,omitempty"`
	FNumber         float64           `json:"f_number,omitempty"`
	ExposureTime    string            `json:"exposure_time,omitempty"`
	FocalLength     float64           `json:"focal_length,omitempty"`
	FocalLength35mm int               `json:"focal_length_35mm,omitempty"`
	Format          string            `json:"format,omitempty"`
	MIME            string            `json:"mime,omitempty"`
	Width           int               `json:"width,omitempty"`
	Height          int               `json:"height,omitempty"`
	DisplayWidth    int               `json:"display_width,omitempty"`
	DisplayHeight   int               `json:"display_height,omitempty"`
	Orientation     int               `json:"orientation,omitempty"`
	Megapixels      float64           `json:"megapixels,omitempty"`
	Aspect          string            `json:"aspect,omitempty"`
	GPS             *GPS              `json:"gps,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	UserMetadata    map[string]string `json:"user_metadata,omitempty"`
	Owner           string            `json:"owner,omitempty"` // user whose upload wrote it, when known
	// Placeholder is the photo's thumbhash (standard base64), for a
	// gallery to paint before the thumbnail arrives; set once rendered.
	Placeholder string     `json:"placeholder,omitempty"`
	Extraction  Extraction `json:"extraction"`
}

// GPS is where a photo was taken, in WGS84 degrees; Alt is metres above sea
// level when the file says.
type GPS struct {
	Lat float64  `json:"lat"`
	Lon float64  `json:"lon"`
	Alt *float64 `json:"alt,omitempty"`
}

// Extraction says how much metadata the extractor found: Status is ok,
// partial, none or failed; Reason says why when it is not ok.
type Extraction struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// SearchResponse is the body of GET /api/v1/search. NextCursor is absent on
// the last page; pass it back as ?cursor= with the same filters for the next.
type SearchResponse struct {
	Items      []Item `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// FacetsResponse is the body of GET /api/v1/facets.
type FacetsResponse struct {
	Field  string       `json:"field"`
	Values []FacetValue `json:"values"`
}

// FacetValue is one distinct value and how many objects have it.
type FacetValue struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// StatsResponse is the body of GET /api/v1/stats.
type StatsResponse struct {
	SchemaVersion  int                 `json:"schema_version"`
	Objects        int64               `json:"objects"`
	Bytes          int64               `json:"bytes"`
	Buckets        []BucketStats       `json:"buckets"`
	Users          []UserStats         `json:"users"`      // what per-user quotas count, by user name
	Extraction     map[string]int64    `json:"extraction"` // objects per extraction status
	PendingIntents int                 `json:"pending_intents"`
	Jobs           map[string]JobStats `json:"jobs"` // by kind
}

// BucketStats counts one S3 bucket.
type BucketStats struct {
	Bucket  string `json:"bucket"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// UserStats counts the objects a user's uploads made. Objects whose
// uploader is unknown (written to the backend directly and found by a
// repair) count towards no user.
type UserStats struct {
	User    string `json:"user"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// JobStats counts one kind of background job.
type JobStats struct {
	Queued int64 `json:"queued"` // waiting or running
	Failed int64 `json:"failed"` // given up, kept until retried
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes a failure. Param names the offending query parameter
// when Code is InvalidParameter. RequestID ties an internal error to the
// server's log line, which holds the details.
type ErrorBody struct {
	Code      string `json:"code"`
	Param     string `json:"param,omitempty"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Error codes.
const (
	CodeInvalidParameter = "InvalidParameter"
	CodeUnauthorized     = "Unauthorized"
	CodeDisabled         = "AdminAPIDisabled"
	CodeNotFound         = "NotFound"
	CodeMethodNotAllowed = "MethodNotAllowed"
	CodeTimeout          = "Timeout"
	CodeInternal         = "InternalError"
	CodeForbidden        = "Forbidden"
	CodeNotImplemented   = "NotImplemented"
	// CodeNotRendered: the object is not a photo photogate makes
	// renditions of.
	CodeNotRendered = "NotRendered"
	// CodeRenditionFailed: the photo cannot be rendered; the message says
	// why.
	CodeRenditionFailed = "RenditionFailed"
	// CodeBackendUnavailable: the storage backend is down or refusing
	// photogate; the request may be retried.
	CodeBackendUnavailable = "BackendUnavailable"
)

// ItemFromRecord converts a record to its wire form.
func ItemFromRecord(r *metastore.Record) Item {
	it := Item{
		Bucket:          r.Bucket,
		Key:             r.Key,
		Placeholder:     r.Placeholder,
		Size:            r.Size,
		ETag:            r.ETag,
		ContentType:     r.ContentType,
		LastModified:    utc(r.LastModified),
		TakenAt:         utc(r.TakenAt),
		TakenOffset:     r.TakenOffset,
		Make:            r.Make,
		Model:           r.Model,
		Lens:            r.Lens,
		ISO:             r.ISO,
		FNumber:         finite(r.FNumber),
		ExposureTime:    r.ExposureTime,
		FocalLength:     finite(r.FocalLength),
		FocalLength35mm: r.FocalLength35,
		Format:          r.Format,
		MIME:            r.MIME,
		Width:           r.Width,
		Height:          r.Height,
		DisplayWidth:    r.DisplayWidth,
		DisplayHeight:   r.DisplayHeight,
		Orientation:     r.Orientation,
		Megapixels:      finite(r.Megapixels),
		Aspect:          r.Aspect,
		Tags:            r.Tags,
		UserMetadata:    r.UserMeta,
		Owner:           r.Owner,
		Extraction:      Extraction{Status: r.Status, Reason: r.Reason},
	}
	// The index stores odd metadata as given (see metastore.validateRecord)
	// and treats an out-of-range position as "no GPS" everywhere; the API
	// agrees, so has_gps=false results never show coordinates.
	if g := r.GPS; g != nil && validLat(g.Lat) && validLon(g.Lon) {
		it.GPS = &GPS{Lat: g.Lat, Lon: g.Lon}
		if g.Alt != nil && !math.IsNaN(*g.Alt) && !math.IsInf(*g.Alt, 0) {
			alt := *g.Alt
			it.GPS.Alt = &alt
		}
	}
	return it
}

// utc normalises t so every time on the wire ends in Z, and keeps the zero
// time zero so omitzero drops it.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// finite drops NaN and ±Inf, which encoding/json refuses to encode: one odd
// EXIF value must not turn a whole page into a 500.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func validLat(v float64) bool { return v >= -90 && v <= 90 }   // false for NaN
func validLon(v float64) bool { return v >= -180 && v <= 180 } // false for NaN
