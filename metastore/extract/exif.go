package extract

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bep/imagemeta"
)

// maxReaderOps bounds the Read and Seek calls imagemeta may make on one EXIF
// payload. imagemeta seeks once or twice per IFD entry, and IFD entries it
// skips (oversized or unknown) count against neither its tag limit nor
// ours, so an IFD table of 65535 junk entries pointed to by a thousand
// SubIFD offsets would otherwise keep it busy for seconds. The test photos
// need at most 173 calls (iPhone 15 Pro JPEG); 10000 caps a hostile input
// at about a millisecond.
const maxReaderOps = 10_000

// errWorkBudget stops imagemeta when maxReaderOps is reached.
var errWorkBudget = errors.New("extract: EXIF work budget exhausted")

// opReader counts the calls imagemeta makes on the region.
type opReader struct {
	*regionReader
	ops int
}

func (r *opReader) Read(p []byte) (int, error) {
	if r.ops++; r.ops > maxReaderOps {
		return 0, errWorkBudget
	}
	return r.regionReader.Read(p)
}

func (r *opReader) Seek(off int64, whence int) (int64, error) {
	if r.ops++; r.ops > maxReaderOps {
		return 0, errWorkBudget
	}
	return r.regionReader.Seek(off, whence)
}

// exifTags collects the values we use, as imagemeta delivers them.
type exifTags struct {
	lensInfo                             string
	dateOriginal, dateCreate, dateModify string
	offOriginal, offDigitized, offTime   string

	orientation  int
	iso, isoSpd  int
	fNumber      float64
	exposure     float64
	focal        float64
	focal35      int
	pxW, pxH     int
	lat, lon     float64
	hasLat       bool
	hasLon       bool
	latRef       string
	lonRef       string
	alt          float64
	hasAlt       bool
	altBelowSea  bool
	sawOrientTag bool
}

// decodeExif walks the EXIF TIFF structure at [exifOff, exifOff+exifLen)
// with imagemeta and applies the tags we use.
func (x *extraction) decodeExif() {
	s := x.s
	rr := &regionReader{s: s, base: x.exifOff, n: x.exifLen}
	r := &opReader{regionReader: rr}
	var (
		t       exifTags
		seen    int
		stopErr error
	)
	opts := imagemeta.Options{
		R:           r,
		ImageFormat: imagemeta.TIFF, // the payload is a TIFF structure
		Sources:     imagemeta.EXIF, // no XMP/IPTC: not needed, and XML parsing is costly
		// Our own limit fires first (see ShouldHandleTag) so we can
		// tell "limit hit" from "done"; imagemeta's is the backstop.
		LimitNumTags: maxTags + 1,
		LimitTagSize: maxTagSize,
		Warnf:        func(string, ...any) {},
		ShouldHandleTag: func(ti imagemeta.TagInfo) bool {
			// Called for every entry before its value is read, so it is
			// where the tag limit and the deadline are enforced without
			// a goroutine (imagemeta's Timeout option starts one and
			// leaves it running on timeout). Panicking with
			// ErrStopWalking is how imagemeta enforces its own tag limit
			// from this hook; Decode recovers it into a clean stop.
			seen++
			if seen > maxTags {
				x.limitHit = true
				panic(imagemeta.ErrStopWalking)
			}
			if seen%32 == 0 {
				if err := s.ctx.Err(); err != nil {
					stopErr = err
					panic(imagemeta.ErrStopWalking)
				}
			}
			return wantTag(ti.Namespace, ti.Tag)
		},
		HandleTag: func(ti imagemeta.TagInfo) error {
			t.set(ti)
			return nil
		},
	}
	_, err := imagemeta.Decode(opts)
	if x.err == nil && s.err == nil {
		x.p.Make, x.p.Model, x.p.Lens = x.cameraStrings()
	}
	if rr.pastEnd {
		if s.size >= 0 && x.exifOff+x.exifLen >= s.size {
			s.truncated = true
		} else {
			x.exifOOB = true
		}
	}
	switch {
	case s.err != nil:
		x.fail(fmt.Errorf("exif: %w", s.err))
	case stopErr != nil:
		x.fail(fmt.Errorf("exif: %w", stopErr))
	case errors.Is(err, errWorkBudget) || r.ops > maxReaderOps:
		x.workHit = true
		x.exifRead = true
	case err != nil && s.needMore:
		// Stopped at the end of the prefix; what was read is kept.
		x.exifRead = true
	case err != nil:
		x.fail(fmt.Errorf("exif: %w", err))
	default:
		x.exifRead = true
	}
	x.apply(&t)
}

