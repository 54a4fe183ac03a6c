package e2e_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// TestGatewayTLS runs photogate's own HTTPS listener (PHOTOGATE_TLS_CERT)
// and drives aws-cli and aws-sdk-go-v2 straight at it. The other HTTPS
// tests put a harness TLS front before a plain-HTTP gateway, which proves
// the body encodings; this one proves the binary's TLS serving with real
// clients. It has its own MinIO and gateway.
func TestGatewayTLS(t *testing.T) {
	t.Parallel()
	getTarget(t).requireGateway(t)
	m := harness.StartMinIO(t)
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: shared.binary, Backend: m, TLS: true})
	tg := &target{Endpoint: g.Endpoint(), Addr: g.Addr(), AccessKey: g.AccessKey(), SecretKey: g.SecretKey(), Backend: m, Gateway: g}

	if resp, err := g.HTTPClient().Get(g.AdminEndpoint() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz over HTTPS: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	cli := newAWSCLI(t, g.Endpoint(), g.AccessKey(), g.SecretKey(), g.CAFile())
	bucket := newBucketName("tls")
	tg.dumpLogsOnFailure(t, bucket)
	cli.run(t, "s3", "mb", "s3://"+bucket)
	src, dst := t.TempDir(), t.TempDir()
	for _, size := range []int64{6, 9 << 20} { // 9 MiB: multipart
		name := "f-" + strconv.FormatInt(size, 10) + ".bin"
		path, sum := harness.WriteRandomFile(t, src, name, size)
		cli.run(t, "s3", "cp", path, "s3://"+bucket+"/"+name)
		tg.assertBackendObject(t, bucket, name, sum, size)
		out := filepath.Join(dst, name)
		cli.run(t, "s3", "cp", "s3://"+bucket+"/"+name, out)
		if got := harness.SHA256File(t, out); got != sum {
			t.Errorf("s3 cp down %s: sha256 %s, want %s", name, got, sum)
		}
	}

	c := newSDKClient(t, g.Endpoint(), g.AccessKey(), g.SecretKey(), g.CAFile())
	sdkPutGet(t, tg, c, bucket, "sdk.jpg", harness.RandomBytes(2<<20+1))

	// Every client upload here travelled over HTTPS, so each must have
	// been a STREAMING-UNSIGNED-PAYLOAD-TRAILER body with a verified CRC32.
	entries := tg.checkBucketLogs(t, bucket)
	uploads := 0
	for _, e := range entries {
		if !slices.Contains(uploadOps, e.Op) || e.Status != http.StatusOK {
			continue
		}
		uploads++
		if e.Payload != "streaming-unsigned-trailer" || !strings.EqualFold(e.Checksum, "crc32") {
			t.Errorf("upload over HTTPS logged payload %q checksum %q, want streaming-unsigned-trailer crc32: %s", e.Payload, e.Checksum, e)
		}
	}
	if uploads == 0 {
		t.Error("no successful uploads logged")
	}
}
