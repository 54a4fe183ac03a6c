package extract

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// erratum is a corrected manifest value.
type erratum struct {
	gps       string // replaces the gps column when set
	camera    string // replaces the camera column when cameraSet
	cameraSet bool
}

// manifestErratum corrects MANIFEST.tsv where the file demonstrably says
// otherwise, or where the manifest holds raw bytes that Photo sanitises on
// purpose. Each entry carries its evidence; the test asserts the corrected
// value, so a regression either way is caught.
func manifestErratum(file string) (erratum, bool) {
	switch file {
	case "malformed/goexif_sep_temple_square1_badjpeg.jpg":
		// IFD0 -> GPS IFD (TIFF offset 352): GPSVersionID 2.2.0, N
		// 40°46'13.22", W 111°53'28.40" (Temple Square, Salt Lake City, as
		// the file name says), altitude 1334 m. What is broken is the JPEG
		// stream after APP1 (truncated: exiftool's "JPEG format error").
		return erratum{gps: fmt.Sprintf("yes (%.5f,%.5f)", 40+46/60.0+13.22/3600, -(111 + 53/60.0 + 28.40/3600))}, true
	case "malformed/huge_tag_exif.jpg", "malformed/max_uint32_exif.jpg":
		// bep/imagemeta's corrupt variants of one HTC ADR6400L photo: an
		// IFD0 count and the ExifIFD pointer are corrupted, the GPS IFD
		// (TIFF offset 280) is intact: N 38°52'59.75", W 104°52'17.16",
		// GPSProcessingMethod "NETWORK", GPSDateStamp 2012:07:21.
		return erratum{gps: fmt.Sprintf("yes (%.5f,%.5f)", 38+52/60.0+59.75/3600, -(104 + 52/60.0 + 17.16/3600))}, true
	case "malformed/goexif_fuzz_oom_90GB.tif":
		// The camera column is a raw 0x08 byte: IFD0 Make (6 bytes at
		// 122) starts with NUL, i.e. is empty, and Model (23 bytes at 128)
		// is "\x08" up to its first NUL. Photo drops control characters
		// from camera strings, so both are empty.
		return erratum{camera: " ", cameraSet: true}, true
	}
	return erratum{}, false
}

// formatFromManifest maps the manifest's format column to Photo.Format.
func formatFromManifest(f string) (string, bool) {
	switch f {
	case "JPEG":
		return "jpeg", true
	case "PNG":
		return "png", true
	case "WEBP", "Extended WEBP":
		return "webp", true
	case "HEIC":
		return "heic", true
	case "HEIF":
		return "heif", true
	case "AVIF":
		return "avif", true
	case "TIFF":
		return "tiff", true
	case "DNG":
		return "dng", true
	case "GIF":
		return "gif", true
	}
	return "", false
}

func given(v string) bool { return v != "" && v != "-" }

// localTaken renders TakenAt back in the photo's own wall-clock time, which
// is what the manifest records (EXIF DateTimeOriginal).
func localTaken(p Photo) string {
	if p.TakenAt.IsZero() {
		return ""
	}
	t := p.TakenAt
	if p.TakenOffset != "" {
		off, ok := parseOffset(p.TakenOffset)
		if !ok {
			return "bad offset " + p.TakenOffset
		}
		h, _ := strconv.Atoi(off[1:3])
		m, _ := strconv.Atoi(off[4:6])
		secs := h*3600 + m*60
		if off[0] == '-' {
			secs = -secs
		}
		t = t.In(time.FixedZone(off, secs))
	}
	return t.Format("2006:01:02 15:04:05")
}