// wantTag filters by IFD as well as name. imagemeta names tags by ID from
// one table, so Interop IFD entries 1 and 2 (InteropIndex "R98",
// InteropVersion "0100") arrive named GPSLatitudeRef and GPSLatitude: GPS
// names are only believed inside the GPS IFD, and nothing is taken from the
// Interop IFD, IFD1 (thumbnail) or SubIFDs.
func wantTag(ns, name string) bool {
	switch ns {
	case "IFD0":
		switch name {
		case "Orientation", "ModifyDate":
			return true
		}
	case "IFD0/ExifIFDP":
		switch name {
		case "DateTimeOriginal", "CreateDate", "OffsetTime", "OffsetTimeOriginal",
			"OffsetTimeDigitized", "LensInfo", "ISO", "ISOSpeed",
			"FNumber", "ExposureTime", "FocalLength", "FocalLengthIn35mmFormat",
			"ExifImageWidth", "ExifImageHeight":
			return true
		}
	case "IFD0/GPSInfoIFD":
		switch name {
		case "GPSLatitude", "GPSLatitudeRef", "GPSLongitude", "GPSLongitudeRef",
			"GPSAltitude", "GPSAltitudeRef":
			return true
		}
	}
	return false
}

// set records one tag; the first occurrence wins.
func (t *exifTags) set(ti imagemeta.TagInfo) {
	v := ti.Value
	setStr := func(dst *string) {
		if *dst == "" {
			*dst = asString(v)
		}
	}
	switch ti.Tag {
	case "LensInfo":
		setStr(&t.lensInfo)
	case "DateTimeOriginal":
		setStr(&t.dateOriginal)
	case "CreateDate":
		setStr(&t.dateCreate)
	case "ModifyDate":
		setStr(&t.dateModify)
	case "OffsetTimeOriginal":
		setStr(&t.offOriginal)
	case "OffsetTimeDigitized":
		setStr(&t.offDigitized)
	case "OffsetTime":
		setStr(&t.offTime)
	case "Orientation":
		if !t.sawOrientTag {
			t.sawOrientTag = true
			if o, ok := asInt(v); ok && o >= 1 && o <= 8 {
				t.orientation = o
			}
		}
	case "ISO":
		if i, ok := asInt(v); ok && t.iso == 0 {
			t.iso = i
		}
	case "ISOSpeed":
		if i, ok := asInt(v); ok && t.isoSpd == 0 {
			t.isoSpd = i
		}
	case "FNumber":
		t.fNumber = firstPositive(t.fNumber, v)
	case "ExposureTime":
		t.exposure = firstPositive(t.exposure, v)
	case "FocalLength":
		t.focal = firstPositive(t.focal, v)
	case "FocalLengthIn35mmFormat":
		if i, ok := asInt(v); ok && t.focal35 == 0 {
			t.focal35 = i
		}
	case "ExifImageWidth":
		if i, ok := asInt(v); ok && t.pxW == 0 {
			t.pxW = i
		}
	case "ExifImageHeight":
		if i, ok := asInt(v); ok && t.pxH == 0 {
			t.pxH = i
		}
	case "GPSLatitude":
		if f, ok := asFloat(v); ok && !t.hasLat {
			t.lat, t.hasLat = f, true
		}
	case "GPSLongitude":
		if f, ok := asFloat(v); ok && !t.hasLon {
			t.lon, t.hasLon = f, true
		}
	case "GPSLatitudeRef":
		setStr(&t.latRef)
	case "GPSLongitudeRef":
		setStr(&t.lonRef)
	case "GPSAltitude":
		if f, ok := asFloat(v); ok && !t.hasAlt {
			t.alt, t.hasAlt = f, true
		}
	case "GPSAltitudeRef":
		if i, ok := asInt(v); ok {
			t.altBelowSea = i == 1
		}
	}
}

