// Package rendition makes the small images a gallery shows instead of the
// original: a thumbnail (longest side 256 px, WebP), a preview (longest side
// 1440 px, JPEG) and a thumbhash placeholder. It decodes with libvips
// (through govips, cgo), because libvips shrinks JPEGs while decoding them
// (libjpeg-turbo's DCT scaling): a 24-megapixel baseline JPEG costs about
// 190 ms of CPU on one core for all three (BenchmarkRender24MP), against
// about 1.3 s for Go's image/jpeg and golang.org/x/image/draw for the two
// images alone, whose decoder always builds the full-size image
// (BenchmarkGoImage24MP). libvips also decodes HEIC and AVIF, through
// libheif.
//
// Every input is hostile: only allow-listed formats reach libvips, the pixel
// count is read from the header and capped before any pixel is decoded, and
// a file that yields nothing is a *Rejected error with the reason, which a
// job queue should treat as permanent.
package rendition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/photogate/photogate/metastore/extract"
)

// Defaults of Options.
const (
	DefaultMaxPixels      = 100_000_000
	DefaultMaxSourceBytes = 256 << 20
	DefaultThumbSize      = 256
	DefaultPreviewSize    = 1440
	DefaultThumbQuality   = 75
	DefaultPreviewQuality = 82
)

// Content types of the renditions.
const (
	ThumbType   = "image/webp"
	PreviewType = "image/jpeg"
)

// Options bound and shape a Renderer's work. Zero fields take the defaults.
type Options struct {
	MaxPixels      int64 // refuse images with more pixels than this (header count)
	MaxSourceBytes int64 // refuse sources larger than this; they are read into memory
	ThumbSize      int   // longest side of the thumbnail
	PreviewSize    int   // longest side of the preview
	Concurrency    int   // renders at once; default half of GOMAXPROCS (the container's CPU limit), at least 1
}

