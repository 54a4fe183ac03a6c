package extract

import "encoding/binary"

// sniffLen is the number of leading bytes needed to recognise every format
// we support (the ISOBMFF ftyp box may list several compatible brands).
const sniffLen = 64

// mimeFor maps a Format to its media type.
func mimeFor(format string) string {
	switch format {
	case "jpeg":
		return "image/jpeg"
	case "png":
		return "image/png"
	case "webp":
		return "image/webp"
	case "gif":
		return "image/gif"
	case "heic":
		return "image/heic"
	case "heif":
		return "image/heif"
	case "avif":
		return "image/avif"
	case "tiff":
		return "image/tiff"
	case "dng":
		return "image/x-adobe-dng"
	}
	return ""
}

// sniff identifies the format from magic bytes. DNG is a TIFF refined later
// by the IFD0 walk (DNGVersion tag), which updates Format and MIME.
func sniff(b []byte) (format, mime string) {
	f := sniffFormat(b)
	return f, mimeFor(f)
}

func sniffFormat(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return "gif"
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*"):
		return "tiff"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return bmffBrand(b)
	}
	return ""
}

// bmffBrand classifies an ISOBMFF file by its ftyp brands. Only still-image
// brands count: an MP4 or MOV (also ftyp) is not a photo.
func bmffBrand(b []byte) string {
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) {
		// A truncated or oversized ftyp: judge by what we have.
		size = len(b) &^ 3
	}
	major := b[8:12]
	if f := imageBrand(major); f != "" {
		return f
	}
	generic := isGenericBrand(major)
	// Compatible brands follow major_brand and minor_version.
	var f string
	for i := 16; i+4 <= size && i < 16+4*64; i += 4 {
		br := b[i : i+4]
		if g := imageBrand(br); g != "" && f == "" {
			f = g
		}
		if isGenericBrand(br) {
			generic = true
		}
	}
	switch {
	case f != "":
		return f
	case generic:
		return "heif"
	}
	return ""
}

func imageBrand(br []byte) string {
	switch string(br) {
	case "avif", "avis":
		return "avif"
	case "heic", "heix", "heim", "heis", "hevc", "hevx":
		return "heic"
	}
	return ""
}

// isGenericBrand reports the HEIF structural brands (image item, image
// sequence, MIAF) that do not name a codec.
func isGenericBrand(br []byte) bool {
	switch string(br) {
	case "mif1", "msf1", "miaf":
		return true
	}
	return false
}
