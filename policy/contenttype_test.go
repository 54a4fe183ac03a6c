package policy

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

const typeConfig = `
users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [write]}]}]
policy:
  buckets:
    - bucket: photos
      allowed_types: ["image/*", "video/mp4", "video/quicktime"]
    - bucket: jpeg-only
      allowed_types: [image/jpeg]
    - bucket: vector
      allowed_types: ["image/*", "image/svg+xml"]
`

// head reads the first 512 bytes of a file, as the gateway would tee them.
func head(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 512)
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	return b[:n]
}

func TestDetectTypeRealPhotos(t *testing.T) {
	dir := photosDir(t)
	for file, want := range map[string]string{
		"jpeg/iphone15pro_24mp_baseline.jpg":      "image/jpeg",
		"jpeg/canon_sx60hs_orient6.jpg":           "image/jpeg",
		"png/pentax_k3ii_sunrise_exif.png":        "image/png",
		"webp/sunrise_lossy_noexif.webp":          "image/webp",
		"webp/pentax_k3ii_sunrise_exif.webp":      "image/webp",
		"heic/iphone15pro.heic":                   "image/heic",
		"heic/iphone11promax_gps.heic":            "image/heic",
		"heic/nokia83_hdr_exif_at_end.heif":       "image/heic",
		"avif/pentax_k3ii_sunset.avif":            "image/avif",
		"raw/canon_sd450_truncated.dng":           "image/x-adobe-dng",
		"malformed/goexif_fuzz_oom_90GB.tif":      "image/tiff",
		"malformed/png_bomb_30000x30000_1bit.png": "image/png",
	} {
		if got := DetectType(head(t, filepath.Join(dir, file))); got != want {
			t.Errorf("%s: %s, want %s", file, got, want)
		}
	}
}

func TestCheckTypeRealPhotos(t *testing.T) {
	dir := photosDir(t)
	obs := &observer{}
	h := holder(t, typeConfig, Options{Observer: obs})
	for _, file := range []string{
		"jpeg/iphone15pro_24mp_baseline.jpg", "png/pentax_k3ii_sunrise_exif.png",
		"webp/sunrise_lossy_noexif.webp", "heic/iphone15pro.heic", "avif/pentax_k3ii_sunset.avif",
	} {
		wantNil(t, h.CheckType("photos", head(t, filepath.Join(dir, file))))
	}
	wantNil(t, h.CheckType("jpeg-only", head(t, filepath.Join(dir, "jpeg/iphone6_gps_8mp.jpg"))))
	err := h.CheckType("jpeg-only", head(t, filepath.Join(dir, "heic/iphone15pro.heic")))
	if e := wantCode(t, err, s3err.InvalidArgument); e.Message != "content type image/heic is not allowed in bucket jpeg-only (allowed: image/jpeg)" {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != ReasonType {
		t.Errorf("observer %q", obs.last())
	}
	// Buckets without allowed_types take anything.
	wantNil(t, h.CheckType("other", []byte("PK\x03\x04 anything")))
}

// A ZIP named .jpg is a ZIP: the name and the declared type do not matter.
func TestCheckTypeZipRenamedJPEG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "holiday.jpg")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("payload.exe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("MZ"), 400)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	h := holder(t, typeConfig, Options{})
	err = h.CheckType("photos", head(t, path))
	e := wantCode(t, err, s3err.InvalidArgument)
	if e.Code.Status() != 400 || e.Message != "content type application/zip is not allowed in bucket photos (allowed: image/*, video/mp4, video/quicktime)" {
		t.Errorf("%d %q", e.Code.Status(), e.Message)
	}
	wantNil(t, h.CheckDeclaredType("photos", "image/jpeg")) // what the client claims does not rescue it
}

