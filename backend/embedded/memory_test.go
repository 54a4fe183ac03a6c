package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// memProbe samples the heap while a transfer runs. runtime.MemStats is
// process-wide, so client and server both count: the client side streams
// too, which keeps the bound meaningful for the server.
type memProbe struct {
	before  runtime.MemStats
	peakUse uint64 // guarded by mu while the sampler runs
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
}

func startProbe() *memProbe {
	p := &memProbe{stop: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&p.before)
	p.peakUse = p.before.HeapInuse
	p.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				p.mu.Lock()
				p.peakUse = max(p.peakUse, ms.HeapInuse)
				p.mu.Unlock()
			}
		}
	})
	return p
}

// done returns bytes allocated and the peak HeapInuse growth.
func (p *memProbe) done() (allocated, peakGrowth uint64) {
	close(p.stop)
	p.wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak := max(p.peakUse, after.HeapInuse)
	return after.TotalAlloc - p.before.TotalAlloc, peak - p.before.HeapInuse
}

// hashingSource streams n deterministic pseudo-random bytes, hashing them.
type hashingSource struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newSource(seed byte, n int64) *hashingSource {
	return &hashingSource{r: io.LimitReader(rand.NewChaCha8([32]byte{seed}), n), h: sha256.New()}
}

func (s *hashingSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	return n, err
}

func (s *hashingSource) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

func rawDo(t *testing.T, method, url string, body io.Reader, size int64) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func readHash(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestMemoryBound PUTs and GETs a 256 MiB object, and assembles a 96 MiB
// multipart upload, checking that neither gofakes3's handler, s3afero nor
// our layer holds an object in memory: allocations and heap growth stay a
// small fraction of the object size.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 350 MiB through the backend")
	}
	const (
		objectSize = 256 << 20
		partSize   = 32 << 20
		parts      = 3
		limit      = 48 << 20 // far below either object's size
	)
	b := startBackend(t)
	base := b.Endpoint() + "/" + testBucket
	if resp := rawDo(t, http.MethodPut, base, nil, 0); resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}

	check := func(what string, allocated, growth uint64) {
		t.Helper()
		t.Logf("%s: allocated %d KiB, peak heap growth %d KiB", what, allocated>>10, growth>>10)
		if allocated > limit || growth > limit {
			t.Errorf("%s: allocated %d bytes, heap grew %d bytes; limit %d: something buffers whole objects", what, allocated, growth, limit)
		}
	}

	// Single PUT and GET.
	probe := startProbe()
	src := newSource(1, objectSize)
	resp := rawDo(t, http.MethodPut, base+"/big.bin", src, objectSize)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	allocated, growth := probe.done()
	check("PUT 256 MiB", allocated, growth)

	probe = startProbe()
	resp = rawDo(t, http.MethodGet, base+"/big.bin", nil, 0)
	if got := readHash(t, resp); got != src.sum() {
		t.Fatal("GET returned different bytes")
	}
	allocated, growth = probe.done()
	check("GET 256 MiB", allocated, growth)

	// Multipart: parts staged on disk, completion streamed into the store.
	probe = startProbe()
	resp = rawDo(t, http.MethodPost, base+"/mp.bin?uploads", nil, 0)
	var init initiateMultipartUploadResult
	if err := xml.NewDecoder(resp.Body).Decode(&init); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	whole := sha256.New()
	var complete strings.Builder
	complete.WriteString("<CompleteMultipartUpload>")
	for n := 1; n <= parts; n++ {
		part := newSource(byte(10+n), partSize)
		resp := rawDo(t, http.MethodPut, fmt.Sprintf("%s/mp.bin?partNumber=%d&uploadId=%s", base, n, init.UploadID),
			io.TeeReader(part, whole), partSize)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("part %d: %d", n, resp.StatusCode)
		}
		fmt.Fprintf(&complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n, resp.Header.Get("ETag"))
	}
	complete.WriteString("</CompleteMultipartUpload>")
	resp = rawDo(t, http.MethodPost, base+"/mp.bin?uploadId="+init.UploadID, strings.NewReader(complete.String()), int64(complete.Len()))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("CompleteMultipartUploadResult")) {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	resp = rawDo(t, http.MethodGet, base+"/mp.bin", nil, 0)
	if got := readHash(t, resp); got != hex.EncodeToString(whole.Sum(nil)) {
		t.Fatal("multipart GET returned different bytes")
	}
	allocated, growth = probe.done()
	check("multipart 96 MiB", allocated, growth)
}
