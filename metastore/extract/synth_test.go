package extract

import "encoding/binary"

// A minimal big-endian TIFF/EXIF writer for hand-built test inputs: each IFD
// is appended with its out-of-line values, and pointer entries are patched
// once the IFD they point to has been written.

type tEntry struct {
	tag, typ uint16
	count    uint32
	data     []byte // value bytes, big-endian
}

func tASCII(tag uint16, s string) tEntry {
	return tEntry{tag, 2, uint32(len(s) + 1), append([]byte(s), 0)}
}

func tShort(tag uint16, v uint16) tEntry {
	return tEntry{tag, 3, 1, binary.BigEndian.AppendUint16(nil, v)}
}

func tLong(tag uint16, v uint32) tEntry {
	return tEntry{tag, 4, 1, binary.BigEndian.AppendUint32(nil, v)}
}

func tByte(tag uint16, v byte) tEntry {
	return tEntry{tag, 1, 1, []byte{v}}
}

func tRationals(tag uint16, v ...[2]uint32) tEntry {
	var b []byte
	for _, r := range v {
		b = binary.BigEndian.AppendUint32(b, r[0])
		b = binary.BigEndian.AppendUint32(b, r[1])
	}
	return tEntry{tag, 5, uint32(len(v)), b}
}

type tiffWriter struct{ buf []byte }

func newTIFF() *tiffWriter {
	return &tiffWriter{buf: []byte{'M', 'M', 0, 42, 0, 0, 0, 8}}
}

// ifd appends an IFD and returns its offset and, per tag, the position of
// each entry's 4-byte value field (for patching pointers).
func (w *tiffWriter) ifd(entries ...tEntry) (uint32, map[uint16]int) {
	off := uint32(len(w.buf))
	pos := map[uint16]int{}
	dataOff := len(w.buf) + 2 + 12*len(entries) + 4
	var data []byte
	w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(len(entries)))
	for _, e := range entries {
		w.buf = binary.BigEndian.AppendUint16(w.buf, e.tag)
		w.buf = binary.BigEndian.AppendUint16(w.buf, e.typ)
		w.buf = binary.BigEndian.AppendUint32(w.buf, e.count)
		pos[e.tag] = len(w.buf)
		if len(e.data) <= 4 {
			v := make([]byte, 4)
			copy(v, e.data)
			w.buf = append(w.buf, v...)
			continue
		}
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(dataOff+len(data)))
		data = append(data, e.data...)
		if len(data)%2 == 1 {
			data = append(data, 0)
		}
	}
	w.buf = binary.BigEndian.AppendUint32(w.buf, 0) // no next IFD
	w.buf = append(w.buf, data...)
	return off, pos
}

func (w *tiffWriter) patch(pos int, v uint32) {
	binary.BigEndian.PutUint32(w.buf[pos:], v)
}

// jpegWithEXIF wraps a TIFF structure in a JPEG: SOI, APP1 Exif, SOF0 with
// the given size, SOS, EOI. There is no entropy-coded data: nothing here
// ever decodes pixels.
func jpegWithEXIF(tiff []byte, w, h uint16) []byte {
	b := []byte{0xFF, 0xD8}
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	b = append(b, 0xFF, 0xE1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(app1)+2))
	b = append(b, app1...)
	b = append(b, 0xFF, 0xC0, 0, 17, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	b = append(b, 0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0)
	return append(b, 0xFF, 0xD9)
}

// dms encodes decimal degrees as EXIF degrees/minutes/seconds rationals.
func dms(deg float64) tEntry {
	d := uint32(deg)
	m := uint32((deg - float64(d)) * 60)
	s := uint32(((deg-float64(d))*60 - float64(m)) * 60 * 10000)
	return tRationals(0, [2]uint32{d, 1}, [2]uint32{m, 1}, [2]uint32{s, 10000})
}

func withTag(e tEntry, tag uint16) tEntry {
	e.tag = tag
	return e
}

// heifSeed is a minimal HEIC: ftyp, and a meta box with pitm, iinf (one
// Exif item), iloc pointing at a huge offset, and iprp with an ispe.
func heifSeed() []byte {
	box := func(typ string, payload ...[]byte) []byte {
		var p []byte
		for _, x := range payload {
			p = append(p, x...)
		}
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(p)))
		return append(append(b, typ...), p...)
	}
	full := func(v byte) []byte { return []byte{v, 0, 0, 0} }
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	ftyp := box("ftyp", []byte("heic"), u32(0), []byte("mif1heic"))
	pitm := box("pitm", full(0), u16(1))
	infe1 := box("infe", full(2), u16(1), u16(0), []byte("hvc1"), []byte{0})
	infe2 := box("infe", full(2), u16(2), u16(0), []byte("Exif"), []byte{0})
	iinf := box("iinf", full(0), u16(2), infe1, infe2)
	iloc := box("iloc", full(0), []byte{0x44, 0x00}, u16(1), u16(2), u16(0), u16(1), u32(0x10000000), u32(100))
	ispe := box("ispe", full(0), u32(4032), u32(3024))
	irot := box("irot", []byte{3})
	ipco := box("ipco", ispe, irot)
	ipma := box("ipma", full(0), u32(1), u16(1), []byte{2, 0x81, 0x02})
	iprp := box("iprp", ipco, ipma)
	meta := box("meta", full(0), pitm, iinf, iloc, iprp)
	return append(ftyp, meta...)
}