func TestDetectTypeSignatures(t *testing.T) {
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, make([]byte, 64)...)
	}
	tiff := func(tags ...uint16) []byte {
		b := []byte("II*\x00\x08\x00\x00\x00")
		b = append(b, byte(len(tags)), 0)
		for _, tag := range tags {
			b = append(b, byte(tag), byte(tag>>8), 3, 0, 1, 0, 0, 0, 0, 0, 0, 0)
		}
		return b
	}
	for name, tc := range map[string]struct {
		head []byte
		want string
	}{
		"gif":             {[]byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		"heic mif1":       {ftyp("mif1", "mif1", "heic"), "image/heic"},
		"heif":            {ftyp("mif1", "mif1", "miaf"), "image/heif"},
		"avif":            {ftyp("avif", "mif1", "miaf"), "image/avif"},
		"mov":             {ftyp("qt  ", "qt  "), "video/quicktime"},
		"mp4":             {ftyp("isom", "isom", "iso2", "avc1", "mp41"), "video/mp4"},
		"mp4 mp42":        {ftyp("mp42", "mp42", "isom"), "video/mp4"},
		"xavc":            {ftyp("XAVC", "XAVC", "mp42"), "video/mp4"},
		"3gp":             {ftyp("3gp5", "3gp5"), "video/3gpp"},
		"m4a":             {ftyp("M4A ", "M4A ", "mp42"), "audio/mp4"},
		"cr3":             {ftyp("crx ", "crx ", "isom"), "image/x-canon-cr3"},
		"truncated ftyp":  {[]byte("\x00\x00\x00\x18ftypheic"), "image/heic"},
		"tiff":            {tiff(0x100, 0x101), "image/tiff"},
		"dng":             {tiff(0x100, 0xC612), "image/x-adobe-dng"},
		"tiff big-endian": {[]byte("MM\x00*\x00\x00\x00\x08\x00\x00"), "image/tiff"},
		"cr2":             {[]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"), "image/x-canon-cr2"},
		"orf":             {[]byte("IIRO\x08\x00\x00\x00"), "image/x-olympus-orf"},
		"rw2":             {[]byte("IIU\x00\x18\x00\x00\x00"), "image/x-panasonic-rw2"},
		"raf":             {[]byte("FUJIFILMCCD-RAW 0201"), "image/x-fuji-raf"},
		"jxl":             {[]byte("\xFF\x0A\xFA\x7F"), "image/jxl"},
		"jxl box":         {[]byte("\x00\x00\x00\x0CJXL \r\n\x87\n"), "image/jxl"},
		"jp2":             {[]byte("\x00\x00\x00\x0CjP  \r\n\x87\n"), "image/jp2"},
		"psd":             {[]byte("8BPS\x00\x01"), "image/vnd.adobe.photoshop"},
		"bmp":             {append([]byte("BM"), make([]byte, 60)...), "image/bmp"},
		"avi":             {[]byte("RIFF\x00\x00\x00\x00AVI LIST"), "video/x-msvideo"},
		"webm":            {[]byte("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"},
		"mkv":             {[]byte("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"},
		"zip":             {[]byte("PK\x03\x04\x14\x00"), "application/zip"},
		"pdf":             {[]byte("%PDF-1.7\n"), "application/pdf"},
		"gzip":            {[]byte("\x1F\x8B\x08\x00"), "application/gzip"},
		"7z":              {[]byte("7z\xBC\xAF\x27\x1C\x00\x04"), "application/x-7z-compressed"},
		"rar":             {[]byte("Rar!\x1A\x07\x01\x00"), "application/vnd.rar"},
		"elf":             {[]byte("\x7FELF\x02\x01\x01"), "application/x-executable"},
		"pe":              {[]byte("MZ\x90\x00"), "application/vnd.microsoft.portable-executable"},
		"mach-o":          {[]byte("\xCF\xFA\xED\xFE\x07\x00"), "application/x-mach-binary"},
		"svg":             {[]byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "image/svg+xml"},
		"html":            {[]byte("<!DOCTYPE html><html><body>hi</body></html>"), "text/html"},
		"text":            {[]byte("just some words"), "text/plain"},
		"binary":          {[]byte{0, 1, 2, 3, 4, 5, 0xFE}, "application/octet-stream"},
		"ftyp bogus size": {[]byte("\xFF\xFF\xFF\xFFftypisom"), "video/mp4"},
		"tiff bad offset": {[]byte("II*\x00\xFF\xFF\xFF\x7F"), "image/tiff"},
		"tiff short":      {[]byte("II*\x00"), "image/tiff"},
	} {
		if got := DetectType(tc.head); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestCheckTypeSVGNeedsItsOwnEntry(t *testing.T) {
	h := holder(t, typeConfig, Options{})
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)
	wantCode(t, h.CheckType("photos", svg), s3err.InvalidArgument) // image/* does not cover SVG
	wantNil(t, h.CheckType("vector", svg))
}

func TestCheckTypeEmptyBody(t *testing.T) {
	h := holder(t, typeConfig, Options{})
	if !h.TypesRestricted("jpeg-only") || h.TypesRestricted("other") {
		t.Error("TypesRestricted")
	}
	wantNil(t, h.CheckType("jpeg-only", nil)) // zero-byte "folder/" markers
}

func TestCheckDeclaredType(t *testing.T) {
	obs := &observer{}
	h := holder(t, typeConfig, Options{Observer: obs})
	for ct, ok := range map[string]bool{
		"":                         true,
		"application/octet-stream": true,
		"binary/octet-stream":      true,
		"image/jpeg":               true,
		"IMAGE/PNG; foo=bar":       true,
		"video/mp4":                true,
		"text/html; charset=utf-8": false,
		"image/svg+xml":            false,
		"application/zip":          false,
		"video/x-matroska":         false,
		"garbage;;;":               false,
	} {
		err := h.CheckDeclaredType("photos", ct)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want allowed=%v", ct, err, ok)
		}
		if err != nil {
			wantCode(t, err, s3err.InvalidArgument)
		}
	}
	err := h.CheckDeclaredType("jpeg-only", "text/html")
	if e := s3err.From(err); e.Message != "declared content type text/html is not allowed in bucket jpeg-only (allowed: image/jpeg)" {
		t.Errorf("message %q", e.Message)
	}
	wantNil(t, h.CheckDeclaredType("other", "text/html"))
	if !strings.HasPrefix(obs.last(), ReasonType) {
		t.Errorf("observer %q", obs.last())
	}
}

func FuzzDetectType(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\xc6"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if DetectType(b) == "" {
			t.Fatal("empty type")
		}
	})
}
