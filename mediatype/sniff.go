// Package mediatype names the media type of a file from its first bytes.
//
// It is the one sniffer photogate has: policy uses it to apply a bucket's
// allowed_types to an upload, and metastore/extract uses it to pick the
// metadata parser. Both must agree, or a file admitted as a photo could be
// indexed as something else (and the other way round). It is a leaf: it
// imports nothing from photogate.
package mediatype

import (
	"bytes"
	"encoding/binary"
	"mime"
	"net/http"
	"strings"
)

// Media types Sniff returns for the still-image formats callers branch on.
const (
	JPEG         = "image/jpeg"
	PNG          = "image/png"
	GIF          = "image/gif"
	WebP         = "image/webp"
	HEIC         = "image/heic"
	HEICSequence = "image/heic-sequence"
	HEIF         = "image/heif"
	HEIFSequence = "image/heif-sequence"
	AVIF         = "image/avif"
	TIFF         = "image/tiff"
	DNG          = "image/x-adobe-dng"
	CR2          = "image/x-canon-cr2"
	SVG          = "image/svg+xml"
)

// sniffLimit bounds how much of the head Sniff looks at: enough for an ftyp
// box's brand list and a TIFF's first directory, and a constant, so a caller
// passing a large buffer costs nothing extra.
const sniffLimit = 4096

// maxFtypLen bounds the brands read from an ftyp box: the major brand, the
// minor version and 64 compatible brands. Real files list fewer than ten.
const maxFtypLen = 16 + 4*64

// Sniff names the media type of a file from its first bytes (512 or more are
// best). It knows the photo and video formats photogate stores (JPEG, PNG,
// GIF, WebP, HEIC/HEIF/AVIF, JPEG XL, JPEG 2000, TIFF, DNG and camera raws,
// MP4, QuickTime, 3GP, AVI, Matroska/WebM) and the usual impostors (ZIP,
// PDF, gzip, 7z, RAR, executables, SVG, HTML), and falls back to
// net/http.DetectContentType. The result has no parameters and is never "".
func Sniff(head []byte) string {
	if len(head) > sniffLimit {
		head = head[:sniffLimit]
	}
	if t := sniffMagic(head); t != "" {
		return t
	}
	t, _, err := mime.ParseMediaType(http.DetectContentType(head))
	if err != nil {
		return "application/octet-stream"
	}
	// net/http calls SVG text/xml (or text/plain without a declaration),
	// which would hide that it is an image type that can run scripts. An
	// HTML page stays text/html even if it has an inline <svg>.
	if (t == "text/xml" || t == "text/plain") && looksLikeSVG(head) {
		return SVG
	}
	return t
}