// checkManifest asserts p against one manifest row.
func checkManifest(t *testing.T, row manifestRow, p Photo) {
	t.Helper()
	if want, ok := formatFromManifest(row.format); !ok {
		t.Errorf("manifest format %q unknown to the test", row.format)
	} else if p.Format != want {
		t.Errorf("Format = %q, want %q", p.Format, want)
	}
	if mimeFor(p.Format) != p.MIME {
		t.Errorf("MIME = %q for format %q", p.MIME, p.Format)
	}
	fix, _ := manifestErratum(row.file)
	camera := row.camera
	if fix.cameraSet {
		camera = fix.camera
	}
	if given(camera) {
		if got := p.Make + " " + p.Model; got != camera {
			t.Errorf("camera = %q, want %q", got, camera)
		}
	}
	if given(row.datetime) {
		if got := localTaken(p); got != row.datetime {
			t.Errorf("taken = %q (TakenAt %v, offset %q), want %q", got, p.TakenAt, p.TakenOffset, row.datetime)
		}
		if p.TakenAt.Location() != time.UTC {
			t.Errorf("TakenAt %v is not in UTC", p.TakenAt)
		}
	}
	wantGPS := row.gps
	if fix.gps != "" {
		wantGPS = fix.gps
	}
	gpsRe := regexp.MustCompile(`^yes \((-?[0-9.]+),(-?[0-9.]+)\)$`)
	switch m := gpsRe.FindStringSubmatch(wantGPS); {
	case wantGPS == "no":
		if p.GPS != nil {
			t.Errorf("GPS = %+v, want none", *p.GPS)
		}
	case m != nil:
		lat, _ := strconv.ParseFloat(m[1], 64)
		lon, _ := strconv.ParseFloat(m[2], 64)
		switch {
		case p.GPS == nil:
			t.Errorf("GPS = nil, want %v,%v", lat, lon)
		case math.Abs(p.GPS.Lat-lat) > 1e-5 || math.Abs(p.GPS.Lon-lon) > 1e-5:
			t.Errorf("GPS = %.6f,%.6f, want %v,%v", p.GPS.Lat, p.GPS.Lon, lat, lon)
		}
	default:
		t.Errorf("manifest gps %q not understood", wantGPS)
	}
	if given(row.orientation) {
		if want, _ := strconv.Atoi(row.orientation); p.Orientation != want {
			t.Errorf("Orientation = %d, want %d", p.Orientation, want)
		}
	}
	if given(row.dims) {
		if got := fmt.Sprintf("%dx%d", p.Width, p.Height); got != row.dims {
			t.Errorf("dimensions = %s, want %s", got, row.dims)
		}
	}
	checkInvariants(t, p)
}

// checkInvariants holds for every result, whatever the input.
func checkInvariants(t testing.TB, p Photo) {
	t.Helper()
	switch p.Status {
	case StatusOK, StatusPartial, StatusNone, StatusFailed:
	default:
		t.Errorf("Status = %q", p.Status)
	}
	if len(p.Reason) > maxReason {
		t.Errorf("Reason has %d bytes", len(p.Reason))
	}
	if p.Status != StatusOK && p.Reason == "" {
		t.Errorf("Status %q without a Reason", p.Status)
	}
	if p.Orientation < 0 || p.Orientation > 8 {
		t.Errorf("Orientation = %d", p.Orientation)
	}
	if (p.Width == 0) != (p.Height == 0) || p.Width < 0 || p.Height < 0 {
		t.Errorf("dimensions %dx%d", p.Width, p.Height)
	}
	if p.DisplayWidth*p.DisplayHeight != p.Width*p.Height {
		t.Errorf("display %dx%d vs stored %dx%d", p.DisplayWidth, p.DisplayHeight, p.Width, p.Height)
	}
	if p.GPS != nil && (!validLatLon(p.GPS.Lat, p.GPS.Lon)) {
		t.Errorf("invalid GPS %+v", *p.GPS)
	}
	if !p.TakenAt.IsZero() && p.TakenAt.Location() != time.UTC {
		t.Errorf("TakenAt not UTC: %v", p.TakenAt)
	}
	if p.NeedsFullRead && p.Status == StatusFailed {
		t.Errorf("NeedsFullRead with StatusFailed")
	}
	for _, s := range []string{p.Make, p.Model, p.Lens} {
		if len(s) > 128 || strings.ContainsAny(s, "\x00\ufffd") || s != strings.TrimSpace(s) {
			t.Errorf("unclean string %q", s)
		}
	}
	if p.Format == "" && p.Width != 0 {
		t.Errorf("dimensions for a non-image")
	}
}

// countingReaderAt records the ranged reads FromReaderAt issues.
type countingReaderAt struct {
	r     io.ReaderAt
	calls atomic.Int64
	bytes atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(p)))
	return c.r.ReadAt(p, off)
}