// apply turns the collected tags into Photo fields.
func (x *extraction) apply(t *exifTags) {
	p := &x.p
	if p.Lens == "" {
		p.Lens = lensFromInfo(t.lensInfo)
	}
	p.Orientation = t.orientation

	switch {
	case t.dateOriginal != "" && validTime(t.dateOriginal):
		p.TakenAt, p.TakenOffset = takenAt(t.dateOriginal, t.offOriginal, t.offTime)
	case t.dateCreate != "" && validTime(t.dateCreate):
		p.TakenAt, p.TakenOffset = takenAt(t.dateCreate, t.offDigitized, t.offTime)
	case t.dateModify != "" && validTime(t.dateModify):
		p.TakenAt, p.TakenOffset = takenAt(t.dateModify, t.offTime, "")
	}

	p.ISO = t.iso
	if (p.ISO == 0 || p.ISO == 65535) && t.isoSpd > 0 {
		// ISOSpeedRatings is 16-bit; above 65534 cameras write 65535
		// there and the real value in ISOSpeed.
		p.ISO = t.isoSpd
	}
	p.FNumber = round(t.fNumber, 100)
	p.ExposureTime = exposureString(t.exposure)
	p.FocalLength = round(t.focal, 100)
	p.FocalLength35 = t.focal35

	if p.Width == 0 && t.pxW > 0 && t.pxH > 0 {
		p.Width, p.Height = t.pxW, t.pxH
	}

	if t.hasLat && t.hasLon {
		lat, lon := t.lat, t.lon
		if strings.EqualFold(strings.TrimSpace(t.latRef), "S") {
			lat = -lat
		}
		if strings.EqualFold(strings.TrimSpace(t.lonRef), "W") {
			lon = -lon
		}
		if validLatLon(lat, lon) {
			g := &GPS{Lat: lat, Lon: lon}
			if t.hasAlt && math.Abs(t.alt) < 1e6 {
				alt := t.alt
				if t.altBelowSea {
					alt = -alt
				}
				g.Alt = &alt
			}
			p.GPS = g
		}
	}
}

