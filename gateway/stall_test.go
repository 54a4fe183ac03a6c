package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/test/harness"
)

// A backend that stops sending its answer's body mid-download must not
// hold the client: the connection is cut after the idle timeout, so the
// client sees a short body and retries.
func TestStalledDownloadIsCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nContent-Type: image/jpeg\r\n\r\n")
				_, _ = c.Write(make([]byte, 3500))
				<-stop // then silence, with the connection open
			}()
		}
	}()
	b, err := backend.NewBackend(backend.Config{Endpoint: "http://" + ln.Addr().String(), AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	front := httptest.NewServer(gateway.NewServer(gateway.Config{Backend: b, Policy: fullAccess(t), BodyIdleTimeout: 300 * time.Millisecond}))
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/bucket/photo.jpg", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	start := time.Now()
	resp, err := http.DefaultClient.Do(signer.SignV4(*req, userKey, userSecret, "", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 1<<20 {
		t.Fatalf("read %d bytes, err %v: a stalled download must end in a cut connection", n, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the client was held for %v", d)
	}
}

// The idle clock runs only while photogate waits for the backend: a client
// that reads slowly is never cut.
func TestSlowClientDownloadIsNotCut(t *testing.T) {
	o := startEmbedded(t)
	b, err := backend.NewBackend(backend.Config{Endpoint: o.endpoint, AccessKey: o.accessKey, SecretKey: o.secretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	front := httptest.NewServer(gateway.NewServer(gateway.Config{Backend: b, Policy: fullAccess(t), BodyIdleTimeout: 200 * time.Millisecond}))
	defer front.Close()
	ctx := context.Background()
	if err := o.direct.MakeBucket(ctx, "slow", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := harness.RandomBytes(8 << 20) // more than the socket buffers between them hold
	if _, err := o.direct.PutObject(ctx, "slow", "big.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(front.Listener.Addr().String(), &minio.Options{Creds: credentials.NewStaticV4(userKey, userSecret, "")})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "slow", "big.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var got bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := obj.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(300 * time.Millisecond) // longer than the idle timeout
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, want the %d stored", got.Len(), len(data))
	}
}
