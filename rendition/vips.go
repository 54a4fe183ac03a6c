//go:build cgo

package rendition

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// Available reports whether this binary can render: it was built with cgo
// and libvips.
func Available() error { return nil }

// startVips sets up libvips once per process. It is package state because
// libvips and govips are: govips' logging settings are globals that its
// image finalizers read, so setting them again races.
var startVips = sync.OnceFunc(func() {
	vips.LoggingSettings(nil, vips.LogLevelCritical)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	restrictLoaders()
})

// renderPixels decodes data with libvips and makes the renditions. With
// orientation 0 the image's own EXIF orientation is applied (libvips'
// autorotate); otherwise that one, for an embedded preview whose
// container carries the orientation.
func (r *Renderer) renderPixels(data []byte, orientation int) (Result, error) {
	if len(data) == 0 {
		return Result{}, reject("empty source")
	}
	params := vips.NewImportParams() // fail on the first decoding error: a truncated file is not a photo
	header, err := vips.LoadImageFromBuffer(data, params)
	if err != nil {
		return Result{}, reject("decode header: %s", vipsReason(err))
	}
	w, h := header.Width(), header.Height()
	header.Close()
	if px := int64(w) * int64(h); px > r.opts.MaxPixels || w <= 0 || h <= 0 {
		return Result{}, rejectAs(ClassTooLarge, "%dx%d is %d pixels, more than the limit of %d", w, h, px, r.opts.MaxPixels)
	}

	img, err := r.loadPreviewSized(data, w, h, params)
	if err != nil {
		return Result{}, err
	}
	defer img.Close()
	if err := orient(img, orientation); err != nil {
		return Result{}, reject("orient: %s", vipsReason(err))
	}
	if err := toSRGB(img); err != nil {
		return Result{}, reject("convert to sRGB: %s", vipsReason(err))
	}
	preview, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: DefaultPreviewQuality, StripMetadata: true})
	if err != nil {
		return Result{}, reject("encode preview: %s", vipsReason(err))
	}
	res := Result{Preview: preview, Width: img.Width(), Height: img.Height()}

	// The thumbnail and the placeholder come from the preview: a 1440 px
	// JPEG shrinks on load too, so they cost a few milliseconds.
	thumb, err := vips.LoadThumbnailFromBuffer(preview, r.opts.ThumbSize, r.opts.ThumbSize, vips.InterestingNone, vips.SizeDown, nil)
	if err != nil {
		return Result{}, fmt.Errorf("rendition: decode own preview: %w", err)
	}
	defer thumb.Close()
	res.Thumb, _, err = thumb.ExportWebp(&vips.WebpExportParams{Quality: DefaultThumbQuality, StripMetadata: true, ReductionEffort: 4})
	if err != nil {
		return Result{}, fmt.Errorf("rendition: encode thumbnail: %w", err)
	}
	res.Placeholder, err = placeholder(preview)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// loadPreviewSized decodes data (w×h as stored) at the preview's size,
// with the image's own EXIF orientation applied.
//
// A JPEG is decoded with shrink-on-load: libjpeg scales by 1/2, 1/4 or 1/8
// in the DCT domain, which is most of the saving. The largest factor whose
// result is at least 95% of the preview is used, and the rest is a resize:
// a 24-megapixel photo is 5712 px wide, a quarter is 1428, and decoding at
// 1428 and enlarging by 0.8% costs about 40% less CPU than decoding at 2856
// and halving, with no visible difference. libvips' own thumbnail would
// never decode below the target, and costs more even when it does.
// Other formats go through libvips' thumbnail, which shrinks on load where
// the format can (WebP, HEIC's tiles).
func (r *Renderer) loadPreviewSized(data []byte, w, h int, params *vips.ImportParams) (*vips.ImageRef, error) {
	want := r.opts.PreviewSize
	if !bytes.HasPrefix(data, []byte("\xFF\xD8\xFF")) {
		img, err := vips.LoadThumbnailFromBuffer(data, want, want, vips.InterestingNone, vips.SizeDown, params)
		if err != nil {
			return nil, reject("decode: %s", vipsReason(err))
		}
		return img, nil
	}
	shrink := jpegShrink(max(w, h), want)
	params.JpegShrinkFactor.Set(shrink)
	img, err := vips.LoadImageFromBuffer(data, params)
	if err != nil {
		return nil, reject("decode: %s", vipsReason(err))
	}
	if err := img.AutoRotate(); err != nil {
		img.Close()
		return nil, reject("orient: %s", vipsReason(err))
	}
	// Never enlarge a photo smaller than the preview; only the last few
	// percent a shrink fell short by.
	if longest := max(img.Width(), img.Height()); longest > want || shrink > 1 && longest < want {
		if err := img.Resize(float64(want)/float64(longest), vips.KernelLanczos3); err != nil {
			img.Close()
			return nil, reject("resize: %s", vipsReason(err))
		}
	}
	return img, nil
}

