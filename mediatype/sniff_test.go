package mediatype

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// ftyp builds an ISO BMFF ftyp box with the given brands, followed by padding.
func ftyp(major string, compat ...string) []byte {
	b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
	b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
	for _, c := range compat {
		b = append(b, c...)
	}
	return append(b, make([]byte, 64)...)
}

// tiff builds a little-endian TIFF header whose IFD0 holds the given tags.
func tiff(tags ...uint16) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = append(b, byte(len(tags)), 0)
	for _, tag := range tags {
		b = append(b, byte(tag), byte(tag>>8), 3, 0, 1, 0, 0, 0, 0, 0, 0, 0)
	}
	return b
}

// The first bytes of the test photos under testdata/photos, copied
// here because this package's tests do not read files.
var (
	iphone15HEIC = []byte("\x00\x00\x00\x2cftypheic\x00\x00\x00\x00mif1MiHBMiHEMiPrmiafheictmap\x00\x00\x79\x7b")
	iphone11HEIC = []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1\x00\x00\x0b\xafmeta")
	nokiaHEIF    = []byte("\x00\x00\x00\x20ftypheic\x00\x00\x00\x00mif1heicmiafMiHB\x00\x00\x0d\x15meta")
	pentaxAVIF   = []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf\x00\x00\x0d\xb6meta")
)