// TestManifest runs every test photo through the upload path (FromPrefix on
// the first PrefixSize bytes) and, when that asks for it, the background
// path (FromReaderAt), and checks the outcome against MANIFEST.tsv.
func TestManifest(t *testing.T) {
	rows := readManifest(t)
	files := photoFiles(t)
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
		row, ok := rows[f]
		if !ok {
			t.Errorf("%s: no MANIFEST.tsv row", f)
			continue
		}
		t.Run(f, func(t *testing.T) {
			ctx := context.Background()
			b := readPhoto(t, f)
			if row.size != strconv.Itoa(len(b)) {
				t.Errorf("file has %d bytes, manifest says %s", len(b), row.size)
			}
			first := FromPrefix(ctx, prefixOf(b, PrefixSize), int64(len(b)))
			checkInvariants(t, first)
			final := first
			if first.NeedsFullRead {
				cr := &countingReaderAt{r: bytes.NewReader(b)}
				final = FromReaderAt(ctx, cr, int64(len(b)))
				if n := cr.calls.Load(); n > 1+maxReadCalls {
					t.Errorf("FromReaderAt issued %d reads", n)
				}
				if final.NeedsFullRead {
					t.Errorf("FromReaderAt result asks for a full read")
				}
			}
			t.Logf("prefix: %s %q; final: %s %q", first.Status, first.Reason, final.Status, final.Reason)
			checkManifest(t, row, final)

			// The background path must be right on its own too (reindex).
			checkManifest(t, row, FromReaderAt(ctx, bytes.NewReader(b), int64(len(b))))

			malformed := strings.HasPrefix(f, "malformed/")
			switch {
			case malformed:
				if final.Status == StatusOK {
					t.Errorf("malformed file reported %s", final.Status)
				}
			case given(row.camera) || given(row.datetime) || strings.HasPrefix(row.gps, "yes"):
				if final.Status != StatusOK {
					t.Errorf("Status = %s (%s), want ok", final.Status, final.Reason)
				}
			default:
				if final.Status == StatusFailed {
					t.Errorf("Status = %s (%s)", final.Status, final.Reason)
				}
			}
			checkNotes(t, row, b, first, final)
		})
	}
	for f := range rows {
		if !seen[f] {
			t.Errorf("manifest row %s has no file", f)
		}
	}
}

// checkNotes asserts the per-file traps the manifest's notes column names.
func checkNotes(t *testing.T, row manifestRow, b []byte, first, final Photo) {
	t.Helper()
	notes := row.notes
	if strings.Contains(notes, "no Make/Model") && (final.Make != "" || final.Model != "") {
		t.Errorf("Make/Model = %q/%q, want none", final.Make, final.Model)
	}
	if strings.Contains(notes, "Exif item stored at end of file") {
		// The whole point of this file: the prefix holds the meta box
		// (dimensions) but not the Exif item, and that must be noticed
		// rather than reported as "no metadata".
		if len(b) > PrefixSize && (!first.NeedsFullRead || first.Status != StatusPartial) {
			t.Errorf("prefix result %s NeedsFullRead=%v, want partial and a full read", first.Status, first.NeedsFullRead)
		}
		if first.Width == 0 {
			t.Errorf("prefix result lacks the ispe dimensions")
		}
	}
	if m := regexp.MustCompile(`EXIF chunk at offset (\d+)`).FindStringSubmatch(notes); m != nil {
		// Cut the upload prefix just before the EXIF chunk: the VP8X flag
		// promises EXIF, so the prefix result must ask for a full read.
		at, _ := strconv.Atoi(m[1])
		p := FromPrefix(context.Background(), b[:at], int64(len(b)))
		if !p.NeedsFullRead || p.Make != "" {
			t.Errorf("prefix cut at %d: NeedsFullRead=%v Make=%q", at, p.NeedsFullRead, p.Make)
		}
		if p.Width == 0 {
			t.Errorf("prefix cut at %d lost the VP8X dimensions", at)
		}
	}
	if strings.Contains(notes, "before IDAT") && first.NeedsFullRead {
		t.Errorf("PNG with eXIf before IDAT needed a full read")
	}
	if strings.Contains(notes, "(irot)") && (final.DisplayWidth != final.Height || final.DisplayHeight != final.Width) {
		t.Errorf("display %dx%d not rotated from %dx%d", final.DisplayWidth, final.DisplayHeight, final.Width, final.Height)
	}
	if strings.Contains(notes, "decompression bomb") || strings.Contains(notes, "Decode allocates") {
		if final.Status != StatusPartial || !strings.Contains(final.Reason, "implausible") {
			t.Errorf("bomb reported %s %q", final.Status, final.Reason)
		}
	}
	if strings.Contains(notes, "metadata intact") && final.Status != StatusOK {
		t.Errorf("Status = %s (%s), want ok", final.Status, final.Reason)
	}
}