// validLatLon rejects out-of-range and NaN positions and (0,0), which is
// what many devices write when they have no fix.
func validLatLon(lat, lon float64) bool {
	if math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return false
	}
	return lat != 0 || lon != 0
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		if v == "undef" {
			return ""
		}
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func asInt(v any) (int, bool) {
	switch v := v.(type) {
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(min(v, math.MaxInt32)), true
	case int32:
		return int(v), v >= 0
	case []any:
		if len(v) > 0 {
			return asInt(v[0])
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case interface{ Float64() float64 }: // imagemeta.Rat[uint32] and Rat[int32]
		f = v.Float64()
	case float64:
		f = v
	case float32:
		f = float64(v)
	case uint8, uint16, uint32, int32:
		i, _ := asInt(v)
		f = float64(i)
	case []any:
		if len(v) > 0 {
			return asFloat(v[0])
		}
		return 0, false
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func firstPositive(cur float64, v any) float64 {
	if cur > 0 {
		return cur
	}
	if f, ok := asFloat(v); ok && f > 0 {
		return f
	}
	return 0
}

func round(f float64, scale float64) float64 {
	if f <= 0 || f > 1e9 {
		return 0
	}
	return math.Round(f*scale) / scale
}

// exposureString formats seconds as exiftool does: "1/250" below a quarter
// second, else one decimal without a trailing ".0".
func exposureString(sec float64) string {
	switch {
	case sec <= 0 || sec > 1e6:
		return ""
	case sec < 0.25001:
		return "1/" + strconv.FormatInt(int64(0.5+1/sec), 10)
	}
	return strings.TrimSuffix(strconv.FormatFloat(sec, 'f', 1, 64), ".0")
}

// lensFromInfo formats LensInfo (min/max focal length, min f-number at
// each) like "4.28mm f/2.4" or "18-55mm f/3.5-5.6".
func lensFromInfo(info string) string {
	var v [4]float64
	fields := strings.Fields(info)
	if len(fields) != 4 {
		return ""
	}
	for i, f := range fields {
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 || n > 1e5 {
			n = 0
		}
		v[i] = round(n, 100)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	var out string
	switch {
	case v[0] > 0 && v[1] > 0 && v[1] != v[0]:
		out = num(v[0]) + "-" + num(v[1]) + "mm"
	case v[0] > 0:
		out = num(v[0]) + "mm"
	default:
		return ""
	}
	switch {
	case v[2] > 0 && v[3] > 0 && v[3] != v[2]:
		out += " f/" + num(v[2]) + "-" + num(v[3])
	case v[2] > 0:
		out += " f/" + num(v[2])
	}
	return out
}

// clean trims a camera string, drops NULs, control characters and
// replacement characters (what undecodable bytes become) and bounds its
// length: these strings are indexed, faceted and shown in UIs.
func clean(s string) string {
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	return clipRunes(s, 128)
}

func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = clip(s, n)
	for !utf8.ValidString(s) && s != "" {
		s = s[:len(s)-1]
	}
	return s
}

// parseTime reads "YYYY:MM:DD HH:MM:SS" (also with '-' in the date or 'T'
// as separator, as some writers do). It returns the wall clock fields and,
// when the value carries one, a trailing "+HH:MM" offset.
func parseTime(v string) (t time.Time, offset string, ok bool) {
	v = strings.TrimSpace(v)
	if len(v) < 19 {
		return time.Time{}, "", false
	}
	var n [6]int
	pos := [6]int{0, 5, 8, 11, 14, 17}
	width := [6]int{4, 2, 2, 2, 2, 2}
	for i := range n {
		for j := pos[i]; j < pos[i]+width[i]; j++ {
			c := v[j]
			if c < '0' || c > '9' {
				return time.Time{}, "", false
			}
			n[i] = n[i]*10 + int(c-'0')
		}
	}
	y, mo, d, h, mi, sec := n[0], n[1], n[2], n[3], n[4], n[5]
	if y == 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, "", false
	}
	if sec == 60 { // leap second: keep the record, lose the second
		sec = 59
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, "", false // e.g. February 30th
	}
	rest := v[19:]
	if i := strings.IndexAny(rest, "+-"); i >= 0 {
		if o, ok := parseOffset(rest[i:]); ok {
			offset = o
		}
	}
	return t, offset, true
}

func validTime(v string) bool {
	_, _, ok := parseTime(v)
	return ok
}

// parseOffset validates "+HH:MM" / "-HH:MM" and returns it normalised.
func parseOffset(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) != 6 || (v[0] != '+' && v[0] != '-') || v[3] != ':' {
		return "", false
	}
	h, err1 := strconv.Atoi(v[1:3])
	m, err2 := strconv.Atoi(v[4:6])
	if err1 != nil || err2 != nil || h > 18 || m > 59 || v[1] == '+' || v[1] == '-' || v[4] == '+' || v[4] == '-' {
		return "", false
	}
	return v, true
}

// takenAt converts an EXIF local time to UTC using the first valid offset
// (the one recorded for that timestamp, then OffsetTime, then one embedded
// in the value itself). Without an offset the local time is taken as UTC.
func takenAt(v string, offsets ...string) (time.Time, string) {
	t, embedded, ok := parseTime(v)
	if !ok {
		return time.Time{}, ""
	}
	for _, o := range append(offsets, embedded) {
		off, ok := parseOffset(o)
		if !ok {
			continue
		}
		h, _ := strconv.Atoi(off[1:3])
		m, _ := strconv.Atoi(off[4:6])
		secs := h*3600 + m*60
		if off[0] == '-' {
			secs = -secs
		}
		return t.Add(-time.Duration(secs) * time.Second), off
	}
	return t, ""
}

// maxASCII bounds the camera strings read raw.
const maxASCII = 256

// asciiRef locates an ASCII entry's value.
type asciiRef struct {
	ok     bool
	inline [4]byte
	cnt    uint32
	off    uint32
}

func refOf(typ uint16, cnt uint32, val []byte, bo binary.ByteOrder) asciiRef {
	// ASCII, and BYTE/UNDEFINED as some writers use for strings.
	if typ != 2 && typ != 1 && typ != 7 || cnt == 0 {
		return asciiRef{}
	}
	r := asciiRef{ok: true, cnt: cnt, off: bo.Uint32(val)}
	copy(r.inline[:], val)
	return r
}

// cameraStrings reads Make and Model (IFD0) and LensModel (Exif IFD) with
// EXIF ASCII semantics: the value ends at its first NUL. imagemeta instead
// trims only leading and trailing NULs and then deletes non-printable
// characters, which splices whatever follows an interior NUL (firmware
// padding, uninitialised buffers) into the name.
func (x *extraction) cameraStrings() (mk, model, lens string) {
	s := x.s
	base, end := x.exifOff, x.exifOff+x.exifLen
	h := s.at(base, 8)
	if h == nil {
		return
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch string(h[:2]) {
	case "II":
	case "MM":
		bo = binary.BigEndian
	default:
		return
	}
	ifd0 := int64(bo.Uint32(h[4:]))
	var mkRef, modelRef, lensRef asciiRef
	var exifIFD int64
	x.scanIFD(bo, base, ifd0, func(tag, typ uint16, cnt uint32, val []byte) {
		switch tag {
		case 0x010F:
			mkRef = refOf(typ, cnt, val, bo)
		case 0x0110:
			modelRef = refOf(typ, cnt, val, bo)
		case 0x8769:
			if typ == 4 || typ == 13 {
				exifIFD = int64(bo.Uint32(val))
			}
		}
	})
	if exifIFD > 0 && base+exifIFD < end {
		x.scanIFD(bo, base, exifIFD, func(tag, typ uint16, cnt uint32, val []byte) {
			if tag == 0xA434 {
				lensRef = refOf(typ, cnt, val, bo)
			}
		})
	}
	read := func(r asciiRef) string {
		if !r.ok {
			return ""
		}
		var b []byte
		n := int(min(r.cnt, maxASCII))
		if r.cnt <= 4 {
			b = r.inline[:n]
		} else {
			off := base + int64(r.off)
			if off+int64(n) > end {
				x.exifOOB = true
				return ""
			}
			if b = s.at(off, n); b == nil {
				return ""
			}
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return clean(string(b))
	}
	return read(mkRef), read(modelRef), read(lensRef)
}