func TestSniff(t *testing.T) {
	for name, tc := range map[string]struct {
		head []byte
		want string
	}{
		"jpeg":             {[]byte("\xFF\xD8\xFF\xE1\x00\x18Exif\x00\x00"), JPEG},
		"png":              {[]byte("\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR"), PNG},
		"webp":             {[]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), WebP},
		"gif":              {[]byte("GIF89a\x01\x00\x01\x00"), GIF},
		"iphone 15 heic":   {iphone15HEIC, HEIC},
		"iphone 11 heic":   {iphone11HEIC, HEIC},
		"nokia heif":       {nokiaHEIF, HEIC},
		"pentax avif":      {pentaxAVIF, AVIF},
		"heic mif1":        {ftyp("mif1", "mif1", "heic"), HEIC},
		"heix":             {ftyp("heix", "mif1", "heix"), HEIC},
		"heif":             {ftyp("mif1", "mif1", "miaf"), HEIF},
		"avif":             {ftyp("avif", "mif1", "miaf"), AVIF},
		"avif sequence":    {ftyp("avis", "avis", "msf1", "miaf"), AVIF},
		"major decides":    {ftyp("avif", "heic", "avif"), AVIF},
		"first compatible": {ftyp("mif1", "heic", "avif"), HEIC},
		"image over video": {ftyp("isom", "isom", "avif"), AVIF},
		"heic sequence":    {ftyp("msf1", "msf1", "hevc"), HEICSequence},
		"heif sequence":    {ftyp("msf1", "msf1", "iso8"), HEIFSequence},
		"mov":              {ftyp("qt  ", "qt  "), "video/quicktime"},
		"mp4":              {ftyp("isom", "isom", "iso2", "avc1", "mp41"), "video/mp4"},
		"mp4 mp42":         {ftyp("mp42", "mp42", "isom"), "video/mp4"},
		"xavc":             {ftyp("XAVC", "XAVC", "mp42"), "video/mp4"},
		"3gp":              {ftyp("3gp5", "3gp5"), "video/3gpp"},
		"3g2":              {ftyp("3g2a", "3g2a"), "video/3gpp2"},
		"m4a":              {ftyp("M4A ", "M4A ", "mp42"), "audio/mp4"},
		"cr3":              {ftyp("crx ", "crx ", "isom"), "image/x-canon-cr3"},
		"jxl ftyp":         {ftyp("jxl ", "jxl "), "image/jxl"},
		"truncated ftyp":   {[]byte("\x00\x00\x00\x18ftypheic"), HEIC},
		"ftyp bogus size":  {[]byte("\xFF\xFF\xFF\xFFftypisom"), "video/mp4"},
		"ftyp too short":   {[]byte("\x00\x00\x00\x18ftyphe"), "application/octet-stream"},
		"ftyp unknown":     {ftyp("abcd", "efgh"), "application/octet-stream"},
		"tiff":             {tiff(0x100, 0x101), TIFF},
		"dng":              {tiff(0x100, 0xC612), DNG},
		"tiff big-endian":  {[]byte("MM\x00*\x00\x00\x00\x08\x00\x00"), TIFF},
		"bigtiff":          {[]byte("II+\x00\x08\x00\x00\x00"), TIFF},
		"cr2":              {[]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"), CR2},
		"orf":              {[]byte("IIRO\x08\x00\x00\x00"), "image/x-olympus-orf"},
		"rw2":              {[]byte("IIU\x00\x18\x00\x00\x00"), "image/x-panasonic-rw2"},
		"raf":              {[]byte("FUJIFILMCCD-RAW 0201"), "image/x-fuji-raf"},
		"jxl":              {[]byte("\xFF\x0A\xFA\x7F"), "image/jxl"},
		"jxl box":          {[]byte("\x00\x00\x00\x0CJXL \r\n\x87\n"), "image/jxl"},
		"jp2":              {[]byte("\x00\x00\x00\x0CjP  \r\n\x87\n"), "image/jp2"},
		"psd":              {[]byte("8BPS\x00\x01"), "image/vnd.adobe.photoshop"},
		"bmp":              {append([]byte("BM"), make([]byte, 60)...), "image/bmp"},
		"avi":              {[]byte("RIFF\x00\x00\x00\x00AVI LIST"), "video/x-msvideo"},
		"wav":              {[]byte("RIFF\x00\x00\x00\x00WAVEfmt "), "audio/wav"},
		"webm":             {[]byte("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"},
		"mkv":              {[]byte("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"},
		"zip":              {[]byte("PK\x03\x04\x14\x00"), "application/zip"},
		"pdf":              {[]byte("%PDF-1.7\n"), "application/pdf"},
		"gzip":             {[]byte("\x1F\x8B\x08\x00"), "application/gzip"},
		"7z":               {[]byte("7z\xBC\xAF\x27\x1C\x00\x04"), "application/x-7z-compressed"},
		"rar":              {[]byte("Rar!\x1A\x07\x01\x00"), "application/vnd.rar"},
		"elf":              {[]byte("\x7FELF\x02\x01\x01"), "application/x-executable"},
		"pe":               {[]byte("MZ\x90\x00"), "application/vnd.microsoft.portable-executable"},
		"mach-o":           {[]byte("\xCF\xFA\xED\xFE\x07\x00"), "application/x-mach-binary"},
		"svg":              {[]byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), SVG},
		"svg no decl":      {[]byte("\xEF\xBB\xBF\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), SVG},
		"html":             {[]byte("<!DOCTYPE html><html><body>hi<svg></svg></body></html>"), "text/html"},
		"text":             {[]byte("just some words"), "text/plain"},
		"empty":            {nil, "text/plain"},
		"binary":           {[]byte{0, 1, 2, 3, 4, 5, 0xFE}, "application/octet-stream"},
		"tiff bad offset":  {[]byte("II*\x00\xFF\xFF\xFF\x7F"), TIFF},
		"tiff short":       {[]byte("II*\x00"), TIFF},
		// Impostors whose bytes 4-7 spell ftyp stay what their magic says.
		"zip posing as heic":  {[]byte("PK\x03\x04ftypheic\x00\x00\x00\x00mif1heic"), "application/zip"},
		"gzip posing as avif": {[]byte("\x1F\x8B\x08\x00ftypavif\x00\x00\x00\x00avif"), "application/gzip"},
		"pe posing as heic":   {[]byte("MZ\x90\x00ftypheic\x00\x00\x00\x00heic"), "application/vnd.microsoft.portable-executable"},
		"elf posing as mp4":   {[]byte("\x7FELFftypisom\x00\x00\x00\x00isom"), "application/x-executable"},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

// A real archive, built by archive/zip, whatever its first entry holds, is
// never an image: an upload to an image-only bucket must be refused.
func TestSniffZipIsNeverAnImage(t *testing.T) {
	for name, payload := range map[string][]byte{
		"jpeg inside": append([]byte("\xFF\xD8\xFF\xE0"), make([]byte, 600)...),
		"heic inside": iphone15HEIC,
		"empty":       nil,
	} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "photo.jpg", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if got := Sniff(buf.Bytes()); got != "application/zip" {
			t.Errorf("%s: %s", name, got)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(iphone15HEIC); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := Sniff(gz.Bytes()); got != "application/gzip" {
		t.Errorf("gzip: %s", got)
	}
}

// Only the first sniffLimit bytes count: a DNGVersion tag past them is not
// looked for, and a long head costs no more than a short one.
func TestSniffLooksOnlyAtTheHead(t *testing.T) {
	head := []byte("II*\x00\x08\x00\x00\x00")
	n := (sniffLimit + 64) / 12
	head = append(head, byte(n), byte(n>>8))
	for i := 0; i < n; i++ {
		tag := uint16(0x100)
		if i == n-1 {
			tag = 0xC612
		}
		head = append(head, byte(tag), byte(tag>>8), 3, 0, 1, 0, 0, 0, 0, 0, 0, 0)
	}
	if got := Sniff(head); got != TIFF {
		t.Errorf("DNGVersion beyond the limit: %s", got)
	}
	if got := Sniff(tiff(0xC612)); got != DNG {
		t.Errorf("DNGVersion within the limit: %s", got)
	}
}

// FuzzSniff: any input gives a parameterless media type, without panicking
// and without reading past the head limit (an input differing only after
// sniffLimit gets the same answer).
//
//	go test -run='^$' -fuzz=FuzzSniff -fuzztime=3m ./mediatype/
func FuzzSniff(f *testing.F) {
	for _, seed := range [][]byte{
		iphone15HEIC, iphone11HEIC, nokiaHEIF, pentaxAVIF,
		ftyp("isom", "isom", "avc1"), ftyp("msf1", "hevc"), ftyp("crx ", "isom"),
		tiff(0x100, 0xC612), []byte("MM\x00*\x00\x00\x00\x08\xff\xff"),
		[]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"),
		[]byte("PK\x03\x04ftypheic"), []byte("\xFF\xFF\xFF\xFFftypisom"),
		[]byte("<svg/>"), []byte("RIFF\x00\x00\x00\x00WEBPVP8X"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Sniff(b)
		if got == "" || strings.ContainsAny(got, "; ") || !strings.Contains(got, "/") {
			t.Fatalf("Sniff = %q", got)
		}
		if len(b) > sniffLimit {
			tail := bytes.Repeat([]byte{0xA5}, len(b)-sniffLimit)
			if other := Sniff(append(b[:sniffLimit:sniffLimit], tail...)); other != got {
				t.Fatalf("bytes past the limit changed %q to %q", got, other)
			}
		}
	})
}
