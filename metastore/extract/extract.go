// Package extract reads photo metadata (format, dimensions, orientation,
// capture time, camera, exposure, GPS) from untrusted object bytes.
//
// The gateway tees the first PrefixSize bytes of every upload into
// FromPrefix while the body streams on to the backend, so this runs on every
// PUT and must be cheap, bounded and impossible to crash. When the prefix does
// not hold the metadata (a WebP whose EXIF chunk follows the bitstream, a HEIF
// whose Exif item sits at the end of the file, a TIFF whose IFDs follow the
// strips) the result says NeedsFullRead and a background job calls
// FromReaderAt on the stored object, which issues a few bounded ranged reads.
//
// Container structure (JPEG segments, PNG chunks, RIFF chunks, ISOBMFF boxes,
// TIFF IFD0) is walked here, minimally and with explicit bounds, because that
// walk is what knows where the metadata is and whether it lies beyond the
// bytes we have: a generic parser handed a truncated prefix reports "no tags,
// no error", which is indistinguishable from "no metadata". The EXIF TIFF
// structure itself is parsed by github.com/bep/imagemeta (fuzzed, with tag
// count and tag size limits), given only the byte range of the EXIF payload.
//
// Nothing is ever decoded into pixels: dimensions come from headers and are
// reported as they are, however implausible.
package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// PrefixSize is how many leading bytes of an upload the gateway hands to
// FromPrefix. 256 KiB covers JPEG APP1 (at most 64 KiB), PNG and WebP headers
// and the meta box of HEIF/AVIF files as written by cameras and phones.
const PrefixSize = 256 << 10

// Status says how far extraction got.
type Status string

// Extraction outcomes.
const (
	// StatusOK: the metadata was found and read completely.
	StatusOK Status = "ok"
	// StatusPartial: something was read but not all of it (truncated object,
	// metadata beyond the prefix, a limit hit, implausible header values).
	StatusPartial Status = "partial"
	// StatusNone: an image without metadata, or not an image at all.
	StatusNone Status = "none"
	// StatusFailed: a parser errored, panicked or ran out of time (see Reason).
	StatusFailed Status = "failed"
)

// GPS is a position in decimal degrees (WGS84 as EXIF defines it) with an
// optional altitude in metres above sea level.
type GPS struct {
	Lat, Lon float64
	Alt      *float64 `json:",omitempty"`
}

// Photo is what the index stores about an object's image content.
type Photo struct {
	// Format is "jpeg", "png", "webp", "heic", "heif", "avif", "tiff", "dng",
	// "gif", or "" when the bytes are not a supported image. It comes from
	// the magic bytes (and, for DNG, the DNGVersion tag of IFD0), never from
	// the key's extension or the client's Content-Type.
	Format string
	// MIME is the media type mediatype.Sniff names (the one policy's
	// allowed_types are checked against), without parameters.
	MIME string
	// Width and Height are the stored pixel dimensions from the container or
	// codec header (EXIF PixelX/YDimension only as a fallback).
	Width, Height int
	// DisplayWidth and DisplayHeight are Width and Height after applying
	// Orientation (5-8 swap them).
	DisplayWidth, DisplayHeight int
	// Orientation is the EXIF orientation 1..8; 0 if unknown or invalid.
	// For HEIF/AVIF it is the transform of the primary item's irot/imir
	// properties, which HEIF readers apply instead of the EXIF tag.
	Orientation int
	// Megapixels is Width*Height/1e6 rounded to 0.1.
	Megapixels float64
	// Aspect is "portrait", "landscape", "square" or "panorama" (long side at
	// least 1.9 times the short side), by display dimensions; "" if unknown.
	Aspect string
	// TakenAt is the capture time in UTC; zero if unknown. It comes from
	// DateTimeOriginal, else CreateDate (DateTimeDigitized), else DateTime.
	TakenAt time.Time
	// TakenOffset is the capture time's UTC offset ("+02:00") when EXIF
	// records one; TakenAt was converted from local time with it. Without
	// an offset the EXIF local time is taken as UTC and TakenOffset is "".
	TakenOffset string
	// Make, Model and Lens are trimmed, with NULs and control characters
	// removed. Lens is LensModel, else LensInfo formatted ("4.28mm f/2.4").
	Make, Model, Lens string
	ISO               int
	FNumber           float64
	// ExposureTime is formatted like exiftool: "1/250" or "2.5" (seconds).
	ExposureTime string
	// FocalLength is in mm; FocalLength35 is FocalLengthIn35mmFilm.
	FocalLength   float64
	FocalLength35 int
	// GPS is nil when the position is missing, invalid or (0,0).
	GPS *GPS
	// Status and Reason say how complete this record is and why.
	Status Status
	Reason string
	// NeedsFullRead is set when the prefix did not hold the metadata but the
	// rest of the object may: the caller schedules FromReaderAt.
	NeedsFullRead bool
}

