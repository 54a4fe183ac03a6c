package harness

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"testing"
)

// Quadrants returns the average colour of the four quadrants of img, in
// the order top-left, top-right, bottom-left, bottom-right.
func Quadrants(img image.Image) [4][3]float64 {
	b := img.Bounds()
	var sum [4][3]float64
	var n [4]float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			q := 0
			if x-b.Min.X >= b.Dx()/2 {
				q++
			}
			if y-b.Min.Y >= b.Dy()/2 {
				q += 2
			}
			r, g, bl, _ := img.At(x, y).RGBA()
			sum[q][0] += float64(r >> 8)
			sum[q][1] += float64(g >> 8)
			sum[q][2] += float64(bl >> 8)
			n[q]++
		}
	}
	for q := range sum {
		for c := range sum[q] {
			sum[q][c] /= max(n[q], 1)
		}
	}
	return sum
}

// Upright applies EXIF orientation o to img by moving pixels, as the
// EXIF specification defines each value: the reference the renderer's
// output is compared with. It keeps every step-th pixel each way, which
// is plenty for quadrant averages and keeps -race runs short.
func Upright(img image.Image, o, step int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow/step, oh/step))
	for y := 0; y < oh/step; y++ {
		for x := 0; x < ow/step; x++ {
			dx, dy := x*step, y*step // display pixel
			var sx, sy int           // where it is stored
			switch o {
			case 2:
				sx, sy = w-1-dx, dy
			case 3:
				sx, sy = w-1-dx, h-1-dy
			case 4:
				sx, sy = dx, h-1-dy
			case 5:
				sx, sy = dy, dx
			case 6:
				sx, sy = dy, h-1-dx
			case 7:
				sx, sy = w-1-dy, h-1-dx
			case 8:
				sx, sy = w-1-dy, dx
			default:
				sx, sy = dx, dy
			}
			out.Set(x, y, img.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return out
}

// CloseColours reports whether every channel of every quadrant of a and b
// differs by at most tolerance (0..255).
func CloseColours(a, b [4][3]float64, tolerance float64) bool {
	for q := range a {
		for c := range a[q] {
			if d := a[q][c] - b[q][c]; d > tolerance || d < -tolerance {
				return false
			}
		}
	}
	return true
}

// pngChunk appends one PNG chunk.
func pngChunk(buf *bytes.Buffer, kind string, data []byte) {
	_ = binary.Write(buf, binary.BigEndian, uint32(len(data)))
	buf.WriteString(kind)
	buf.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(kind))
	crc.Write(data)
	_ = binary.Write(buf, binary.BigEndian, crc.Sum32())
}

// PNGBomb builds a valid side×side 1-bit greyscale PNG of zeros: a few
// hundred KB that a naive decoder expands to side² bytes (3.6 GB at
// 60000).
func PNGBomb(t testing.TB, side int) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, greyscale
	pngChunk(&buf, "IHDR", ihdr)
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed) // BestCompression takes a minute under -race
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+(side+7)/8) // filter byte 0, then zero bits
	for range side {
		if _, err := zw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	pngChunk(&buf, "IDAT", idat.Bytes())
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}