// TestTruncatedPrefixes cuts every file at several sizes. Nothing may panic,
// and for well-formed photos a cut prefix must either ask for a full read or
// give the same answer as the whole file: never silently lose metadata.
func TestTruncatedPrefixes(t *testing.T) {
	ctx := context.Background()
	for _, f := range photoFiles(t) {
		b := readPhoto(t, f)
		full := FromReaderAt(ctx, bytes.NewReader(b), int64(len(b)))
		for _, k := range []int{0, 1, 2, 3, 7, 8, 12, 16, 100, 1000, 4 << 10, 16 << 10, 64 << 10, 128 << 10} {
			if k > len(b) {
				continue
			}
			for _, total := range []int64{int64(len(b)), -1} {
				p := FromPrefix(ctx, b[:k], total)
				checkInvariants(t, p)
				if strings.HasPrefix(f, "malformed/") || p.NeedsFullRead {
					continue
				}
				if k == len(b) && total == -1 {
					continue // unknown size: the bomb check cannot run
				}
				if d := diffKey(p, full); d != "" {
					t.Errorf("%s cut at %d (total %d): %s without NeedsFullRead (%s %q)", f, k, total, d, p.Status, p.Reason)
				}
			}
			// A cut object, stored as such: the background path must
			// cope with the container pointing past the end.
			checkInvariants(t, FromReaderAt(ctx, bytes.NewReader(b[:k]), int64(k)))
		}
	}
}

// diffKey compares the fields the index is built from.
func diffKey(a, b Photo) string {
	switch {
	case a.Status != b.Status:
		return fmt.Sprintf("status %s vs %s", a.Status, b.Status)
	case a.Format != b.Format:
		return fmt.Sprintf("format %q vs %q", a.Format, b.Format)
	case a.Width != b.Width || a.Height != b.Height:
		return fmt.Sprintf("size %dx%d vs %dx%d", a.Width, a.Height, b.Width, b.Height)
	case a.Orientation != b.Orientation:
		return "orientation"
	case a.Make != b.Make || a.Model != b.Model:
		return "camera"
	case !a.TakenAt.Equal(b.TakenAt):
		return "taken"
	case (a.GPS == nil) != (b.GPS == nil):
		return "gps"
	}
	return ""
}

// TestBoundedEveryFile checks time and memory per call for every file, the
// malformed ones included: each must return well within the deadline and
// allocate far less than the 64 MiB budget.
func TestBoundedEveryFile(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation accounting is noisy under -short runs of the whole tree")
	}
	ctx := context.Background()
	const budget = 64 << 20
	for _, f := range photoFiles(t) {
		b := readPhoto(t, f)
		pre := prefixOf(b, PrefixSize)
		for _, mode := range []string{"prefix", "readerat"} {
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			var p Photo
			if mode == "prefix" {
				p = FromPrefix(ctx, pre, int64(len(b)))
			} else {
				p = FromReaderAt(ctx, bytes.NewReader(b), int64(len(b)))
			}
			el := time.Since(start)
			runtime.ReadMemStats(&ms1)
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			checkInvariants(t, p)
			if el > prefixTimeout {
				t.Errorf("%s/%s took %v", f, mode, el)
			}
			if alloc > budget {
				t.Errorf("%s/%s allocated %d bytes", f, mode, alloc)
			}
			if strings.HasPrefix(f, "malformed/") {
				t.Logf("%-45s %-8s %-7s %6d B %8v %q", f, mode, p.Status, alloc, el.Round(time.Microsecond), p.Reason)
			}
		}
	}
}

