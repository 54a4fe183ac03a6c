package gateway

import (
	"bytes"
	"io"
	"testing"
)

func TestPrefixPoolClasses(t *testing.T) {
	var p prefixPool
	for _, c := range []struct{ need, wantCap int64 }{
		{0, 4 << 10}, {1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10},
		{64 << 10, 64 << 10}, {200 << 10, 256 << 10}, {256 << 10, 256 << 10}, {1 << 20, 1 << 20},
	} {
		b := p.get(c.need)
		if int64(cap(*b)) != c.wantCap || len(*b) != 0 {
			t.Errorf("get(%d): len %d cap %d, want 0 and %d", c.need, len(*b), cap(*b), c.wantCap)
		}
		p.put(b)
	}
}

// A body still read after releasePrefix (the backend transport's writer
// can outlive the request) must not write into the recycled buffer.
func TestReleasedPrefixIsNotWritten(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 1024)
	b := &uploadBody{length: int64(len(data)), tap: &tapReader{r: bytes.NewReader(data), closer: io.NopCloser(nil)}}
	buf := make([]byte, 0, 16<<10)
	b.teePrefix(buf, 1<<20)
	p := make([]byte, 100)
	if _, err := io.ReadFull(b.tap, p); err != nil {
		t.Fatal(err)
	}
	if got := b.prefix(); !bytes.Equal(got, data[:100]) {
		t.Fatalf("prefix %q, want the first 100 bytes", got)
	}
	b.releasePrefix()
	// The rest of the body passes with the tap detached.
	if _, err := io.Copy(io.Discard, b.tap); err != nil {
		t.Fatal(err)
	}
	if got := buf[:cap(buf)][100:200]; bytes.ContainsAny(got, "abcdefgh") {
		t.Fatal("a Read after releasePrefix wrote into the buffer")
	}
	if b.prefix() != nil {
		t.Fatal("prefix after release")
	}
}

// The prefix is n bytes even when the pooled buffer could hold more.
func TestPrefixIsLimitedToN(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 10000)
	b := &uploadBody{length: int64(len(data)), tap: &tapReader{r: bytes.NewReader(data), closer: io.NopCloser(nil)}}
	b.teePrefix(make([]byte, 0, 16<<10), 3000)
	if _, err := io.Copy(io.Discard, b.tap); err != nil {
		t.Fatal(err)
	}
	if got := len(b.prefix()); got != 3000 {
		t.Fatalf("prefix of %d bytes, want 3000", got)
	}
}
