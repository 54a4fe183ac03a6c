//go:build cgo

package rendition

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/photogate/photogate/test/harness"
)

func photo(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "photos", rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func render(t testing.TB, r *Renderer, data []byte) (Result, error) {
	t.Helper()
	return r.Render(context.Background(), bytes.NewReader(data), int64(len(data)))
}

// checkResult decodes both renditions with Go's own decoders and checks
// their sizes against the options.
func checkResult(t *testing.T, r *Renderer, res Result) {
	t.Helper()
	prev, err := jpeg.Decode(bytes.NewReader(res.Preview))
	if err != nil {
		t.Fatalf("preview is not a JPEG: %v", err)
	}
	thumb, err := webp.Decode(bytes.NewReader(res.Thumb))
	if err != nil {
		t.Fatalf("thumbnail is not a WebP: %v", err)
	}
	pb, tb := prev.Bounds(), thumb.Bounds()
	if pb.Dx() != res.Width || pb.Dy() != res.Height {
		t.Errorf("preview is %v, result says %dx%d", pb, res.Width, res.Height)
	}
	if max(pb.Dx(), pb.Dy()) > r.Options().PreviewSize || max(tb.Dx(), tb.Dy()) > r.Options().ThumbSize {
		t.Errorf("preview %v or thumbnail %v larger than %d/%d", pb, tb, r.Options().PreviewSize, r.Options().ThumbSize)
	}
	// Same aspect (within rounding) and same orientation.
	if (pb.Dx() >= pb.Dy()) != (tb.Dx() >= tb.Dy()) && pb.Dx() != pb.Dy() {
		t.Errorf("preview %v and thumbnail %v disagree on orientation", pb, tb)
	}
	hash, err := base64.StdEncoding.DecodeString(res.Placeholder)
	if err != nil || len(hash) < 5 || len(hash) > 40 {
		t.Errorf("placeholder %q is not a thumbhash (%v)", res.Placeholder, err)
	}
}

func TestRendersEveryTestPhoto(t *testing.T) {
	r := New(Options{})
	for _, tc := range []struct {
		rel      string
		long     int  // longest side of the preview
		portrait bool // after orientation
		embedded bool
	}{
		{"jpeg/canon_sx60hs_orient6.jpg", 1440, true, false},
		{"jpeg/iphone4s_lensinfo_gps_orient6.jpg", 205, true, false},
		{"jpeg/pentax_k3ii_sunrise.jpg", 1024, false, false},
		{"png/pentax_k3ii_sunrise_exif.png", 1024, false, false},
		{"webp/pentax_k3ii_sunrise_exif.webp", 1024, false, false},
		{"webp/sunrise_lossy_noexif.webp", 1024, false, false},
		{"avif/pentax_k3ii_sunset.avif", 900, false, false},
		{"heic/iphone11promax_gps.heic", 1440, true, false},
		// A HEIC whose metadata reference Debian 12's libheif 1.15 refuses,
		// as it refuses iPhone 15 Pro files: decoded by the WebAssembly
		// fallback, upright.
		{"heic/iphone11promax_exif_cdsc_self.heic", 1440, true, false},
		{"heic/nokia83_hdr_exif_at_end.heif", 1440, false, false},
		{"raw/canon_sd450_truncated.dng", 0, false, false},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			res, err := render(t, r, photo(t, tc.rel))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: preview %dx%d %d B, thumb %d B, placeholder %s, embedded %v", res.Format, res.Width, res.Height, len(res.Preview), len(res.Thumb), res.Placeholder, res.Embedded)
			checkResult(t, r, res)
			if tc.long != 0 && max(res.Width, res.Height) != tc.long {
				t.Errorf("preview is %dx%d, want longest side %d", res.Width, res.Height, tc.long)
			}
			if tc.long != 0 && (res.Height > res.Width) != tc.portrait {
				t.Errorf("preview is %dx%d, want portrait=%v", res.Width, res.Height, tc.portrait)
			}
			if res.Embedded != tc.embedded {
				t.Errorf("embedded = %v, want %v", res.Embedded, tc.embedded)
			}
		})
	}
}