// TestInteropTagsAreNotGPS builds the trap the issue describes: imagemeta
// names Interop IFD entries 1..4 after the GPS tags with the same IDs. Here
// they even carry plausible rationals; only the IFD check rejects them.
func TestInteropTagsAreNotGPS(t *testing.T) {
	w := newTIFF()
	_, pos0 := w.ifd(tASCII(0x010F, "Maker"), tASCII(0x0110, "Cam"), tLong(0x8769, 0))
	exifOff, posE := w.ifd(tASCII(0x9003, "2020:01:02 03:04:05"), tLong(0xA005, 0))
	w.patch(pos0[0x8769], exifOff)
	interopOff, _ := w.ifd(
		tASCII(0x0001, "N"), withTag(dms(48.85), 0x0002),
		tASCII(0x0003, "E"), withTag(dms(2.35), 0x0004),
	)
	w.patch(posE[0xA005], interopOff)
	p := FromPrefix(context.Background(), jpegWithEXIF(w.buf, 640, 480), -1)
	if p.Status != StatusOK || p.Make != "Maker" {
		t.Fatalf("EXIF not read: %+v", p)
	}
	if p.GPS != nil {
		t.Errorf("Interop entries taken as GPS: %+v", *p.GPS)
	}

	// The same entries in the GPS IFD are a position.
	w = newTIFF()
	_, pos0 = w.ifd(tASCII(0x010F, "Maker"), tLong(0x8825, 0))
	gpsOff, _ := w.ifd(
		tASCII(0x0001, "S"), withTag(dms(33.8568), 0x0002),
		tASCII(0x0003, "E"), withTag(dms(151.2153), 0x0004),
		tByte(0x0005, 1), tRationals(0x0006, [2]uint32{25, 2}),
	)
	w.patch(pos0[0x8825], gpsOff)
	p = FromPrefix(context.Background(), jpegWithEXIF(w.buf, 640, 480), -1)
	if p.GPS == nil || math.Abs(p.GPS.Lat+33.8568) > 1e-4 || math.Abs(p.GPS.Lon-151.2153) > 1e-4 {
		t.Fatalf("GPS = %+v", p.GPS)
	}
	if p.GPS.Alt == nil || *p.GPS.Alt != -12.5 {
		t.Errorf("altitude below sea level = %v", p.GPS.Alt)
	}
}

func TestGPSZeroIsMissing(t *testing.T) {
	w := newTIFF()
	_, pos0 := w.ifd(tLong(0x8825, 0))
	zero := tRationals(0, [2]uint32{0, 1}, [2]uint32{0, 1}, [2]uint32{0, 1})
	gpsOff, _ := w.ifd(tASCII(0x0001, "N"), withTag(zero, 0x0002), tASCII(0x0003, "E"), withTag(zero, 0x0004))
	w.patch(pos0[0x8825], gpsOff)
	p := FromPrefix(context.Background(), jpegWithEXIF(w.buf, 64, 64), -1)
	if p.Status != StatusOK || p.GPS != nil {
		t.Errorf("(0,0): status %s GPS %+v", p.Status, p.GPS)
	}
}

func TestTakenAtOffsets(t *testing.T) {
	for _, tc := range []struct {
		entries []tEntry
		utc     string
		offset  string
	}{
		{[]tEntry{tASCII(0x9003, "2021:06:01 12:00:00"), tASCII(0x9011, "+02:00")}, "2021-06-01T10:00:00Z", "+02:00"},
		{[]tEntry{tASCII(0x9003, "2021:06:01 12:00:00"), tASCII(0x9010, "-05:30")}, "2021-06-01T17:30:00Z", "-05:30"},
		{[]tEntry{tASCII(0x9003, "2021:06:01 12:00:00")}, "2021-06-01T12:00:00Z", ""},
		{[]tEntry{tASCII(0x9003, "2021:06:01 12:00:00"), tASCII(0x9011, "  :  ")}, "2021-06-01T12:00:00Z", ""},
		{[]tEntry{tASCII(0x9003, "0000:00:00 00:00:00"), tASCII(0x9004, "2019:02:03 04:05:06")}, "2019-02-03T04:05:06Z", ""},
		{[]tEntry{tASCII(0x9003, "    :  :     :  :  ")}, "", ""},
		{[]tEntry{tASCII(0x9003, "2021:02:30 12:00:00")}, "", ""},
	} {
		w := newTIFF()
		_, pos0 := w.ifd(tLong(0x8769, 0))
		exifOff, _ := w.ifd(tc.entries...)
		w.patch(pos0[0x8769], exifOff)
		p := FromPrefix(context.Background(), jpegWithEXIF(w.buf, 64, 48), -1)
		got := ""
		if !p.TakenAt.IsZero() {
			got = p.TakenAt.Format(time.RFC3339)
		}
		if got != tc.utc || p.TakenOffset != tc.offset {
			t.Errorf("%v: TakenAt %q offset %q, want %q %q", tc.entries, got, p.TakenOffset, tc.utc, tc.offset)
		}
	}
}

