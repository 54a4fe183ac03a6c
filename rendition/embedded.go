package rendition

import (
	"bytes"
	"image/jpeg"
)

// maxEmbeddedCandidates bounds the scan: a hostile file full of JPEG
// start markers must not cost a header parse per byte.
const maxEmbeddedCandidates = 256

// jpegStart is a JPEG start-of-image marker and the next marker's 0xFF.
const jpegStart = "\xFF\xD8\xFF"

// largestEmbeddedJPEG finds the largest JPEG inside a container (a camera
// raw's preview, a HEIC's EXIF thumbnail) that Go's JPEG decoder accepts
// the header of and whose pixel count is within maxPixels. It returns the
// bytes from that JPEG's start to the end of data (decoders stop at its
// end marker) and its longest side, or nil. The container itself, when it
// starts as a JPEG, is skipped.
func largestEmbeddedJPEG(data []byte, maxPixels int64) (jpegData []byte, longest int) {
	var bestArea int64
	tried := 0
	for off := 1; off < len(data) && tried < maxEmbeddedCandidates; {
		i := bytes.Index(data[off:], []byte(jpegStart))
		if i < 0 {
			break
		}
		start := off + i
		off = start + len(jpegStart)
		tried++
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data[start:]))
		if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
			continue // a lossless raw stream (SOF3) or a chance byte pattern
		}
		area := int64(cfg.Width) * int64(cfg.Height)
		if area > maxPixels || area <= bestArea {
			continue
		}
		jpegData, bestArea, longest = data[start:], area, max(cfg.Width, cfg.Height)
	}
	return jpegData, longest
}