// TestOrientationByPixel renders each of the eight orientations and
// compares the preview's quadrant colours with the original rotated here,
// and with the upright original (landscape_1): all eight show one scene.
func TestOrientationByPixel(t *testing.T) {
	r := New(Options{})
	decodeUpright := func(t *testing.T, rel string, o int) [4][3]float64 {
		img, err := jpeg.Decode(bytes.NewReader(photo(t, rel)))
		if err != nil {
			t.Fatal(err)
		}
		return harness.Quadrants(harness.Upright(img, o, max(1, min(img.Bounds().Dx(), img.Bounds().Dy())/150)))
	}
	scene := decodeUpright(t, "orientation/landscape_1.jpg", 1)
	for o := 1; o <= 8; o++ {
		for _, name := range []string{"landscape_%d.jpg", "tiny_f%d-exif.jpg"} {
			rel := "orientation/" + strings.Replace(name, "%d", string(rune('0'+o)), 1)
			t.Run(rel, func(t *testing.T) {
				want := decodeUpright(t, rel, o)
				res, err := render(t, r, photo(t, rel))
				if err != nil {
					t.Fatal(err)
				}
				prev, err := jpeg.Decode(bytes.NewReader(res.Preview))
				if err != nil {
					t.Fatal(err)
				}
				got := harness.Quadrants(prev)
				if !harness.CloseColours(got, want, 12) {
					t.Errorf("quadrant colours %v, want %v (original rotated by hand)", got, want)
				}
				if strings.HasPrefix(rel, "orientation/landscape") && !harness.CloseColours(want, scene, 12) {
					t.Errorf("reference rotation of %s %v differs from the upright photo %v", rel, want, scene)
				}
			})
		}
	}
}

func maxRSS(t testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Maxrss << 10 // KiB on Linux
}

func TestRefusesBombsAndBrokenFiles(t *testing.T) {
	r := New(Options{})
	bomb := harness.PNGBomb(t, 60000)
	t.Logf("60000x60000 PNG bomb: %d bytes", len(bomb))
	before := maxRSS(t)
	cases := map[string][]byte{
		"png bomb 60000x60000": bomb,
		"empty":                {},
		"text":                 []byte("hello, not a photo"),
		"truncated jpeg":       photo(t, "jpeg/canon_sx60hs_orient6.jpg")[:400_000],
		"truncated png":        photo(t, "png/pentax_k3ii_sunrise_exif.png")[:200_000],
		"truncated webp":       photo(t, "webp/sunrise_lossy_noexif.webp")[:20_000],
		"jpeg header only":     photo(t, "jpeg/canon_sx60hs_orient6.jpg")[:4096],
	}
	entries, err := os.ReadDir(filepath.Join("..", "testdata", "photos", "malformed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data := photo(t, "malformed/"+e.Name())
		cases["malformed/"+e.Name()] = data
	}
	// Some malformed samples keep decodable pixels (their defect is in
	// EXIF only): those may render, the rest must be rejected.
	mayRender := map[string]bool{
		"malformed/hp_photosmart_crash01.jpg":             true,
		"malformed/infinite_loop_exif.jpg":                true,
		"malformed/goexif_sep_temple_square1_badjpeg.jpg": true,
		"malformed/goexif_fuzz_oom_90GB.tif":              true, // a valid 75x56 strip survives the mutation
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := render(t, r, data)
			switch {
			case err == nil && mayRender[name]:
				checkResult(t, r, res)
			case err == nil:
				t.Fatalf("rendered %dx%d, want a rejection", res.Width, res.Height)
			case !IsRejected(err):
				t.Fatalf("error %v is not a *Rejected", err)
			default:
				t.Logf("rejected: %v", err)
			}
		})
	}
	if grew := maxRSS(t) - before; grew > 256<<20 {
		t.Errorf("peak RSS grew by %d MiB over the hostile files", grew>>20)
	}
}

func TestPixelLimitIsConfigurable(t *testing.T) {
	data := syntheticJPEG(t, 3264, 2448, false) // 7.99 MP
	_, err := render(t, New(Options{MaxPixels: 7_000_000}), data)
	if !IsRejected(err) || !strings.Contains(err.Error(), "more than the limit of 7000000") {
		t.Fatalf("with a 7 MP limit: %v, want a rejection naming the limit", err)
	}
	if _, err := render(t, New(Options{MaxPixels: 8_000_000}), data); err != nil {
		t.Fatalf("a 7.99 MP photo under an 8 MP limit: %v", err)
	}
	if _, err := render(t, New(Options{MaxSourceBytes: 1000}), data); !IsRejected(err) {
		t.Fatalf("with a 1000-byte source limit: %v, want a rejection", err)
	}
}

