package security_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestRequestInsideAnUnreadBodyIsNeverRun: a request hidden in the body of
// one photogate answers without reading it (an anonymous PUT) is never
// parsed as the next request on the connection. Behind a proxy that shares
// upstream connections, that is how one client's bytes become another's
// request. The hidden request here is a validly signed PUT, so MinIO shows
// whether it ran; bodies below and above net/http's 256 KiB discard.
func TestRequestInsideAnUnreadBodyIsNeverRun(t *testing.T) {
	e := start(t, "")
	bucket := "smuggle-" + strings.ToLower(harness.RandomString(6))
	makeBuckets(t, minio.MakeBucketOptions{}, bucket)
	host := strings.TrimPrefix(e.g.Endpoint(), "http://")
	for _, pad := range []int{0, 300 << 10} {
		key := fmt.Sprintf("smuggled-%d", pad)
		payload := bytes.Repeat([]byte("x"), pad)
		inner := signed(t, http.MethodPut, e.url("/"+bucket+"/"+key), payload, e.admin())
		var hidden bytes.Buffer
		if err := inner.Write(&hidden); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		go fmt.Fprintf(c, "PUT /%s/cover HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", bucket, host, hidden.Len(), hidden.Bytes())
		br := bufio.NewReader(c)
		get, _ := http.NewRequest(http.MethodGet, "/", nil)
		first, err := http.ReadResponse(br, get)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, first.Body)
		if first.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous PUT: %d, want 403", first.StatusCode)
		}
		// A request run from the body would be answered at once; the
		// connection may stay open (net/http read and dropped a short body).
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if second, err := http.ReadResponse(br, get); err == nil {
			t.Errorf("hidden PUT of %d bytes: answered %d on the same connection", pad, second.StatusCode)
		}
		c.Close()
		if _, err := suite.Backend.Client().StatObject(t.Context(), bucket, key, minio.StatObjectOptions{}); err == nil {
			t.Errorf("the hidden PUT of %d bytes stored %s at MinIO", pad, key)
		}
	}
}