// TestTagLimit: an IFD with more entries than maxTags is cut off and the
// result says so.
func TestTagLimit(t *testing.T) {
	entries := []tEntry{tASCII(0x010F, "Maker")}
	for i := range maxTags + 10 {
		entries = append(entries, tShort(0x1000+uint16(i), 1))
	}
	w := newTIFF()
	w.ifd(entries...)
	b := append([]byte{}, w.buf...)
	// JPEG APP1 holds at most 64 KiB; as a TIFF file the size is free.
	p := FromPrefix(context.Background(), b, int64(len(b)))
	if p.Status != StatusPartial || !strings.Contains(p.Reason, "limit") || p.Make != "Maker" {
		t.Errorf("status %s %q make %q", p.Status, p.Reason, p.Make)
	}
}

// TestSubIFDFanOut: a thousand SubIFD pointers to one IFD of 65535 junk
// entries must be cut off by the work budget, not by the deadline.
func TestSubIFDFanOut(t *testing.T) {
	w := newTIFF()
	const n = maxTagSize / 4
	subs := make([]byte, 0, 4*n)
	_, pos0 := w.ifd(tASCII(0x010F, "Maker"), tEntry{0x014A, 4, n, make([]byte, 4*n)})
	junk := uint32(len(w.buf))
	w.buf = append(w.buf, 0xFF, 0xFF)
	for range 0xFFFF {
		w.buf = append(w.buf, 0x30, 0x30, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0) // count > 0x10000: skipped
	}
	for range n {
		subs = append(subs, byte(junk>>24), byte(junk>>16), byte(junk>>8), byte(junk))
	}
	arr := int(uint32(w.buf[pos0[0x014A]])<<24 | uint32(w.buf[pos0[0x014A]+1])<<16 | uint32(w.buf[pos0[0x014A]+2])<<8 | uint32(w.buf[pos0[0x014A]+3]))
	copy(w.buf[arr:], subs)
	start := time.Now()
	p := FromPrefix(context.Background(), w.buf, int64(len(w.buf)))
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v", el)
	}
	if p.Status != StatusPartial || !strings.Contains(p.Reason, "work budget") || p.Make != "Maker" {
		t.Errorf("status %s %q make %q", p.Status, p.Reason, p.Make)
	}
	t.Logf("%s %q in %v", p.Status, p.Reason, time.Since(start))
}

func TestNotAnImage(t *testing.T) {
	p := FromPrefix(context.Background(), []byte("hello, this is plain text\n"), 26)
	if p.Format != "" || p.Status != StatusNone || !strings.HasPrefix(p.MIME, "text/plain") || p.NeedsFullRead {
		t.Errorf("%+v", p)
	}
	p = FromPrefix(context.Background(), []byte{0xFF}, 10_000)
	if !p.NeedsFullRead || p.Status != StatusPartial {
		t.Errorf("1 byte of 10000: %+v", p)
	}
	p = FromPrefix(context.Background(), nil, 0)
	if p.Status != StatusNone || p.NeedsFullRead {
		t.Errorf("empty object: %+v", p)
	}
	// An MP4 shares the ftyp box but is not a photo.
	mp4 := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
	if p := FromPrefix(context.Background(), mp4, int64(len(mp4))); p.Format != "" {
		t.Errorf("mp4 sniffed as %q", p.Format)
	}
}

// slowReaderAt models a backend that answers each ranged GET slowly.
type slowReaderAt struct {
	r     io.ReaderAt
	delay time.Duration
}

func (s slowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.r.ReadAt(p, off)
}

type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("backend unavailable") }

