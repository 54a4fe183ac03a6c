package extract

import (
	"encoding/binary"
	"math"
)

// ISOBMFF (HEIF, HEIC, AVIF) is walked just enough to find two things in the
// top-level meta box: the primary item's ispe (stored size) with its
// irot/imir (display transform), and the file range of the Exif item. The
// meta box is read into memory once (bounded by maxMetaBox) and parsed from
// that slice with a cursor whose every read is bounds-checked.

const (
	maxTopBoxes = 256  // top-level boxes before meta
	maxBoxes    = 4096 // child boxes visited per parent box
	maxProps    = 1024 // ispe/irot/imir properties remembered from ipco
	maxExifIDs  = 16   // Exif items considered
)

// box is one parsed box: its type, its payload and the payload's offset in
// the file (needed to resolve idat-relative item locations).
type box struct {
	typ     [4]byte // not a string: converting would allocate per box
	payload []byte
	off     int64
}

// eachBox iterates the boxes in b (which starts at file offset base) and
// stops when fn returns false or the structure is malformed; it returns
// false on malformed structure.
func eachBox(b []byte, base int64, fn func(box) bool) bool {
	p := 0
	for range maxBoxes {
		if p == len(b) {
			return true
		}
		if len(b)-p < 8 {
			return false
		}
		size := uint64(binary.BigEndian.Uint32(b[p:]))
		hdr := 8
		switch size {
		case 0: // extends to the end of the parent
			size = uint64(len(b) - p)
		case 1: // 64-bit size follows the type
			if len(b)-p < 16 {
				return false
			}
			size = binary.BigEndian.Uint64(b[p+8:])
			hdr = 16
		}
		if size < uint64(hdr) || size > uint64(len(b)-p) {
			return false
		}
		bx := box{typ: [4]byte(b[p+4 : p+8]), payload: b[p+hdr : p+int(size)], off: base + int64(p+hdr)}
		if !fn(bx) {
			return true
		}
		p += int(size)
	}
	return false
}

// cursor reads big-endian fields from a slice. A read past the end sets bad
// and yields zeros, so parsers check bad once per loop, not per field.
type cursor struct {
	b   []byte
	p   int
	bad bool
}

func (c *cursor) take(n int) []byte {
	if c.bad || n < 0 || len(c.b)-c.p < n {
		c.bad = true
		return nil
	}
	v := c.b[c.p : c.p+n]
	c.p += n
	return v
}

