package policy

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/photogate/photogate/mediatype"
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

// The sniffer's own tests (package mediatype) build headers in memory; this
// one runs it on the test photos, as CheckType sees them.
func TestSniffRealPhotos(t *testing.T) {
	dir := photosDir(t)
	for file, want := range map[string]string{
		"jpeg/pentax_k3ii_sunrise.jpg":            "image/jpeg",
		"jpeg/canon_sx60hs_orient6.jpg":           "image/jpeg",
		"png/pentax_k3ii_sunrise_exif.png":        "image/png",
		"webp/sunrise_lossy_noexif.webp":          "image/webp",
		"webp/pentax_k3ii_sunrise_exif.webp":      "image/webp",
		"heic/iphone11promax_gps.heic":            "image/heic",
		"heic/nokia83_hdr_exif_at_end.heif":       "image/heic",
		"avif/pentax_k3ii_sunset.avif":            "image/avif",
		"raw/canon_sd450_truncated.dng":           "image/x-adobe-dng",
		"malformed/goexif_fuzz_oom_90GB.tif":      "image/tiff",
		"malformed/png_bomb_30000x30000_1bit.png": "image/png",
	} {
		if got := mediatype.Sniff(head(t, filepath.Join(dir, file))); got != want {
			t.Errorf("%s: %s, want %s", file, got, want)
		}
	}
}

func TestCheckTypeRealPhotos(t *testing.T) {
	dir := photosDir(t)
	obs := &observer{}
	h := holder(t, typeConfig, Options{Observer: obs})
	for _, file := range []string{
		"jpeg/pentax_k3ii_sunrise.jpg", "png/pentax_k3ii_sunrise_exif.png",
		"webp/sunrise_lossy_noexif.webp", "heic/iphone11promax_gps.heic", "avif/pentax_k3ii_sunset.avif",
	} {
		wantNil(t, h.Caller("").CheckType("photos", head(t, filepath.Join(dir, file))))
	}
	wantNil(t, h.Caller("").CheckType("jpeg-only", head(t, filepath.Join(dir, "jpeg/iphone4s_lensinfo_gps_orient6.jpg"))))
	err := h.Caller("").CheckType("jpeg-only", head(t, filepath.Join(dir, "heic/iphone11promax_gps.heic")))
	if e := wantCode(t, err, s3err.InvalidArgument); e.Message != "content type image/heic is not allowed in bucket jpeg-only (allowed: image/jpeg)" {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != ReasonType {
		t.Errorf("observer %q", obs.last())
	}
	// Buckets without allowed_types take anything.
	wantNil(t, h.Caller("").CheckType("other", []byte("PK\x03\x04 anything")))
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
	err = h.Caller("").CheckType("photos", head(t, path))
	e := wantCode(t, err, s3err.InvalidArgument)
	if e.Code.Status() != 400 || e.Message != "content type application/zip is not allowed in bucket photos (allowed: image/*, video/mp4, video/quicktime)" {
		t.Errorf("%d %q", e.Code.Status(), e.Message)
	}
	wantNil(t, h.Caller("").CheckDeclaredType("photos", "image/jpeg")) // what the client claims does not rescue it
}

// An archive or executable whose bytes 4-7 spell an ISO BMFF ftyp box is
// still what its first bytes say, not the HEIC its "brands" claim.
func TestCheckTypeFtypImpostors(t *testing.T) {
	h := holder(t, typeConfig, Options{})
	for name, b := range map[string][]byte{
		"zip":  []byte("PK\x03\x04ftypheic\x00\x00\x00\x00mif1heic"),
		"gzip": []byte("\x1F\x8B\x08\x00ftypavif\x00\x00\x00\x00avifmif1"),
		"pe":   []byte("MZ\x90\x00ftypheic\x00\x00\x00\x00heic"),
	} {
		if err := h.Caller("").CheckType("photos", b); err == nil {
			t.Errorf("%s posing as an image was allowed", name)
		} else {
			wantCode(t, err, s3err.InvalidArgument)
		}
	}
}

func TestCheckTypeSVGNeedsItsOwnEntry(t *testing.T) {
	h := holder(t, typeConfig, Options{})
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)
	wantCode(t, h.Caller("").CheckType("photos", svg), s3err.InvalidArgument) // image/* does not cover SVG
	wantNil(t, h.Caller("").CheckType("vector", svg))
}

func TestCheckTypeEmptyBody(t *testing.T) {
	h := holder(t, typeConfig, Options{})
	if !h.Caller("").TypesRestricted("jpeg-only") || h.Caller("").TypesRestricted("other") {
		t.Error("TypesRestricted")
	}
	wantNil(t, h.Caller("").CheckType("jpeg-only", nil)) // zero-byte "folder/" markers
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
		err := h.Caller("").CheckDeclaredType("photos", ct)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want allowed=%v", ct, err, ok)
		}
		if err != nil {
			wantCode(t, err, s3err.InvalidArgument)
		}
	}
	err := h.Caller("").CheckDeclaredType("jpeg-only", "text/html")
	if e := s3err.From(err); e.Message != "declared content type text/html is not allowed in bucket jpeg-only (allowed: image/jpeg)" {
		t.Errorf("message %q", e.Message)
	}
	wantNil(t, h.Caller("").CheckDeclaredType("other", "text/html"))
	if !strings.HasPrefix(obs.last(), ReasonType) {
		t.Errorf("observer %q", obs.last())
	}
}