// Bounds. Each one caps work or memory spent on a single object; none is
// reached by any well-formed photo we know of.
const (
	// prefixTimeout bounds FromPrefix, which runs inline on every upload.
	// Parsing a prefix takes microseconds; the deadline only matters for
	// inputs that hit a pathological path in a dependency.
	prefixTimeout = 2 * time.Second
	// readerAtTimeout bounds FromReaderAt, which also waits for ranged GETs.
	readerAtTimeout = 10 * time.Second
	// maxTags caps the EXIF entries visited across all IFDs. Phones write
	// about 100 (plus MakerNote, which we never descend into).
	maxTags = 2000
	// maxTagSize caps the byte size of a single EXIF value that is read.
	// Every value we use is a few dozen bytes; larger ones (MakerNote,
	// thumbnails, ICC) are skipped without being read.
	maxTagSize = 4096
	// maxMetaBox caps the HEIF/AVIF meta box we load into memory.
	maxMetaBox = 4 << 20
	// maxReadCalls and maxReadBytes bound the ranged reads FromReaderAt may
	// issue beyond the initial head read.
	maxReadCalls = 64
	maxReadBytes = 16 << 20
	// maxReason bounds Reason, which ends up in the index and in logs.
	maxReason = 240
)

// FromPrefix extracts metadata from the first bytes of an object. total is
// the object's full size, or -1 if unknown. prefix is not retained or
// modified.
func FromPrefix(ctx context.Context, prefix []byte, total int64) Photo {
	if total < -1 {
		total = -1
	}
	if total >= 0 && int64(len(prefix)) > total {
		// The caller says the object is shorter than the bytes it handed
		// us; the object is what gets stored, so only its bytes count.
		prefix = prefix[:total]
	}
	s := &source{head: prefix, size: total}
	return run(ctx, s, prefixTimeout)
}

// FromReaderAt extracts metadata from a whole object of the given size. It
// reads the head of the object once and then only the byte ranges the
// container points at, within maxReadCalls ranged reads and maxReadBytes.
// r should honour the same cancellation as ctx (e.g. a ranged GET issued
// with ctx): FromReaderAt checks ctx between reads but cannot interrupt one.
func FromReaderAt(ctx context.Context, r io.ReaderAt, size int64) Photo {
	if r == nil || size < 0 {
		return Photo{Status: StatusFailed, Reason: "extract: no reader or negative size"}
	}
	s := &source{ra: r, size: size}
	return run(ctx, s, readerAtTimeout)
}

// run drives one extraction under a deadline and turns any panic, in our
// code or a dependency's, into StatusFailed: a hostile upload must never take
// the gateway down.
func run(ctx context.Context, s *source, timeout time.Duration) (p Photo) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.ctx = ctx

	x := &extraction{s: s}
	defer func() {
		if r := recover(); r != nil {
			x.fail(fmt.Errorf("panic: %v", r))
		}
		p = x.finish()
	}()
	x.extract()
	return p // replaced by the deferred finish
}

// extraction holds the state of one call.
type extraction struct {
	s *source
	p Photo

	// Where the EXIF TIFF structure is, as found by the container walk.
	hasExif          bool
	exifOff, exifLen int64

	exifRead  bool // imagemeta walked the TIFF structure without error
	exifOOB   bool // EXIF pointed outside its own payload (corrupt offsets)
	limitHit  bool // maxTags reached
	workHit   bool // maxReaderOps reached
	corrupt   bool // the container structure is broken somewhere
	heifOrien int  // orientation implied by HEIF irot/imir on the primary item

	err   error    // fatal: parser error, panic, timeout
	notes []string // why the result is partial
}

func (x *extraction) fail(err error) {
	if x.err == nil {
		x.err = err
	}
}

func (x *extraction) note(msg string) {
	if len(x.notes) < 8 { // Reason is clipped anyway
		x.notes = append(x.notes, msg)
	}
}

func (x *extraction) extract() {
	s := x.s
	if s.ra != nil {
		if !s.loadHead() {
			return
		}
	}
	x.p.Format, x.p.MIME = sniff(s.head)
	if x.p.Format == "" {
		if len(s.head) < sniffLen && s.mayHaveMore() {
			// Too few bytes to recognise anything: the rest may be a photo.
			s.needMore = true
		}
		return
	}
	switch x.p.Format {
	case "jpeg":
		x.jpeg()
	case "png":
		x.png()
	case "webp":
		x.webp()
	case "gif":
		x.gif()
	case "heic", "heif", "avif":
		x.bmff()
	case "tiff", "dng":
		x.tiff()
	}
	if x.err != nil || s.err != nil {
		return
	}
	if x.hasExif {
		x.decodeExif()
	}
}