func (c *cursor) u8() uint8 {
	if v := c.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if v := c.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// uN reads an n-byte unsigned field (iloc's variable-size fields).
func (c *cursor) uN(n int) uint64 {
	switch n {
	case 0:
		return 0
	case 4:
		return uint64(c.u32())
	case 8:
		if v := c.take(8); v != nil {
			return binary.BigEndian.Uint64(v)
		}
		return 0
	}
	c.bad = true
	return 0
}

func (c *cursor) left() int { return len(c.b) - c.p }

// bmff finds the meta box among the top-level boxes and parses it.
func (x *extraction) bmff() {
	s := x.s
	off := int64(0)
	for i := range maxTopBoxes {
		h := s.at(off, 8)
		if h == nil {
			return
		}
		size := uint64(binary.BigEndian.Uint32(h))
		typ := string(h[4:8])
		hdr := int64(8)
		switch size {
		case 0: // to the end of the file
			if s.size < 0 {
				// Unknown extent: only meta is worth reading and it is
				// never the last, open-ended box of a real file.
				x.corrupt = true
				return
			}
			size = uint64(s.size - off)
		case 1:
			l := s.at(off+8, 8)
			if l == nil {
				return
			}
			size, hdr = binary.BigEndian.Uint64(l), 16
		}
		if size < uint64(hdr) || size > math.MaxInt64-uint64(off) {
			x.corrupt = true
			x.note("ISOBMFF: bad box size")
			return
		}
		if i == 0 && typ != "ftyp" {
			x.corrupt = true
			return
		}
		if typ == "meta" {
			n := int64(size) - hdr
			if n > maxMetaBox {
				x.corrupt = true
				x.note("ISOBMFF: meta box too large")
				return
			}
			b := s.at(off+hdr, int(n))
			if b == nil {
				return
			}
			x.meta(b, off+hdr)
			return
		}
		off += int64(size)
		if s.size >= 0 && off >= s.size {
			return // no meta box: nothing to report beyond the brand
		}
	}
	x.corrupt = true
	x.note("ISOBMFF: too many top-level boxes")
}

// prop is an ipco property we care about, by its 1-based index.
type prop struct {
	idx   int
	typ   byte // 's' ispe, 'r' irot, 'm' imir
	w, h  uint32
	value byte // irot angle (x90 degrees anticlockwise) or imir axis
}

// meta parses the meta box payload b (at file offset base). It makes two
// passes because child order is free: the first finds the primary item and
// the Exif item, the second their locations and properties.
func (x *extraction) meta(b []byte, base int64) {
	if len(b) < 4 {
		x.corrupt = true
		return
	}
	b, base = b[4:], base+4 // FullBox version and flags

	var (
		primary uint32
		exifIDs []uint32
		exifFor uint32 // the Exif item that describes the primary item
	)
	ok := eachBox(b, base, func(bx box) bool {
		switch string(bx.typ[:]) {
		case "pitm":
			c := cursor{b: bx.payload}
			if c.u8() == 0 {
				c.take(3)
				primary = uint32(c.u16())
			} else {
				c.take(3)
				primary = c.u32()
			}
		case "iinf":
			exifIDs = iinfExif(bx.payload)
		}
		return true
	})
	if !ok {
		x.corrupt = true
	}
	if len(exifIDs) > 0 {
		exifFor = exifIDs[0]
		eachBox(b, base, func(bx box) bool {
			if string(bx.typ[:]) == "iref" {
				if id := irefDescribes(bx.payload, exifIDs, primary); id != 0 {
					exifFor = id
				}
			}
			return true
		})
	}

	var (
		props    []prop
		assoc    []int // property indices associated with the primary item
		loc      itemLoc
		idatOff  int64 = -1
		idatSize int64
	)
	eachBox(b, base, func(bx box) bool {
		switch string(bx.typ[:]) {
		case "iloc":
			if exifFor != 0 {
				loc = ilocFind(bx.payload, exifFor)
			}
		case "idat":
			idatOff, idatSize = bx.off, int64(len(bx.payload))
		case "iprp":
			eachBox(bx.payload, bx.off, func(c box) bool {
				switch string(c.typ[:]) {
				case "ipco":
					props = ipcoProps(c.payload)
				case "ipma":
					if primary != 0 {
						assoc = ipmaAssoc(c.payload, primary)
					}
				}
				return true
			})
		}
		return true
	})

	x.heifDims(props, assoc)

	switch {
	case exifFor == 0:
		return
	case !loc.found:
		x.corrupt = true
		x.note("HEIF: Exif item has no location")
		return
	case loc.method == 1:
		if idatOff < 0 || loc.off > uint64(idatSize) {
			x.corrupt = true
			x.note("HEIF: Exif item outside idat")
			return
		}
		loc.off += uint64(idatOff)
	case loc.method != 0:
		x.note("HEIF: Exif item construction method not supported")
		x.corrupt = true
		return
	}
	if loc.off > math.MaxInt64/2 || loc.length > math.MaxInt64/2 {
		x.corrupt = true
		return
	}
	off, n := int64(loc.off), int64(loc.length)
	if n == 0 && x.s.size >= 0 {
		n = x.s.size - off // length 0: to the end of the file
	}
	// The item starts with a 32-bit offset from its payload to the TIFF
	// header (usually 6, skipping "Exif\0\0").
	h := x.s.at(off, 4)
	if h == nil {
		return
	}
	skip := int64(binary.BigEndian.Uint32(h))
	if n < 4 || skip > n-4 {
		x.corrupt = true
		x.note("HEIF: bad Exif header offset")
		return
	}
	x.setExif(off+4+skip, n-4-skip)
}

// heifDims takes the primary item's ispe and transform; without a usable
// pitm/ipma, the largest ispe (tiles and thumbnails are smaller).
func (x *extraction) heifDims(props []prop, assoc []int) {
	var w, h uint32
	var angle, mirror byte
	hasMirror := false
	for _, a := range assoc {
		for _, p := range props {
			if p.idx != a {
				continue
			}
			switch p.typ {
			case 's':
				if w == 0 {
					w, h = p.w, p.h
				}
			case 'r':
				angle = p.value
			case 'm':
				mirror, hasMirror = p.value, true
			}
		}
	}
	if w == 0 || h == 0 {
		w, h = 0, 0
		for _, p := range props {
			if p.typ == 's' && uint64(p.w)*uint64(p.h) > uint64(w)*uint64(h) {
				w, h = p.w, p.h
			}
		}
	}
	x.setDims(uint64(w), uint64(h))
	if len(assoc) > 0 {
		// Only the primary item's own properties say how it is shown.
		x.heifOrien = heifOrientation(angle, mirror, hasMirror)
	}
}

// heifOrientation maps irot (angle anticlockwise, in quarter turns) applied
// before imir (axis 0: about the vertical axis, i.e. left-right) to the EXIF
// orientation that describes the same display transform.
func heifOrientation(angle, axis byte, mirrored bool) int {
	angle &= 3
	if !mirrored {
		return [4]int{1, 8, 3, 6}[angle]
	}
	if axis&1 == 0 {
		return [4]int{2, 7, 4, 5}[angle]
	}
	return [4]int{4, 5, 2, 7}[angle]
}

// iinfExif returns the IDs of items of type "Exif" (infe version 2 or 3;
// older versions carry no item type).
func iinfExif(b []byte) []uint32 {
	c := cursor{b: b}
	v := c.u8()
	c.take(3)
	if v == 0 {
		c.u16()
	} else {
		c.u32()
	}
	if c.bad {
		return nil
	}
	var ids []uint32
	eachBox(b[c.p:], 0, func(bx box) bool {
		if string(bx.typ[:]) != "infe" {
			return true
		}
		e := cursor{b: bx.payload}
		ver := e.u8()
		e.take(3)
		var id uint32
		switch ver {
		case 2:
			id = uint32(e.u16())
		case 3:
			id = e.u32()
		default:
			return true
		}
		e.u16() // protection index
		t := e.take(4)
		if !e.bad && string(t) == "Exif" && id != 0 {
			ids = append(ids, id)
		}
		return len(ids) < maxExifIDs
	})
	return ids
}

// irefDescribes returns the Exif item whose "cdsc" (content describes)
// reference points at the primary item, or 0.
func irefDescribes(b []byte, exifIDs []uint32, primary uint32) uint32 {
	c := cursor{b: b}
	v := c.u8()
	c.take(3)
	if c.bad {
		return 0
	}
	var found uint32
	eachBox(b[4:], 0, func(bx box) bool {
		if string(bx.typ[:]) != "cdsc" {
			return true
		}
		r := cursor{b: bx.payload}
		rid := func() uint32 {
			if v == 0 {
				return uint32(r.u16())
			}
			return r.u32()
		}
		from := rid()
		n := int(r.u16())
		isExif := false
		for _, id := range exifIDs {
			isExif = isExif || id == from
		}
		for range n {
			to := rid()
			if r.bad {
				break
			}
			if isExif && to == primary {
				found = from
				return false
			}
		}
		return true
	})
	return found
}

type itemLoc struct {
	found       bool
	method      uint16 // 0 file offset, 1 idat offset, 2 item
	off, length uint64
}

// ilocFind returns the location of item id. Multi-extent items are only
// accepted when the extents are contiguous (so the item is one range).
func ilocFind(b []byte, id uint32) itemLoc {
	c := cursor{b: b}
	v := c.u8()
	c.take(3)
	if v > 2 {
		return itemLoc{}
	}
	sz := c.u8()
	offSize, lenSize := int(sz>>4), int(sz&15)
	sz = c.u8()
	baseSize, idxSize := int(sz>>4), int(sz&15)
	if v == 0 {
		idxSize = 0
	}
	var count uint32
	if v < 2 {
		count = uint32(c.u16())
	} else {
		count = c.u32()
	}
	for range count {
		if c.bad {
			break
		}
		var item uint32
		if v < 2 {
			item = uint32(c.u16())
		} else {
			item = c.u32()
		}
		var method uint16
		if v >= 1 {
			method = c.u16() & 0xF
		}
		c.u16() // data reference index
		baseOff := c.uN(baseSize)
		extents := int(c.u16())
		if extents > c.left() {
			break // each extent takes at least a byte: malformed
		}
		loc := itemLoc{found: item == id, method: method}
		contiguous := true
		for e := range extents {
			if idxSize > 0 {
				c.uN(idxSize)
			}
			eo, el := c.uN(offSize), c.uN(lenSize)
			switch {
			case e == 0:
				loc.off, loc.length = baseOff+eo, el
			case baseOff+eo == loc.off+loc.length:
				loc.length += el
			default:
				contiguous = false
			}
		}
		if c.bad {
			break
		}
		if loc.found {
			if !contiguous || extents == 0 {
				return itemLoc{}
			}
			return loc
		}
	}
	return itemLoc{}
}

// ipcoProps lists the ispe, irot and imir properties with their indices.
func ipcoProps(b []byte) []prop {
	var props []prop
	idx := 0
	eachBox(b, 0, func(bx box) bool {
		idx++
		c := cursor{b: bx.payload}
		switch string(bx.typ[:]) {
		case "ispe":
			c.take(4) // version, flags
			w, h := c.u32(), c.u32()
			if !c.bad {
				props = append(props, prop{idx: idx, typ: 's', w: w, h: h})
			}
		case "irot":
			if a := c.u8(); !c.bad {
				props = append(props, prop{idx: idx, typ: 'r', value: a & 3})
			}
		case "imir":
			if a := c.u8(); !c.bad {
				props = append(props, prop{idx: idx, typ: 'm', value: a & 1})
			}
		}
		return len(props) < maxProps
	})
	return props
}

// ipmaAssoc returns the property indices associated with item id, in order.
func ipmaAssoc(b []byte, id uint32) []int {
	c := cursor{b: b}
	v := c.u8()
	f := c.take(3)
	if c.bad {
		return nil
	}
	wide := f[2]&1 != 0
	count := c.u32()
	for range count {
		var item uint32
		if v < 1 {
			item = uint32(c.u16())
		} else {
			item = c.u32()
		}
		n := int(c.u8())
		if c.bad {
			return nil
		}
		var idx []int
		for range n {
			var i int
			if wide {
				i = int(c.u16() & 0x7FFF)
			} else {
				i = int(c.u8() & 0x7F)
			}
			if item == id {
				idx = append(idx, i)
			}
		}
		if c.bad {
			return nil
		}
		if item == id {
			return idx
		}
	}
	return nil
}