func TestRenderHonoursCancellation(t *testing.T) {
	r := New(Options{Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.slots <- struct{}{} // the only slot is taken
	defer func() { <-r.slots }()
	data := photo(t, "jpeg/pentax_k3ii_sunrise.jpg")
	if _, err := r.Render(ctx, bytes.NewReader(data), int64(len(data))); err == nil || IsRejected(err) {
		t.Fatalf("cancelled render waiting for a slot: %v, want the context's error", err)
	}
}

func TestThumbHashAverageColour(t *testing.T) {
	for _, c := range []color.RGBA{{200, 30, 40, 255}, {20, 160, 220, 255}, {128, 128, 128, 255}} {
		w, h := 60, 40
		rgba := make([]byte, w*h*4)
		for i := 0; i < len(rgba); i += 4 {
			rgba[i], rgba[i+1], rgba[i+2], rgba[i+3] = c.R, c.G, c.B, c.A
		}
		hash, err := thumbHash(w, h, rgba)
		if err != nil {
			t.Fatal(err)
		}
		// The average colour as thumbhash's reference decoder reads it
		// from the header.
		header := uint32(hash[0]) | uint32(hash[1])<<8 | uint32(hash[2])<<16
		l := float64(header&63) / 63
		p := float64((header>>6)&63)/31.5 - 1
		q := float64((header>>12)&63)/31.5 - 1
		b := l - 2.0/3*p
		r := (3*l - b + q) / 2
		g := r - q
		got := [3]float64{r * 255, g * 255, b * 255}
		want := [3]float64{float64(c.R), float64(c.G), float64(c.B)}
		for i := range got {
			if d := got[i] - want[i]; d > 10 || d < -10 {
				t.Errorf("colour %v: thumbhash average %v", c, got)
				break
			}
		}
		if hash[4]>>7 != 1 {
			t.Errorf("colour %v: a %dx%d image not flagged landscape", c, w, h)
		}
	}
	if _, err := thumbHash(101, 10, make([]byte, 101*10*4)); err == nil {
		t.Error("thumbhash of a 101 px wide image: no error")
	}
}

// TestMemoryAndCPUOf24MP renders a 24-megapixel JPEG, baseline and
// progressive, and logs the CPU time (user+system of the process, so run
// alone). The JPEGs are made here (a camera's 24 MP file is over the
// repository's 1 MB limit for a file); making them costs more memory than
// rendering them, so peak RSS is bounded by the hostile-files test instead.
func TestMemoryAndCPUOf24MP(t *testing.T) {
	r := New(Options{})
	for _, progressive := range []bool{false, true} {
		data := syntheticJPEG(t, 5712, 4284, progressive)
		c0, start := cpuTime(t), time.Now()
		if _, err := render(t, r, data); err != nil {
			t.Fatal(err)
		}
		t.Logf("progressive=%v: %v CPU, %v wall, process peak RSS %d MiB", progressive, cpuTime(t)-c0, time.Since(start), maxRSS(t)>>20)
	}
}

func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRender24MP reports CPU per render; run with GOMAXPROCS=1 for
// the one-core figure.
func BenchmarkRender24MP(b *testing.B) {
	for _, progressive := range []bool{false, true} {
		b.Run(map[bool]string{false: "baseline", true: "progressive"}[progressive], func(b *testing.B) {
			r := New(Options{})
			data := syntheticJPEG(b, 5712, 4284, progressive)
			c0 := cpuTime(b)
			for b.Loop() {
				if _, err := render(b, r, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// TestOnlyPhotoLoadersRunInLibvips hands libvips formats it can decode
// but the renderer does not accept, past the format sniffing: the loader
// block must refuse them.
func TestOnlyPhotoLoadersRunInLibvips(t *testing.T) {
	r := New(Options{})
	for name, data := range map[string][]byte{
		"ppm": []byte("P3\n2 1\n255\n255 0 0 0 255 0\n"),
		"svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="red"/></svg>`),
		"csv": []byte("1,2,3\n4,5,6\n"),
	} {
		if _, err := r.renderPixels(data, 0); !IsRejected(err) {
			t.Errorf("%s: %v, want a rejection", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// The allowed loaders still run.
	if _, err := r.renderPixels(photo(t, "png/pentax_k3ii_sunrise_exif.png"), 0); err != nil {
		t.Errorf("png: %v", err)
	}
}

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("backend hiccup") }

// TestReadFailureIsNotARejection: a source that cannot be read now may be
// read later, so its error must not look permanent.
func TestReadFailureIsNotARejection(t *testing.T) {
	_, err := New(Options{}).Render(context.Background(), failingReader{}, 1000)
	if err == nil || IsRejected(err) || !strings.Contains(err.Error(), "backend hiccup") {
		t.Fatalf("error %v: want the read error, not a rejection", err)
	}
}

// TestOrientOfEmbeddedPreviews checks orient, which turns previews whose
// container carries the orientation, against the same hand rotation.
func TestOrientOfEmbeddedPreviews(t *testing.T) {
	New(Options{}) // starts libvips
	for o := 1; o <= 8; o++ {
		data := photo(t, "orientation/landscape_"+string(rune('0'+o))+".jpg")
		orig, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := harness.Quadrants(harness.Upright(orig, o, 8))
		img, err := vips.LoadImageFromBuffer(data, vips.NewImportParams()) // as stored: no autorotate
		if err != nil {
			t.Fatal(err)
		}
		if err := orient(img, o); err != nil {
			t.Fatal(err)
		}
		out, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 90})
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if q := harness.Quadrants(got); !harness.CloseColours(q, want, 12) {
			t.Errorf("orientation %d: quadrant colours %v, want %v", o, q, want)
		}
	}
}

// syntheticJPEG makes a w×h JPEG with photo-like detail (smooth gradients
// and fine noise, so the encoder cannot take shortcuts), baseline or
// progressive, encoded by libvips at quality 85.
func syntheticJPEG(t testing.TB, w, h int, progressive bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(24))
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*127/(w+h)) + n, 255})
		}
	}
	var raw bytes.Buffer
	if err := jpeg.Encode(&raw, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	vimg, err := vips.LoadImageFromBuffer(raw.Bytes(), vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer vimg.Close()
	out, _, err := vimg.ExportJpeg(&vips.JpegExportParams{Quality: 85, Interlace: progressive})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJPEGShrink(t *testing.T) {
	for _, c := range []struct{ source, want, shrink int }{
		{5712, 1440, 4},  // a quarter (1428) is within 5% under: decode at it, enlarge 0.8%
		{6000, 1440, 4},  // a quarter (1500) is over: reduce it
		{5000, 1440, 2},  // a quarter (1250) is too far under
		{11424, 1440, 8}, // an eighth is 1428
		{1000, 1440, 1},  // no shrink at all
		{2870, 1440, 2},
	} {
		if got := jpegShrink(c.source, c.want); got != c.shrink {
			t.Errorf("jpegShrink(%d, %d) = %d, want %d", c.source, c.want, got, c.shrink)
		}
	}
}

// BenchmarkGoImage24MP is the pure-Go alternative the renderer was chosen
// against: Go's JPEG decoder (which always decodes at full size) and
// golang.org/x/image/draw's Catmull-Rom scaler, for the preview and the
// thumbnail only (no placeholder, no colour management, no encoding).
func BenchmarkGoImage24MP(b *testing.B) {
	data := syntheticJPEG(b, 5712, 4284, false)
	c0 := cpuTime(b)
	for b.Loop() {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		preview := image.NewRGBA(image.Rect(0, 0, 1440, 1080))
		draw.CatmullRom.Scale(preview, preview.Bounds(), img, img.Bounds(), draw.Src, nil)
		thumb := image.NewRGBA(image.Rect(0, 0, 256, 192))
		draw.CatmullRom.Scale(thumb, thumb.Bounds(), preview, preview.Bounds(), draw.Src, nil)
	}
	b.ReportMetric(float64((cpuTime(b)-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// TestHEICFallbackKeepsOrientation: a HEIC decoded by the WebAssembly
// libheif comes out rotated by its irot, as through libvips.
func TestHEICFallbackKeepsOrientation(t *testing.T) {
	r := New(Options{})
	data := photo(t, "heic/iphone11promax_gps.heic")
	viaVips, err := render(t, r, data)
	if err != nil {
		t.Fatal(err)
	}
	viaWasm, err := r.renderHEICFallback(data)
	if err != nil {
		t.Fatal(err)
	}
	if viaWasm.Width != viaVips.Width || viaWasm.Height != viaVips.Height {
		t.Fatalf("fallback preview %dx%d, libvips %dx%d", viaWasm.Width, viaWasm.Height, viaVips.Width, viaVips.Height)
	}
	a, err := jpeg.Decode(bytes.NewReader(viaVips.Preview))
	if err != nil {
		t.Fatal(err)
	}
	b, err := jpeg.Decode(bytes.NewReader(viaWasm.Preview))
	if err != nil {
		t.Fatal(err)
	}
	if qa, qb := harness.Quadrants(a), harness.Quadrants(b); !harness.CloseColours(qa, qb, 12) {
		t.Errorf("quadrant colours differ: libvips %v, fallback %v", qa, qb)
	}
	if _, err := r.renderHEICFallback([]byte("....ftypheic not really")); !IsRejected(err) {
		t.Errorf("a broken HEIC: %v, want a rejection", err)
	}
}
