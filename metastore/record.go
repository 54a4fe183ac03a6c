package metastore

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error about a caller's input that is not a
// query parameter (those are *QueryError).
var ErrInvalid = errors.New("metastore: invalid argument")

// ErrCorrupt is wrapped when stored bytes cannot be decoded. The index can be
// rebuilt from the backend, so the cure is a reindex, not a repair by hand.
var ErrCorrupt = errors.New("metastore: corrupt entry")

// ErrRaced is returned by Commit when a Mutation marked Exclusive finds
// its record written by another commit since its intent began: a request
// on the same key through another replica overlapped this one, so which of
// the two the backend applied last cannot be told from the answers.
// Nothing was applied; read the key back from the backend instead.
var ErrRaced = errors.New("metastore: the key was written by another request since this one began")

// GPS is where a photo was taken, in WGS84 degrees; Alt is metres above sea
// level when the file says.
type GPS struct {
	Lat, Lon float64
	Alt      *float64
}

// valid reports whether the position can be indexed and searched. A record
// with an invalid position is stored as given but counts as having no GPS
// everywhere (filters, the geo index, HasGPS), so every search plan agrees.
func (g *GPS) valid() bool {
	return g != nil &&
		!math.IsNaN(g.Lat) && !math.IsNaN(g.Lon) &&
		g.Lat >= -90 && g.Lat <= 90 && g.Lon >= -180 && g.Lon <= 180
}

// Record is what the index knows about one object: what the backend said
// about it, and what the extractor found in its first bytes.
type Record struct {
	Bucket, Key  string
	VersionID    string
	Size         int64
	ETag         string
	ContentType  string // as declared by the uploader
	LastModified time.Time
	UserMeta     map[string]string // x-amz-meta-*, without the prefix
	Tags         map[string]string

	// Owner is the name of the user whose write made this version, which
	// per-user quotas count. "" means unknown (found by a repair, or
	// indexed before owners were recorded); a Put with an empty Owner
	// keeps the owner of the record it replaces, so re-reading an object
	// (tags, background extraction, repair) never moves it between users.
	Owner string

	// Photo fields, filled by the extractor.
	Format                      string // jpeg, png, webp, heic, ...
	MIME                        string // sniffed, as opposed to ContentType
	Width, Height               int    // stored pixel size
	DisplayWidth, DisplayHeight int    // after applying Orientation
	Orientation                 int    // EXIF 1..8, 0 unknown
	Megapixels                  float64
	Aspect                      string
	TakenAt                     time.Time // zero: no date taken
	TakenOffset                 string    // "+02:00" when the file says
	Make, Model, Lens           string
	ISO                         int
	FNumber                     float64
	ExposureTime                string
	FocalLength                 float64
	FocalLength35               int
	GPS                         *GPS

	// Placeholder is the photo's thumbhash, standard base64, set by the
	// rendition worker (OpSetPlaceholder); "" until then. A Put with an
	// empty Placeholder that replaces a record with the same ETag keeps
	// the old one (same bytes, same placeholder), as Owner is kept.
	Placeholder string

	Status string // extraction status: ok, partial, none, failed
	Reason string // why, when not ok

	IndexedAt time.Time
}

// Limits that keep every index key far below bbolt's 32 KiB key limit. S3's
// own limits are lower (63-byte bucket names, 1024-byte keys), so the
// gateway rejects offenders long before they get here.
const (
	maxBucketLen   = 255
	maxKeyLen      = 4096
	maxOwnerLen    = 255 // a counter key; user names are operator-chosen and short
	maxIndexValue  = 256 // longer field values are indexed by a prefix; filters compare in full
	maxPlaceholder = 200 // a thumbhash is about 25 bytes, 36 in base64
)

// validateRecord checks what the index cannot work without. It deliberately
// accepts odd photo metadata (a commit that fails after the backend accepted
// the upload would leave the index behind the backend); odd values are
// stored and simply match nothing they should not.
func validateRecord(r *Record) error {
	if err := validateBucket(r.Bucket); err != nil {
		return err
	}
	if r.Key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(r.Key) > maxKeyLen {
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrInvalid, len(r.Key), maxKeyLen)
	}
	if r.Size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrInvalid, r.Size)
	}
	if len(r.Owner) > maxOwnerLen {
		return fmt.Errorf("%w: owner name of %d bytes exceeds %d", ErrInvalid, len(r.Owner), maxOwnerLen)
	}
	return validatePlaceholder(r.Placeholder)
}

func validatePlaceholder(p string) error {
	if len(p) > maxPlaceholder {
		return fmt.Errorf("%w: placeholder of %d bytes exceeds %d", ErrInvalid, len(p), maxPlaceholder)
	}
	return nil
}

func validateBucket(b string) error {
	switch {
	case b == "":
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	case len(b) > maxBucketLen:
		return fmt.Errorf("%w: bucket name of %d bytes exceeds %d", ErrInvalid, len(b), maxBucketLen)
	case strings.IndexByte(b, 0) >= 0:
		return fmt.Errorf("%w: bucket name contains NUL", ErrInvalid)
	}
	return nil
}

// clone returns a deep copy, so a record handed to Commit can be changed by
// the caller afterwards without racing the batch that applies it.
func (r Record) clone() Record {
	r.UserMeta = maps.Clone(r.UserMeta)
	r.Tags = maps.Clone(r.Tags)
	if r.GPS != nil {
		g := *r.GPS
		if g.Alt != nil {
			a := *g.Alt
			g.Alt = &a
		}
		r.GPS = &g
	}
	return r
}

// fold is the case-insensitive form of a field used by both the filters and
// the index keys: NULs removed (0x00 separates index key parts), surrounding
// space trimmed (EXIF strings are often padded), lower-cased. Using the same
// function on both sides is what makes "case-insensitive exact" plan-
// independent.
func fold(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// indexPart turns an already folded (or case-sensitive, for tags) value into
// the bytes stored inside an index key: NUL-free and at most maxIndexValue
// bytes, cut at a rune boundary.
func indexPart(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) <= maxIndexValue {
		return s
	}
	cut := maxIndexValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// mediaType is the folded declared content type without parameters:
// "image/JPEG; q=1" -> "image/jpeg". Searching by content type means the
// media type; nobody searches for a charset.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return fold(ct)
}

// takenYear is the calendar year the photographer saw: TakenAt shifted by
// TakenOffset when that parses, else the UTC year.
func takenYear(r *Record) int {
	t := r.TakenAt.UTC()
	if off, ok := parseOffset(r.TakenOffset); ok {
		t = t.Add(off)
	}
	return t.Year()
}

// parseOffset parses EXIF OffsetTime values: "+hh:mm" or "-hh:mm".
func parseOffset(s string) (time.Duration, bool) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := digit(s[1])
	h2, ok2 := digit(s[2])
	m1, ok3 := digit(s[4])
	m2, ok4 := digit(s[5])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, false
	}
	d := time.Duration(h1*10+h2)*time.Hour + time.Duration(m1*10+m2)*time.Minute
	if d > 14*time.Hour {
		return 0, false
	}
	if s[0] == '-' {
		d = -d
	}
	return d, true
}
