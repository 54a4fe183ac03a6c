package extract

import (
	"encoding/binary"
	"math"

	"github.com/photogate/photogate/mediatype"
)

const (
	maxIFDEntries = 1024 // entries read from one IFD (real ones have < 100)
	maxSubIFDs    = 16   // DNG SubIFDs considered
)

// ifd holds the IFD entries needed for dimensions and DNG detection.
type ifd struct {
	w, h    uint64
	subfile uint32 // NewSubfileType; bit 0: reduced-resolution copy
	subs    []int64
	dng     bool
}

// tiff handles TIFF and TIFF-based raw files (DNG). Dimensions come from
// IFD0, or for DNG (or when IFD0 says it is a reduced-resolution copy) from
// the largest SubIFD; the whole file is the EXIF TIFF structure.
func (x *extraction) tiff() {
	s := x.s
	h := s.at(0, 8)
	if h == nil {
		return
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if h[0] == 'M' {
		bo = binary.BigEndian
	}
	ifd0 := int64(bo.Uint32(h[4:]))
	if ifd0 < 8 {
		x.corrupt = true
		x.note("TIFF: bad IFD0 offset")
		return
	}
	d, ok := x.readIFD(bo, ifd0, true)
	if !ok {
		return
	}
	if d.dng {
		x.p.Format, x.p.MIME = "dng", mediatype.DNG
	}
	w, hh := d.w, d.h
	// In DNG (and in TIFF-based raws generally) IFD0 is often a preview
	// flagged as reduced-resolution; the full image is a SubIFD.
	if d.dng || d.subfile&1 != 0 {
		var bw, bh uint64
		for _, off := range d.subs {
			sd, ok := x.readIFD(bo, off, false)
			if !ok {
				break
			}
			// Values are at most 32 bits wide, so the products fit.
			if sd.w*sd.h > bw*bh {
				bw, bh = sd.w, sd.h
			}
		}
		if bw != 0 && bh != 0 {
			w, hh = bw, bh
		}
	}
	x.setDims(w, hh)

	n := int64(math.MaxInt64)
	if s.size >= 0 {
		n = s.size
	}
	x.setExif(0, n)
}

// readIFD reads the dimension, SubIFD and DNGVersion entries of the IFD at
// off. It reports false when the IFD could not be read (the reason is
// recorded on the source or the extraction).
func (x *extraction) readIFD(bo binary.ByteOrder, off int64, top bool) (ifd, bool) {
	var d ifd
	var subCount, subVal uint32
	ok := x.scanIFD(bo, 0, off, func(tag, typ uint16, cnt uint32, val []byte) {
		switch tag {
		case 0x0100, 0x0101: // ImageWidth, ImageLength
			var v uint64
			switch {
			case typ == 3 && cnt >= 1:
				v = uint64(bo.Uint16(val))
			case typ == 4 && cnt >= 1:
				v = uint64(bo.Uint32(val))
			}
			if tag == 0x0100 {
				d.w = v
			} else {
				d.h = v
			}
		case 0x00FE: // NewSubfileType
			if typ == 4 && cnt >= 1 {
				d.subfile = bo.Uint32(val)
			}
		case 0x014A: // SubIFDs (LONG or IFD)
			if top && (typ == 4 || typ == 13) {
				subCount, subVal = cnt, bo.Uint32(val)
			}
		case 0xC612: // DNGVersion
			d.dng = true
		}
	})
	if !ok {
		return d, false
	}
	switch {
	case subCount == 1:
		d.subs = append(d.subs, int64(subVal))
	case subCount > 1:
		n := int(min(subCount, maxSubIFDs))
		if arr := x.s.at(int64(subVal), n*4); arr != nil {
			for i := range n {
				d.subs = append(d.subs, int64(bo.Uint32(arr[i*4:])))
			}
		}
	}
	return d, true
}

// scanIFD calls fn for each entry of the IFD at base+off (offsets in a TIFF
// structure are relative to its header at base). val is the 4-byte value
// field; fn must copy what it keeps, as the next read may reuse the buffer.
func (x *extraction) scanIFD(bo binary.ByteOrder, base, off int64, fn func(tag, typ uint16, cnt uint32, val []byte)) bool {
	s := x.s
	cb := s.at(base+off, 2)
	if cb == nil {
		return false
	}
	count := int(bo.Uint16(cb))
	if count > maxIFDEntries {
		x.corrupt = true
		count = maxIFDEntries
	}
	ents := s.at(base+off+2, count*12)
	if ents == nil {
		return false
	}
	for i := range count {
		e := ents[i*12 : i*12+12]
		fn(bo.Uint16(e), bo.Uint16(e[2:]), bo.Uint32(e[4:]), e[8:12])
	}
	return true
}