func TestReaderAtFailures(t *testing.T) {
	b := readPhoto(t, "heic/nokia83_hdr_exif_at_end.heif")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p := FromReaderAt(ctx, bytes.NewReader(b), int64(len(b))); p.Status != StatusFailed || !strings.Contains(p.Reason, "cancel") {
		t.Errorf("canceled: %s %q", p.Status, p.Reason)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	p := FromReaderAt(ctx, slowReaderAt{bytes.NewReader(b), 25 * time.Millisecond}, int64(len(b)))
	if p.Status != StatusFailed || !strings.Contains(p.Reason, "timed out") {
		t.Errorf("slow backend: %s %q", p.Status, p.Reason)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("slow backend took %v", el)
	}

	if p := FromReaderAt(context.Background(), errReaderAt{}, 1000); p.Status != StatusFailed || !strings.Contains(p.Reason, "backend unavailable") {
		t.Errorf("read error: %s %q", p.Status, p.Reason)
	}
	if p := FromReaderAt(context.Background(), nil, 10); p.Status != StatusFailed {
		t.Errorf("nil reader: %s", p.Status)
	}
	// The object is shorter than its declared size.
	if p := FromReaderAt(context.Background(), bytes.NewReader(b[:300<<10]), int64(len(b))); p.Status != StatusPartial {
		t.Errorf("short object: %s %q", p.Status, p.Reason)
	}
}

// TestReaderAtReadsLittle: the background path fetches the head and the
// Exif item, not the object.
func TestReaderAtReadsLittle(t *testing.T) {
	b := readPhoto(t, "heic/nokia83_hdr_exif_at_end.heif")
	cr := &countingReaderAt{r: bytes.NewReader(b)}
	p := FromReaderAt(context.Background(), cr, int64(len(b)))
	if p.Status != StatusOK {
		t.Fatalf("%s %q", p.Status, p.Reason)
	}
	if c, n := cr.calls.Load(), cr.bytes.Load(); c > 2 || n > 2*windowSize {
		t.Errorf("%d reads, %d bytes for a %d-byte object", c, n, len(b))
	}
}

func TestHelpers(t *testing.T) {
	for sec, want := range map[float64]string{1.0 / 250: "1/250", 2.5: "2.5", 1: "1", 0.3: "0.3", 1.0 / 3: "0.3", 30: "30", 0: ""} {
		if got := exposureString(sec); got != want {
			t.Errorf("exposureString(%v) = %q, want %q", sec, got, want)
		}
	}
	for in, want := range map[string]string{
		"4.28 4.28 2.4 2.4": "4.28mm f/2.4",
		"18 55 3.5 5.6":     "18-55mm f/3.5-5.6",
		"16 50 2.8 2.8":     "16-50mm f/2.8",
		"50 50 undef undef": "50mm",
		"0 0 0 0":           "",
		"garbage":           "",
	} {
		if got := lensFromInfo(in); got != want {
			t.Errorf("lensFromInfo(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		w, h int
		want string
	}{{4000, 3000, "landscape"}, {3000, 4000, "portrait"}, {1000, 1000, "square"}, {1900, 1000, "panorama"}, {1000, 2000, "panorama"}, {0, 0, ""}} {
		if got := aspect(tc.w, tc.h); got != tc.want {
			t.Errorf("aspect(%d,%d) = %q, want %q", tc.w, tc.h, got, tc.want)
		}
	}
	if got := clean("  Canon\x00\x00 \xff"); got != "Canon" {
		t.Errorf("clean = %q", got)
	}
	// irot quarter turns anticlockwise, optionally followed by imir.
	for _, tc := range []struct {
		angle, axis byte
		mirrored    bool
		want        int
	}{{0, 0, false, 1}, {1, 0, false, 8}, {2, 0, false, 3}, {3, 0, false, 6}, {0, 0, true, 2}, {0, 1, true, 4}, {1, 0, true, 7}, {3, 0, true, 5}} {
		if got := heifOrientation(tc.angle, tc.axis, tc.mirrored); got != tc.want {
			t.Errorf("heifOrientation(%d,%d,%v) = %d, want %d", tc.angle, tc.axis, tc.mirrored, got, tc.want)
		}
	}
}

// TestNoGoroutineLeak: extraction is goroutine-free, so a burst of calls
// (including timeouts) leaves the goroutine count where it was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, f := range photoFiles(t) {
		b := readPhoto(t, f)
		FromPrefix(context.Background(), prefixOf(b, PrefixSize), int64(len(b)))
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d -> %d", before, after)
	}
}

// TestMetadataBeyondPrefix builds files whose metadata sits past the first
// PrefixSize bytes, as real writers do: a TIFF whose IFD0 follows the strips
// and a JPEG whose EXIF follows a large APP2 (ICC) run. The prefix result
// must ask for a full read, and the full read must find everything with a
// handful of ranged reads.
func TestMetadataBeyondPrefix(t *testing.T) {
	ctx := context.Background()

	// TIFF: header, 300 KB of "strips", then IFD0 with the EXIF pointer.
	w := newTIFF()
	w.buf = append(w.buf, make([]byte, 300<<10)...)
	ifd0, pos := w.ifd(tLong(0x0100, 6000), tLong(0x0101, 4000), tShort(0x0112, 6), tASCII(0x010F, "Maker"), tASCII(0x0110, "Cam"), tLong(0x8769, 0))
	binary.BigEndian.PutUint32(w.buf[4:], ifd0)
	exifOff, _ := w.ifd(tASCII(0x9003, "2022:03:04 05:06:07"))
	w.patch(pos[0x8769], exifOff)
	tiff := w.buf

	// JPEG: SOI, 5 x 64 KB APP2 segments, then APP1 Exif and SOF.
	w = newTIFF()
	w.ifd(tASCII(0x010F, "Maker"), tASCII(0x0110, "Cam"), tShort(0x0112, 8))
	j := jpegWithEXIF(w.buf, 4000, 3000)
	app2 := append([]byte{0xFF, 0xE2, 0xFF, 0xFF}, make([]byte, 0xFFFD)...)
	jpeg := append([]byte{0xFF, 0xD8}, bytes.Repeat(app2, 5)...)
	jpeg = append(jpeg, j[2:]...)

	for name, b := range map[string][]byte{"tiff": tiff, "jpeg": jpeg} {
		first := FromPrefix(ctx, b[:PrefixSize], int64(len(b)))
		if !first.NeedsFullRead || first.Status != StatusPartial || first.Make != "" {
			t.Errorf("%s prefix: %s %q NeedsFullRead=%v Make=%q", name, first.Status, first.Reason, first.NeedsFullRead, first.Make)
		}
		cr := &countingReaderAt{r: bytes.NewReader(b)}
		p := FromReaderAt(ctx, cr, int64(len(b)))
		if p.Status != StatusOK || p.Make != "Maker" || p.Model != "Cam" || p.Width == 0 {
			t.Errorf("%s full: %+v", name, p)
		}
		if c := cr.calls.Load(); c > 8 {
			t.Errorf("%s full read took %d ranged reads", name, c)
		}
		t.Logf("%s: %d reads, %d bytes of %d; %dx%d orientation %d", name, cr.calls.Load(), cr.bytes.Load(), len(b), p.Width, p.Height, p.Orientation)
	}
}

func TestPrefixLongerThanObject(t *testing.T) {
	b := readPhoto(t, "jpeg/iphone4s_lensinfo_gps_orient6.jpg")
	// The caller's total wins: bytes past it are not part of the object.
	p := FromPrefix(context.Background(), append(b[:len(b):len(b)], make([]byte, 1000)...), int64(len(b)))
	if p.Status != StatusOK || p.Make != "Apple" {
		t.Errorf("%s %q", p.Status, p.Reason)
	}
	if p := FromPrefix(context.Background(), b, 10); p.Format != "jpeg" || p.Status != StatusPartial || p.NeedsFullRead {
		t.Errorf("cut by total: %s %q NeedsFullRead=%v", p.Status, p.Reason, p.NeedsFullRead)
	}
}

// TestSyntheticHEIF: the primary item's ispe and irot give the size and the
// orientation; an Exif item past the end of the object is reported as
// truncation when the size is known, and as a full read when the prefix
// may continue.
func TestSyntheticHEIF(t *testing.T) {
	b := heifSeed()
	p := FromPrefix(context.Background(), b, int64(len(b)))
	if p.Width != 4032 || p.Height != 3024 || p.Orientation != 6 || p.DisplayWidth != 3024 {
		t.Errorf("size %dx%d orientation %d display %dx%d", p.Width, p.Height, p.Orientation, p.DisplayWidth, p.DisplayHeight)
	}
	if p.Status != StatusPartial || p.NeedsFullRead || !strings.Contains(p.Reason, "truncated") {
		t.Errorf("whole object: %s %q NeedsFullRead=%v", p.Status, p.Reason, p.NeedsFullRead)
	}
	p = FromPrefix(context.Background(), b, 1<<30)
	if p.Status != StatusPartial || !p.NeedsFullRead {
		t.Errorf("prefix of a larger object: %s %q NeedsFullRead=%v", p.Status, p.Reason, p.NeedsFullRead)
	}
}
