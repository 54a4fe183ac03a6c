package rendition

import (
	"fmt"
	"math"
)

// placeholderSide is the largest side thumbhash accepts.
const placeholderSide = 100

// thumbHash encodes an RGBA image of at most 100x100 pixels as a
// ThumbHash (https://evanw.github.io/thumbhash/, MIT): the average colour
// and a few low-frequency DCT terms of the luminance, two chroma channels
// and, when the image has any, alpha.
func thumbHash(w, h int, rgba []byte) ([]byte, error) {
	if w <= 0 || h <= 0 || w > placeholderSide || h > placeholderSide || len(rgba) != w*h*4 {
		return nil, fmt.Errorf("rendition: thumbhash of a %dx%d image with %d bytes", w, h, len(rgba))
	}
	n := w * h
	var avgR, avgG, avgB, avgA float64
	for i := 0; i < n; i++ {
		alpha := float64(rgba[i*4+3]) / 255
		avgR += alpha / 255 * float64(rgba[i*4])
		avgG += alpha / 255 * float64(rgba[i*4+1])
		avgB += alpha / 255 * float64(rgba[i*4+2])
		avgA += alpha
	}
	if avgA > 0 {
		avgR, avgG, avgB = avgR/avgA, avgG/avgA, avgB/avgA
	}
	hasAlpha := avgA < float64(n)
	lLimit := 7.0
	if hasAlpha {
		lLimit = 5
	}
	longest := float64(max(w, h))
	lx := max(1, int(math.Round(lLimit*float64(w)/longest)))
	ly := max(1, int(math.Round(lLimit*float64(h)/longest)))

	l, p, q, a := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		alpha := float64(rgba[i*4+3]) / 255
		r := avgR*(1-alpha) + alpha/255*float64(rgba[i*4])
		g := avgG*(1-alpha) + alpha/255*float64(rgba[i*4+1])
		b := avgB*(1-alpha) + alpha/255*float64(rgba[i*4+2])
		l[i] = (r + g + b) / 3
		p[i] = (r+g)/2 - b
		q[i] = r - g
		a[i] = alpha
	}
	encode := func(channel []float64, nx, ny int) (dc float64, ac []float64, scale float64) {
		fx := make([]float64, w)
		for cy := 0; cy < ny; cy++ {
			for cx := 0; cx*ny < nx*(ny-cy); cx++ {
				for x := 0; x < w; x++ {
					fx[x] = math.Cos(math.Pi / float64(w) * float64(cx) * (float64(x) + 0.5))
				}
				f := 0.0
				for y := 0; y < h; y++ {
					fy := math.Cos(math.Pi / float64(h) * float64(cy) * (float64(y) + 0.5))
					for x := 0; x < w; x++ {
						f += channel[x+y*w] * fx[x] * fy
					}
				}
				f /= float64(n)
				if cx > 0 || cy > 0 {
					ac = append(ac, f)
					scale = math.Max(scale, math.Abs(f))
				} else {
					dc = f
				}
			}
		}
		if scale > 0 {
			for i := range ac {
				ac[i] = 0.5 + 0.5/scale*ac[i]
			}
		}
		return dc, ac, scale
	}
	lDC, lAC, lScale := encode(l, max(3, lx), max(3, ly))
	pDC, pAC, pScale := encode(p, 3, 3)
	qDC, qAC, qScale := encode(q, 3, 3)
	var aDC, aScale float64
	var aAC []float64
	if hasAlpha {
		aDC, aAC, aScale = encode(a, 5, 5)
	}

	round := func(f float64) uint32 { return uint32(math.Round(f)) }
	isLandscape := w > h
	header24 := round(63*lDC) | round(31.5+31.5*pDC)<<6 | round(31.5+31.5*qDC)<<12 | round(31*lScale)<<18
	if hasAlpha {
		header24 |= 1 << 23
	}
	side := lx
	if isLandscape {
		side = ly
	}
	header16 := uint32(side) | round(63*pScale)<<3 | round(63*qScale)<<9
	if isLandscape {
		header16 |= 1 << 15
	}
	hash := []byte{byte(header24), byte(header24 >> 8), byte(header24 >> 16), byte(header16), byte(header16 >> 8)}
	channels := [][]float64{lAC, pAC, qAC}
	if hasAlpha {
		hash = append(hash, byte(round(15*aDC)|round(15*aScale)<<4))
		channels = append(channels, aAC)
	}
	acStart, acIndex := len(hash), 0
	for _, ac := range channels {
		for _, f := range ac {
			at := acStart + acIndex>>1
			for len(hash) <= at {
				hash = append(hash, 0)
			}
			hash[at] |= byte(round(15*f) << ((acIndex & 1) << 2))
			acIndex++
		}
	}
	return hash, nil
}
