//go:build cgo

package rendition

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRender feeds mutated photos through the whole decode path: format
// sniffing, the header pixel check, the embedded-preview scan and libvips.
// Any outcome but a result or a *Rejected (a panic, a crash in C, a
// transient error from bytes in memory) is a bug. Small limits keep each
// run cheap and exercise the refusals.
func FuzzRender(f *testing.F) {
	for _, dir := range []string{"jpeg", "png", "webp", "avif", "heic", "raw", "malformed", "orientation"} {
		entries, err := os.ReadDir(filepath.Join("..", "testdata", "photos", dir))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "photos", dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			// Go's fuzzer slows to a crawl on inputs of hundreds of KB:
			// the headers and the first pixels are where the decoders
			// branch, so big seeds go in cut short.
			f.Add(data[:min(len(data), 32<<10)])
		}
	}
	r := New(Options{MaxPixels: 4_000_000, MaxSourceBytes: 4 << 20, Concurrency: 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := r.RenderBytes(context.Background(), data)
		if err != nil {
			if !IsRejected(err) {
				t.Fatalf("error %v is not a *Rejected", err)
			}
			return
		}
		if len(res.Preview) == 0 || len(res.Thumb) == 0 || res.Placeholder == "" {
			t.Fatalf("result without renditions: %+v", res)
		}
	})
}
