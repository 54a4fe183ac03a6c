package extract

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkFromPrefix measures the per-upload cost: FromPrefix runs inline
// on every PUT with the first PrefixSize bytes. The headline number is the
// 24 MP iPhone JPEG; the others show each container's cost.
func BenchmarkFromPrefix(b *testing.B) {
	for _, name := range []string{
		"jpeg/canon_sx60hs_orient6.jpg",
		"heic/iphone11promax_gps.heic",
		"png/pentax_k3ii_sunrise_exif.png",
		"webp/pentax_k3ii_sunrise_exif.webp",
		"raw/canon_sd450_truncated.dng",
		"heic/nokia83_hdr_exif_at_end.heif", // needs a full read
	} {
		data := readPhoto(b, name)
		pre := prefixOf(data, PrefixSize)
		total := int64(len(data))
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if p := FromPrefix(ctx, pre, total); p.Status == StatusFailed {
					b.Fatal(p.Reason)
				}
			}
		})
	}
}

// BenchmarkFromReaderAt measures the background path on the file that
// needs it (in-memory reader: parsing cost only, no network).
func BenchmarkFromReaderAt(b *testing.B) {
	data := readPhoto(b, "heic/nokia83_hdr_exif_at_end.heif")
	r := bytes.NewReader(data)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if p := FromReaderAt(ctx, r, int64(len(data))); p.Status != StatusOK {
			b.Fatal(p.Reason)
		}
	}
}