func sniffMagic(b []byte) string {
	has := func(off int, sig string) bool {
		return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
	}
	// Signatures at offset 0 come before the ftyp box at offset 4: a ZIP,
	// gzip or executable whose bytes 4-7 read "ftyp" (by chance or crafted)
	// is still that to the programs that open it, and no real ftyp box is
	// big enough for its size field to spell one of these magics.
	switch {
	case has(0, "\x1A\x45\xDF\xA3"):
		if bytes.Contains(b[:min(len(b), 64)], []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return "application/zip"
	case has(0, "%PDF-"):
		return "application/pdf"
	case has(0, "\x1F\x8B"):
		return "application/gzip"
	case has(0, "7z\xBC\xAF\x27\x1C"):
		return "application/x-7z-compressed"
	case has(0, "Rar!\x1A\x07"):
		return "application/vnd.rar"
	case has(0, "\x7FELF"):
		return "application/x-executable"
	case has(0, "MZ"):
		return "application/vnd.microsoft.portable-executable"
	case has(0, "\xCF\xFA\xED\xFE"), has(0, "\xCE\xFA\xED\xFE"), has(0, "\xFE\xED\xFA\xCF"), has(0, "\xFE\xED\xFA\xCE"):
		return "application/x-mach-binary"
	case has(0, "\xFF\xD8\xFF"):
		return JPEG
	case has(0, "\x89PNG\r\n\x1A\n"):
		return PNG
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return GIF
	case has(0, "RIFF") && has(8, "WEBP"):
		return WebP
	case has(0, "RIFF") && has(8, "AVI "):
		return "video/x-msvideo"
	case has(0, "RIFF") && has(8, "WAVE"):
		return "audio/wav"
	case has(4, "ftyp"):
		return sniffFtyp(b)
	case has(0, "\x00\x00\x00\x0CJXL \r\n\x87\n"), has(0, "\xFF\x0A"):
		return "image/jxl"
	case has(0, "\x00\x00\x00\x0CjP  \r\n\x87\n"):
		return "image/jp2"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return sniffTIFF(b)
	case has(0, "II+\x00"), has(0, "MM\x00+"): // BigTIFF
		return TIFF
	case has(0, "IIRO"), has(0, "IIRS"), has(0, "MMOR"):
		return "image/x-olympus-orf"
	case has(0, "IIU\x00"):
		return "image/x-panasonic-rw2"
	case has(0, "FUJIFILMCCD-RAW"):
		return "image/x-fuji-raf"
	case has(0, "8BPS"):
		return "image/vnd.adobe.photoshop"
	}
	return ""
}

// sniffFtyp reads an ISO BMFF ftyp box (ISO/IEC 14496-12): the major brand,
// the minor version, then compatible brands. Still-image brands win over
// everything else, because HEIC and AVIF files often carry mif1, miaf or a
// video brand too; among them the major brand decides, else the first listed.
func sniffFtyp(b []byte) string {
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) {
		// A truncated head, a size of 0 (box runs to the end of the file),
		// 1 (64-bit size follows) or a bogus one: judge by what is there.
		size = len(b)
	}
	size = min(size, maxFtypLen)
	if size < 12 {
		return ""
	}
	major := string(b[8:12])
	brands := []string{major}
	for off := 16; off+4 <= size; off += 4 {
		brands = append(brands, string(b[off:off+4]))
	}
	hasBrand := func(set ...string) bool {
		for _, br := range brands {
			for _, s := range set {
				if br == s {
					return true
				}
			}
		}
		return false
	}
	for _, br := range brands {
		if t := stillImageBrand(br); t != "" {
			return t
		}
	}
	switch {
	case major == "crx ":
		return "image/x-canon-cr3"
	case hasBrand("mif1", "miaf"):
		return HEIF // an image item whose codec no brand names
	case hasBrand("hevc", "hevx", "hevm", "hevs"):
		return HEICSequence
	case hasBrand("msf1"):
		return HEIFSequence
	case hasBrand("jxl "):
		return "image/jxl"
	case major == "qt  ":
		return "video/quicktime"
	case strings.HasPrefix(major, "3g2"):
		return "video/3gpp2"
	case strings.HasPrefix(major, "3gp"):
		return "video/3gpp"
	case major == "M4A " || major == "M4B ":
		return "audio/mp4"
	}
	for _, br := range brands {
		for _, p := range []string{"iso", "mp4", "mp7", "avc", "dash", "M4V", "MSNV", "XAVC", "f4v", "mmp4", "NDAS"} {
			if strings.HasPrefix(br, p) {
				return "video/mp4"
			}
		}
	}
	return "" // an ftyp we do not know: let net/http try
}

// stillImageBrand maps the brands of HEIF still images (ISO/IEC 23008-12
// Annex B: HEVC main, main 10/RExt, multi-layer and scalable images) and of
// AVIF (AV1 image and image sequence, both image/avif) to their media type.
func stillImageBrand(br string) string {
	switch br {
	case "heic", "heix", "heim", "heis":
		return HEIC
	case "avif", "avis":
		return AVIF
	}
	return ""
}

// sniffTIFF tells DNG and Canon CR2 from plain TIFF (and TIFF-based raws
// such as NEF and ARW, which stay image/tiff). It walks only the first
// directory and only inside b, so it is bounded by the head's size.
func sniffTIFF(b []byte) string {
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		order = binary.BigEndian
	}
	if len(b) >= 10 && string(b[8:10]) == "CR" {
		return CR2
	}
	if len(b) < 8 {
		return TIFF
	}
	off := int(order.Uint32(b[4:8]))
	if off < 8 || off+2 > len(b) {
		return TIFF
	}
	n := int(order.Uint16(b[off:]))
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if e+2 > len(b) {
			break
		}
		if order.Uint16(b[e:]) == 0xC612 { // DNGVersion
			return DNG
		}
	}
	return TIFF
}

// looksLikeSVG finds an <svg element near the start of a text file, past an
// XML declaration, comments or a doctype.
func looksLikeSVG(b []byte) bool {
	text := bytes.TrimLeft(b, "\xEF\xBB\xBF \t\r\n")
	if len(text) == 0 || text[0] != '<' {
		return false
	}
	return bytes.Contains(bytes.ToLower(text[:min(len(text), 1024)]), []byte("<svg"))
}
