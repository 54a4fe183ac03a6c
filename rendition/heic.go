//go:build cgo

package rendition

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/gen2brain/heic"
	"golang.org/x/image/draw"
)

// renderHEICFallback decodes a HEIC/HEIF that libvips' libheif refused with
// the libheif that gen2brain/heic carries compiled to WebAssembly (run by
// wazero, memory-safe and without cgo), then renders its pixels through
// the usual path. Distribution libheif releases before 1.17 refuse the
// files of recent iPhones ("Metadata not correctly assigned to image");
// the embedded libheif is 1.18. Build with -tags nodynamic (the Makefile
// does): otherwise gen2brain/heic loads the system's libheif.so instead,
// which is the one that refused.
//
// The picture comes out of libheif already rotated (irot/imir), so it is
// rendered with no further orientation. It is reduced in Go to twice the
// preview first, so that the re-encoded intermediate stays small.
func (r *Renderer) renderHEICFallback(data []byte) (Result, error) {
	img, err := heic.Decode(bytes.NewReader(data))
	if err != nil {
		return Result{}, reject("heic: %v", err)
	}
	b := img.Bounds()
	if px := int64(b.Dx()) * int64(b.Dy()); px > r.opts.MaxPixels || px <= 0 {
		return Result{}, rejectAs(ClassTooLarge, "%dx%d is %d pixels, more than the limit of %d", b.Dx(), b.Dy(), px, r.opts.MaxPixels)
	}
	longest := max(b.Dx(), b.Dy())
	if limit := 2 * r.opts.PreviewSize; longest > limit {
		w, h := b.Dx()*limit/longest, b.Dy()*limit/longest
		small := image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
		draw.ApproxBiLinear.Scale(small, small.Bounds(), img, b, draw.Src, nil)
		img = small
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		return Result{}, fmt.Errorf("rendition: re-encode decoded HEIC: %w", err)
	}
	return r.renderPixels(buf.Bytes(), 1)
}