func (o Options) withDefaults() Options {
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxSourceBytes <= 0 {
		o.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if o.ThumbSize <= 0 {
		o.ThumbSize = DefaultThumbSize
	}
	if o.PreviewSize <= 0 {
		o.PreviewSize = DefaultPreviewSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return o
}

// Result is one photo's renditions.
type Result struct {
	Thumb       []byte // ThumbType
	Preview     []byte // PreviewType
	Placeholder string // thumbhash, standard base64
	// Width and Height are the preview's, after orientation.
	Width, Height int
	// Format is the source format as extract sniffed it ("jpeg", "heic", ...).
	Format string
	// Embedded is true when the renditions come from the largest JPEG
	// preview inside the file because its own pixels could not be decoded.
	Embedded bool
}

// Rejected is a source that cannot yield renditions: retrying will not
// help.
type Rejected struct {
	Class  string // one of the Class constants: a bounded label for metrics
	Reason string
}

// Classes of Rejected.
const (
	ClassTooLarge    = "too_large"   // more bytes or pixels than the limits
	ClassUnsupported = "unsupported" // not an image format the renderer takes
	ClassUndecodable = "undecodable" // damaged, truncated or hostile
)

func (e *Rejected) Error() string { return "rendition: " + e.Reason }

func reject(format string, args ...any) error {
	return rejectAs(ClassUndecodable, format, args...)
}

func rejectAs(class, format string, args ...any) error {
	return &Rejected{Class: class, Reason: fmt.Sprintf(format, args...)}
}

// ClassOf is the Class of a *Rejected in err's chain, or "".
func ClassOf(err error) string {
	var r *Rejected
	if errors.As(err, &r) {
		return r.Class
	}
	return ""
}

// IsRejected reports whether err is a permanent refusal of the source.
func IsRejected(err error) bool {
	var r *Rejected
	return errors.As(err, &r)
}

// Renderer renders photos. It is safe for concurrent use; at most
// Options.Concurrency renders run at once, the others wait.
type Renderer struct {
	opts  Options
	slots chan struct{}
}

// New returns a Renderer. The first call starts libvips for the process
// with one worker thread per image and no operation cache, so that the
// memory of a render is bounded by that one image, and with only the
// loaders of accepted formats enabled (libvips is process-global: later
// calls share that setup).
func New(opts Options) *Renderer {
	opts = opts.withDefaults()
	startVips()
	return &Renderer{opts: opts, slots: make(chan struct{}, opts.Concurrency)}
}

// Options returns the Renderer's options, defaults filled in.
func (r *Renderer) Options() Options { return r.opts }

// Render reads the source (size bytes) and renders it. A read failure is
// returned as is (it may be worth retrying); anything wrong with the
// bytes themselves is a *Rejected.
func (r *Renderer) Render(ctx context.Context, src io.ReaderAt, size int64) (Result, error) {
	if size < 0 {
		return Result{}, reject("negative source size %d", size)
	}
	if size > r.opts.MaxSourceBytes {
		return Result{}, rejectAs(ClassTooLarge, "source is %d bytes, more than the limit of %d", size, r.opts.MaxSourceBytes)
	}
	data := make([]byte, size)
	// io.ReaderAt may report EOF with a read that reached the end.
	if n, err := src.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return Result{}, fmt.Errorf("rendition: read source: %w", err)
	}
	return r.RenderBytes(ctx, data)
}

// accepts tells whether the renderer takes a source of this format (as
// extract sniffs it) and whether to decode its pixels before looking for
// an embedded preview. Any other format never reaches libvips, whose many
// loaders (SVG, PDF, FITS, ...) are attack surface a photo gateway does
// not need.
func accepts(format string) (ok, decodeFirst bool) {
	switch format {
	case "jpeg", "png", "webp", "heic", "heif", "avif":
		return true, true
	case "dng", "tiff":
		// For camera files the main image is raw sensor data or a small
		// IFD0 thumbnail: the embedded preview is the better picture.
		return true, false
	}
	return false, false
}

// Renders reports whether format (as extract sniffs it) is one the
// renderer accepts.
func Renders(format string) bool {
	ok, _ := accepts(format)
	return ok
}

// RenderBytes renders a source held in memory.
func (r *Renderer) RenderBytes(ctx context.Context, data []byte) (res Result, err error) {
	if int64(len(data)) > r.opts.MaxSourceBytes {
		return Result{}, rejectAs(ClassTooLarge, "source is %d bytes, more than the limit of %d", len(data), r.opts.MaxSourceBytes)
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("rendition: waiting for a slot: %w", ctx.Err())
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, reject("panic while rendering: %v", p)
		}
	}()

	photo := extract.FromReaderAt(ctx, bytes.NewReader(data), int64(len(data)))
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("rendition: %w", err)
	}
	ok, decodeFirst := accepts(photo.Format)
	if !ok {
		if photo.Format == "" {
			return Result{}, rejectAs(ClassUnsupported, "%s", orUnknown(photo.Reason))
		}
		return Result{}, rejectAs(ClassUnsupported, "format %q is not rendered", photo.Format)
	}
	if px := int64(photo.Width) * int64(photo.Height); px > r.opts.MaxPixels {
		return Result{}, rejectAs(ClassTooLarge, "%dx%d is %d pixels, more than the limit of %d", photo.Width, photo.Height, px, r.opts.MaxPixels)
	}

	var decodeErr error
	if decodeFirst {
		res, decodeErr = r.renderPixels(data, 0)
		if decodeErr == nil {
			res.Format = photo.Format
			return res, nil
		}
		if photo.Format == "heic" || photo.Format == "heif" {
			if res, err := r.renderHEICFallback(data); err == nil {
				res.Format = photo.Format
				return res, nil
			}
		}
		if IsRejected(decodeErr) && photo.Format != "heic" && photo.Format != "heif" && photo.Format != "avif" {
			return Result{}, decodeErr
		}
	}
	preview, longest := largestEmbeddedJPEG(data, r.opts.MaxPixels)
	// A camera file's preview is the picture unless it is only a
	// thumbnail and the file itself decodes (a plain TIFF).
	if preview != nil && (decodeFirst || longest >= r.opts.PreviewSize/2) {
		res, err := r.renderEmbedded(preview, photo)
		if err == nil {
			return res, nil
		}
		if decodeErr == nil {
			decodeErr = err
		}
		preview = nil
	}
	if !decodeFirst {
		res, err := r.renderPixels(data, 0)
		if err == nil {
			res.Format = photo.Format
			return res, nil
		}
		if decodeErr == nil {
			decodeErr = err
		}
	}
	if preview != nil {
		res, err := r.renderEmbedded(preview, photo)
		if err == nil {
			return res, nil
		}
		decodeErr = err
	}
	if decodeErr == nil {
		decodeErr = reject("no embedded preview")
	}
	class := ClassOf(decodeErr)
	if class == "" {
		class = ClassUndecodable
	}
	return Result{}, rejectAs(class, "%s: nothing decodable: %v", photo.Format, decodeErr)
}

// renderEmbedded renders a preview found inside photo's file, with the
// orientation the container's EXIF gives.
func (r *Renderer) renderEmbedded(preview []byte, photo extract.Photo) (Result, error) {
	res, err := r.renderPixels(preview, photo.Orientation)
	if err != nil {
		return Result{}, err
	}
	res.Format, res.Embedded = photo.Format, true
	return res, nil
}

func orUnknown(reason string) string {
	if reason == "" {
		return "not a supported image"
	}
	return reason
}
