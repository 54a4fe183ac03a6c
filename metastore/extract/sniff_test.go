package extract

import (
	"context"
	"testing"

	"github.com/photogate/photogate/mediatype"
)

// The extractor picks its parser from the same sniffer policy checks
// allowed_types with; these are the places where the media type alone does
// not say which parser runs.
func TestSniffFormat(t *testing.T) {
	for name, tc := range map[string]struct {
		head         []byte
		format, mime string
	}{
		"heic":           {[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1"), "heic", mediatype.HEIC},
		"heic sequence":  {[]byte("\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00msf1hevc"), "heic", mediatype.HEICSequence},
		"heif":           {[]byte("\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf"), "heif", mediatype.HEIF},
		"avif":           {[]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), "avif", mediatype.AVIF},
		"mp4":            {[]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), "", "video/mp4"},
		"cr3":            {[]byte("\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom"), "", "image/x-canon-cr3"},
		"zip as heic":    {[]byte("PK\x03\x04ftypheic\x00\x00\x00\x00mif1heic"), "", "application/zip"},
		"tiff":           {[]byte("MM\x00*\x00\x00\x00\x08\x00\x00"), "tiff", mediatype.TIFF},
		"cr2 is a tiff":  {[]byte("II*\x00\x10\x00\x00\x00CR\x02\x00"), "tiff", mediatype.CR2},
		"bigtiff":        {[]byte("II+\x00\x08\x00\x00\x00\x00\x00\x00\x00"), "", mediatype.TIFF},
		"orf":            {[]byte("IIRO\x08\x00\x00\x00"), "", "image/x-olympus-orf"},
		"text":           {[]byte("hello"), "", "text/plain"},
		"svg not parsed": {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), "", mediatype.SVG},
	} {
		format, mime := sniff(tc.head)
		if format != tc.format || mime != tc.mime {
			t.Errorf("%s: %q %q, want %q %q", name, format, mime, tc.format, tc.mime)
		}
	}
}

// A DNG whose DNGVersion tag is in the sniffed head is a DNG from the start
// and runs the TIFF parser.
func TestSniffDNGRunsTheTIFFParser(t *testing.T) {
	w := newTIFF()
	w.ifd(tShort(0x100, 640), tShort(0x101, 480), tByte(0xC612, 1))
	p := FromPrefix(context.Background(), w.buf, int64(len(w.buf)))
	if p.Format != "dng" || p.MIME != mediatype.DNG || p.Width != 640 || p.Height != 480 {
		t.Errorf("%+v", p)
	}
}
