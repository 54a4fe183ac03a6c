package extract

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// FuzzFromPrefix feeds arbitrary bytes to both entry points. Seeds are the
// first 4 KiB of every test photo (container headers and most EXIF blocks),
// plus regression inputs kept in testdata/fuzz/FuzzFromPrefix.
//
//	go test -run='^$' -fuzz=FuzzFromPrefix -fuzztime=180s ./metastore/extract/
func FuzzFromPrefix(f *testing.F) {
	for _, name := range photoFiles(f) {
		f.Add(prefixOf(readPhoto(f, name), 4<<10), int64(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, extra int64) {
		ctx := context.Background()
		// The declared total varies: exact, unknown, or larger than the
		// prefix (the object goes on beyond what we were given).
		total := int64(len(data))
		switch {
		case extra < 0:
			total = -1
		case extra > 0:
			total += extra % (1 << 30)
		}
		p := FromPrefix(ctx, data, total)
		checkInvariants(t, p)
		if p.NeedsFullRead && total == int64(len(data)) {
			t.Errorf("NeedsFullRead although the prefix is the whole object")
		}
		q := FromReaderAt(ctx, bytes.NewReader(data), int64(len(data)))
		checkInvariants(t, q)
		// Every bound is a count, so the deadline is a backstop that no
		// input should reach.
		for _, r := range []Photo{p, q} {
			if strings.Contains(r.Reason, "timed out") {
				t.Errorf("deadline reached: %q", r.Reason)
			}
		}
		if q.NeedsFullRead {
			t.Errorf("FromReaderAt asks for a full read")
		}
		if q.Format != "" && p.Format != q.Format && total == int64(len(data)) {
			t.Errorf("format %q from the prefix, %q from the reader", p.Format, q.Format)
		}
	})
}
