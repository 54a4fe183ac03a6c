package extract

import "github.com/photogate/photogate/mediatype"

// sniffLen is the number of leading bytes needed to recognise every format
// we support (the ISOBMFF ftyp box may list several compatible brands).
const sniffLen = 64

// mimeFor maps a Format to the media type mediatype.Sniff gives it.
func mimeFor(format string) string {
	switch format {
	case "jpeg":
		return mediatype.JPEG
	case "png":
		return mediatype.PNG
	case "webp":
		return mediatype.WebP
	case "gif":
		return mediatype.GIF
	case "heic":
		return mediatype.HEIC
	case "heif":
		return mediatype.HEIF
	case "avif":
		return mediatype.AVIF
	case "tiff":
		return mediatype.TIFF
	case "dng":
		return mediatype.DNG
	}
	return ""
}

// sniff identifies the format from magic bytes with the same sniffer policy
// applies allowed_types with, so what was admitted as a photo is parsed as
// one. mime is never empty: for a non-image it names what the bytes are.
// DNG whose DNGVersion tag lies beyond the sniffer's head is refined later
// by the IFD0 walk, which updates Format and MIME.
func sniff(b []byte) (format, mime string) {
	mime = mediatype.Sniff(b)
	return formatOf(mime, b), mime
}

// formatOf picks the parser for a sniffed media type; "" for types we read
// no metadata from (video, other raws, anything not an image).
func formatOf(mime string, b []byte) string {
	switch mime {
	case mediatype.JPEG:
		return "jpeg"
	case mediatype.PNG:
		return "png"
	case mediatype.WebP:
		return "webp"
	case mediatype.GIF:
		return "gif"
	case mediatype.HEIC, mediatype.HEICSequence:
		return "heic"
	case mediatype.HEIF, mediatype.HEIFSequence:
		return "heif"
	case mediatype.AVIF:
		return "avif"
	case mediatype.TIFF, mediatype.CR2:
		// BigTIFF shares the media type but not the layout tiff() reads:
		// its header says 43, not 42, and its offsets are 64-bit.
		if len(b) >= 4 && (string(b[2:4]) == "*\x00" || string(b[2:4]) == "\x00*") {
			return "tiff"
		}
	case mediatype.DNG:
		return "dng"
	}
	return ""
}
