package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// Large GETs take the zero-copy path on Linux (the backend's connection
// spliced to the client's) and still return exactly the object's bytes,
// whole or a range, counted in photogate's metrics; HEAD and errors are
// unchanged.
func TestLargeGetIsSpliced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("splice(2) is Linux only")
	}
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		ctx := context.Background()
		s.bucket(t, "splice")
		data := harness.RandomBytes(16<<20 + 12345)
		if _, err := s.direct.PutObject(ctx, "splice", "big.bin", bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			t.Fatal(err)
		}
		sent := func() int { return counterSum(t, s.metrics, "photogate_s3_sent_bytes_total") }
		get := func(rng string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, s.front.URL+"/splice/big.bin", nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp := signedDo(t, req)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("GET %q: %v after %d bytes", rng, err, len(body))
			}
			return resp, body
		}

		for _, c := range []struct {
			rng        string
			status     int
			start, end int // the bytes of data expected, [start, end)
		}{
			{"", http.StatusOK, 0, len(data)},
			{"bytes=1000-5242882", http.StatusPartialContent, 1000, 5242883},
			{fmt.Sprintf("bytes=-%d", 3<<20), http.StatusPartialContent, len(data) - 3<<20, len(data)},
		} {
			splicedBefore, sentBefore := s.backend.SplicedBytes(), sent()
			resp, body := get(c.rng)
			want := data[c.start:c.end]
			if resp.StatusCode != c.status || !bytes.Equal(body, want) {
				t.Fatalf("GET %q: %d with %d bytes (equal: %v), want %d with the %d bytes of the object", c.rng,
					resp.StatusCode, len(body), bytes.Equal(body, want), c.status, len(want))
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Errorf("GET %q: Content-Length %q, want %d", c.rng, cl, len(want))
			}
			// All but what photogate buffered with the answer's head (at
			// most its 64 KiB read buffer) went through splice.
			if n := s.backend.SplicedBytes() - splicedBefore; n < int64(len(want))-64<<10 || n > int64(len(want)) {
				t.Errorf("GET %q: %d of %d bytes were spliced", c.rng, n, len(want))
			}
			if n := sent() - sentBefore; n != len(want) {
				t.Errorf("GET %q: photogate_s3_sent_bytes_total grew by %d, want %d", c.rng, n, len(want))
			}
		}

		// HEAD, a missing key, and a small object: no splice, same answers.
		splicedBefore := s.backend.SplicedBytes()
		req, _ := http.NewRequest(http.MethodHead, s.front.URL+"/splice/big.bin", nil)
		resp := signedDo(t, req)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
			t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		req, _ = http.NewRequest(http.MethodGet, s.front.URL+"/splice/missing.bin", nil)
		if code := s3Code(t, signedDo(t, req)); code != "NoSuchKey" {
			t.Errorf("GET of a missing key: %q, want NoSuchKey", code)
		}
		if n := s.backend.SplicedBytes() - splicedBefore; n != 0 {
			t.Errorf("HEAD and an error answer spliced %d bytes", n)
		}

		// The connection the spliced GETs used is clean for the next ones.
		for i := range 3 {
			if _, body := get(""); !bytes.Equal(body, data) {
				t.Fatalf("GET %d after the others: %d bytes that differ", i, len(body))
			}
		}
	})
}
