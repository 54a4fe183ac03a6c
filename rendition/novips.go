//go:build !cgo

package rendition

import "errors"

// errNoLibvips is what a binary built without cgo answers: it has no
// decoder for the pixels, so it renders nothing.
var errNoLibvips = errors.New("rendition: this photogate was built without cgo, so without libvips: renditions are off (build with CGO_ENABLED=1 and libvips installed)")

// Available reports whether this binary can render: it was built with cgo
// and libvips.
func Available() error { return errNoLibvips }

func startVips() {}

func (r *Renderer) renderPixels([]byte, int) (Result, error) { return Result{}, errNoLibvips }

func (r *Renderer) renderHEICFallback([]byte) (Result, error) { return Result{}, errNoLibvips }