// jpegShrink is the shrink-on-load factor (1, 2, 4 or 8) for a JPEG whose
// longest side is source: the largest whose result is at least 95% of want.
func jpegShrink(source, want int) int {
	for _, k := range []int{8, 4, 2} {
		if (source+k-1)/k*20 >= want*19 {
			return k
		}
	}
	return 1
}

// orient applies an EXIF orientation (2..8) to img.
func orient(img *vips.ImageRef, orientation int) error {
	var angle vips.Angle
	flip := false
	switch orientation {
	case 0, 1:
		return nil
	case 2:
		flip = true
	case 3:
		angle = vips.Angle180
	case 4:
		angle, flip = vips.Angle180, true
	case 5:
		angle, flip = vips.Angle90, true
	case 6:
		angle = vips.Angle90
	case 7:
		angle, flip = vips.Angle270, true
	case 8:
		angle = vips.Angle270
	default:
		return nil
	}
	if angle != vips.Angle0 {
		if err := img.Rotate(angle); err != nil {
			return err
		}
	}
	if flip {
		return img.Flip(vips.DirectionHorizontal)
	}
	return nil
}

// toSRGB converts through the embedded ICC profile when there is one and
// by interpretation otherwise (CMYK, greyscale, 16-bit).
func toSRGB(img *vips.ImageRef) error {
	if img.HasICCProfile() {
		// "srgb" is libvips' built-in profile; govips' own profile
		// tokens would write temporary files.
		if err := img.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
			return err
		}
	}
	if img.Interpretation() != vips.InterpretationSRGB || img.BandFormat() != vips.BandFormatUchar {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return err
		}
		if img.BandFormat() != vips.BandFormatUchar {
			return img.Cast(vips.BandFormatUchar)
		}
	}
	return nil
}

// vipsReason shortens a govips error, which carries a Go stack trace, to
// libvips' own message.
func vipsReason(err error) string {
	msg := err.Error()
	if i := bytes.Index([]byte(msg), []byte("\n\nStack:")); i >= 0 {
		msg = msg[:i]
	}
	msg = string(bytes.TrimSpace([]byte(msg)))
	if len(msg) > 240 {
		msg = msg[:240]
	}
	return msg
}

// placeholder returns the thumbhash of an sRGB JPEG (the preview), in
// standard base64: about 25 bytes that a gallery decodes into a blurred
// image before any rendition arrives.
func placeholder(jpegData []byte) (string, error) {
	img, err := vips.LoadThumbnailFromBuffer(jpegData, placeholderSide, placeholderSide, vips.InterestingNone, vips.SizeDown, nil)
	if err != nil {
		return "", fmt.Errorf("rendition: placeholder: decode preview: %w", err)
	}
	defer img.Close()
	if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
		return "", fmt.Errorf("rendition: placeholder: %w", err)
	}
	pix, err := img.ToBytes()
	if err != nil {
		return "", fmt.Errorf("rendition: placeholder: %w", err)
	}
	w, h, bands := img.Width(), img.Height(), img.Bands()
	if bands != 3 && bands != 4 || len(pix) != w*h*bands {
		return "", fmt.Errorf("rendition: placeholder: unexpected %dx%d image with %d bands in %d bytes", w, h, bands, len(pix))
	}
	rgba := pix
	if bands == 3 {
		rgba = make([]byte, w*h*4)
		for i, j := 0, 0; i < len(pix); i, j = i+3, j+4 {
			rgba[j], rgba[j+1], rgba[j+2], rgba[j+3] = pix[i], pix[i+1], pix[i+2], 255
		}
	}
	hash, err := thumbHash(w, h, rgba)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(hash), nil
}
