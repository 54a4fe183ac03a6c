package extract

import "encoding/binary"

// Loop bounds for container walks. Each iteration advances by at least a
// header, so these only matter for inputs built to make us iterate; they sit
// far above what real files contain.
const (
	maxSegments = 1024 // JPEG marker segments before SOS
	maxChunks   = 1024 // PNG or RIFF chunks before the metadata
)

// setExif records where the EXIF TIFF structure is: its header is at off and
// the payload is n bytes long. Only the first EXIF payload counts.
func (x *extraction) setExif(off, n int64) {
	if x.hasExif || n <= 0 {
		return
	}
	x.hasExif, x.exifOff, x.exifLen = true, off, n
}

// setExifBlob records an EXIF payload that may start with the JPEG-style
// "Exif\0\0" marker (some PNG and WebP writers keep it, the specs do not).
func (x *extraction) setExifBlob(off, n int64) {
	if n >= 6 {
		if b := x.s.at(off, 6); b != nil && string(b[:4]) == "Exif" && b[4] == 0 {
			off, n = off+6, n-6
		}
	}
	x.setExif(off, n)
}

func (x *extraction) setDims(w, h uint64) {
	if x.p.Width != 0 || w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return
	}
	x.p.Width, x.p.Height = int(w), int(h)
}

// jpeg walks marker segments up to the start of scan, taking the first APP1
// "Exif" payload and the first SOFn frame header. Pixels are never touched.
func (x *extraction) jpeg() {
	s := x.s
	off := int64(2) // after SOI
	for range maxSegments {
		if x.hasExif && x.p.Width != 0 {
			return
		}
		b := s.at(off, 2)
		if b == nil {
			return
		}
		if b[0] != 0xFF {
			// Garbage between segments; decoders resync by scanning for
			// the next marker, which metadata does not need.
			x.corrupt = true
			x.note("JPEG: bytes between segments")
			return
		}
		m := b[1]
		switch {
		case m == 0xFF: // fill byte before a marker
			off++
			continue
		case m == 0x01 || m >= 0xD0 && m <= 0xD8: // TEM, RSTn, SOI: no length
			off += 2
			continue
		case m == 0xD9 || m == 0xDA: // EOI, SOS: no metadata past here
			return
		}
		lb := s.at(off+2, 2)
		if lb == nil {
			return
		}
		segLen := int64(binary.BigEndian.Uint16(lb))
		if segLen < 2 {
			x.corrupt = true
			x.note("JPEG: bad segment length")
			return
		}
		data, n := off+4, segLen-2
		switch {
		case m == 0xE1 && !x.hasExif && n >= 6:
			h := s.at(data, 6)
			if h == nil {
				return
			}
			if string(h[:4]) == "Exif" && h[4] == 0 {
				x.setExif(data+6, n-6)
			}
		case isSOF(m) && x.p.Width == 0 && n >= 5:
			f := s.at(data, 5)
			if f == nil {
				return
			}
			// precision, height, width; height 0 means "defined by a
			// later DNL marker", which we leave unknown.
			x.setDims(uint64(binary.BigEndian.Uint16(f[3:5])), uint64(binary.BigEndian.Uint16(f[1:3])))
		}
		off = data + n
	}
	x.corrupt = true
	x.note("JPEG: too many segments")
}

// isSOF reports the start-of-frame markers SOF0..SOF15, which share their
// code range with DHT (C4), JPG (C8) and DAC (CC).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// png walks chunks up to the first IDAT: IHDR gives the dimensions and eXIf
// the EXIF payload, which the PNG spec places before the image data. Not
// looking past IDAT keeps a PNG without EXIF from triggering a full read.
func (x *extraction) png() {
	s := x.s
	off := int64(8)
	for i := range maxChunks {
		b := s.at(off, 8)
		if b == nil {
			return
		}
		n := int64(binary.BigEndian.Uint32(b))
		if n > 1<<31-1 {
			x.corrupt = true
			x.note("PNG: bad chunk length")
			return
		}
		typ := string(b[4:8])
		data := off + 8
		switch {
		case typ == "IHDR" && i == 0 && n >= 8:
			d := s.at(data, 8)
			if d == nil {
				return
			}
			x.setDims(uint64(binary.BigEndian.Uint32(d)), uint64(binary.BigEndian.Uint32(d[4:])))
		case typ == "eXIf":
			x.setExifBlob(data, n)
			return
		case typ == "IDAT" || typ == "IEND":
			return
		}
		off = data + n + 4 // + CRC
	}
	x.corrupt = true
	x.note("PNG: too many chunks")
}

// webp walks RIFF chunks: VP8X (extended: canvas size and metadata flags),
// or the lone VP8/VP8L bitstream of a simple file, then EXIF. The EXIF chunk
// normally follows the bitstream, so it is often beyond the prefix; only a
// VP8X that promises EXIF makes that worth a full read. Without the promise,
// the bytes already in memory are still searched, since some writers add
// the chunk but forget the flag.
func (x *extraction) webp() {
	s := x.s
	rh := s.at(4, 4)
	if rh == nil {
		return
	}
	end := 8 + int64(binary.LittleEndian.Uint32(rh))
	off := int64(12)
	extended, promised := false, false
	for range maxChunks {
		if off+8 > end {
			if promised && !x.hasExif {
				x.note("WebP: EXIF flag set but no EXIF chunk")
				x.corrupt = true
			}
			return
		}
		if extended && !promised && !s.inHead(off, 8) {
			return
		}
		b := s.at(off, 8)
		if b == nil {
			return
		}
		n := int64(binary.LittleEndian.Uint32(b[4:]))
		data := off + 8
		switch string(b[:4]) {
		case "VP8X":
			if n < 10 {
				x.corrupt = true
				x.note("WebP: short VP8X chunk")
				return
			}
			d := s.at(data, 10)
			if d == nil {
				return
			}
			x.setDims(1+le24(d[4:7]), 1+le24(d[7:10]))
			extended, promised = true, d[0]&0x08 != 0
		case "VP8 ":
			// VP8X, when present, already gave the canvas size.
			if x.p.Width == 0 && n >= 10 {
				if d := s.at(data, 10); d != nil && d[3] == 0x9D && d[4] == 0x01 && d[5] == 0x2A {
					// 14-bit sizes; the top two bits are upscaling hints.
					x.setDims(uint64(binary.LittleEndian.Uint16(d[6:])&0x3FFF), uint64(binary.LittleEndian.Uint16(d[8:])&0x3FFF))
				}
			}
			if !extended {
				return // a simple file holds only the bitstream
			}
		case "VP8L":
			if x.p.Width == 0 && n >= 5 {
				if d := s.at(data, 5); d != nil && d[0] == 0x2F {
					bits := binary.LittleEndian.Uint32(d[1:])
					x.setDims(uint64(bits&0x3FFF)+1, uint64(bits>>14&0x3FFF)+1)
				}
			}
			if !extended {
				return
			}
		case "EXIF":
			x.setExifBlob(data, n)
			return
		}
		if s.err != nil {
			return
		}
		off = data + n + n&1 // chunks are padded to even sizes
	}
	x.corrupt = true
	x.note("WebP: too many chunks")
}

func le24(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
}

// gif reads the logical screen size; GIF carries no EXIF.
func (x *extraction) gif() {
	if b := x.s.at(6, 4); b != nil {
		x.setDims(uint64(binary.LittleEndian.Uint16(b)), uint64(binary.LittleEndian.Uint16(b[2:])))
	}
}