// finish derives the computed fields and decides Status and Reason.
func (x *extraction) finish() Photo {
	p := x.p
	s := x.s
	if x.err == nil && s.err != nil {
		x.err = s.err
	}

	if x.heifOrien != 0 {
		// HEIF readers apply the primary item's irot/imir and ignore the
		// EXIF orientation, so the container is what the viewer shows.
		// (Apple writes both, and they agree.)
		p.Orientation = x.heifOrien
	}
	if p.Width <= 0 || p.Height <= 0 {
		p.Width, p.Height = 0, 0
	}
	p.DisplayWidth, p.DisplayHeight = p.Width, p.Height
	if p.Orientation >= 5 && p.Orientation <= 8 {
		p.DisplayWidth, p.DisplayHeight = p.Height, p.Width
	}
	if p.Width > 0 {
		p.Megapixels = math.Round(float64(p.Width)*float64(p.Height)/1e5) / 10
		p.Aspect = aspect(p.DisplayWidth, p.DisplayHeight)
	}

	incomplete := s.needMore || s.truncated || x.exifOOB || x.limitHit || x.workHit || x.corrupt
	switch {
	case x.err != nil:
		p.Status = StatusFailed
		p.Reason = describeErr(x.err)
	case p.Format == "" && !s.needMore:
		p.Status = StatusNone
		p.Reason = "not a supported image (" + p.MIME + ")"
	case x.exifRead && !incomplete:
		p.Status = StatusOK
	case x.exifRead || incomplete:
		p.Status = StatusPartial
	default:
		p.Status = StatusNone
		p.Reason = "no EXIF metadata"
	}

	if p.Status != StatusFailed {
		if s.needMore {
			x.note(fmt.Sprintf("metadata lies beyond the first %d bytes", len(s.head)))
		}
		if s.truncated {
			x.note("object is truncated: the container points past its end")
		}
		if x.exifOOB {
			x.note("EXIF offsets point outside the EXIF payload")
		}
		if x.limitHit {
			x.note(fmt.Sprintf("EXIF tag limit (%d) reached", maxTags))
		}
		if x.workHit {
			x.note("EXIF work budget exhausted (IFD loops or fan-out)")
		}
		if p.Format != "" && p.Width == 0 && !s.needMore {
			x.note("no image dimensions found")
			if p.Status == StatusOK {
				p.Status = StatusPartial
			}
		}
		if bomb(p.Width, p.Height, s.size) {
			// Header values stay as they are; the status tells consumers
			// (thumbnailer, search) not to trust them with a decoder.
			x.note(fmt.Sprintf("dimensions %dx%d implausible for a %d-byte object (decompression bomb?)", p.Width, p.Height, s.size))
			if p.Status == StatusOK || p.Status == StatusNone {
				p.Status = StatusPartial
			}
		}
		if x.corrupt && len(x.notes) == 0 {
			x.note("malformed container structure")
		}
		if p.Status == StatusPartial || (p.Status == StatusNone && len(x.notes) > 0) {
			p.Reason = joinNotes(p.Reason, x.notes)
		}
	}
	p.NeedsFullRead = s.needMore && s.ra == nil && p.Status != StatusFailed
	p.Reason = clip(p.Reason, maxReason)
	return p
}

// bomb reports dimensions that no real encoder could fit in size bytes:
// more than 16 MP at more than 4096 pixels per byte. Deflate tops out near
// 8200 one-bit pixels per byte and baseline JPEG near 170 pixels per byte,
// while photos sit around 10.
func bomb(w, h int, size int64) bool {
	if w <= 0 || h <= 0 || size <= 0 {
		return false
	}
	px := float64(w) * float64(h)
	return px > 16e6 && px/float64(size) > 4096
}

func aspect(w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	long, short := max(w, h), min(w, h)
	switch {
	case float64(long) >= 1.9*float64(short):
		return "panorama"
	case w == h:
		return "square"
	case w > h:
		return "landscape"
	default:
		return "portrait"
	}
}

func describeErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "canceled: " + err.Error()
	}
	return err.Error()
}

func joinNotes(reason string, notes []string) string {
	for _, n := range notes {
		if reason != "" {
			reason += "; "
		}
		reason += n
	}
	return reason
}

// clip bounds s to n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
