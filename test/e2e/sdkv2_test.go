package e2e_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/photogate/photogate/test/harness"
)

// newSDKClient returns an aws-sdk-go-v2 S3 client for endpoint, loaded the
// way applications load it (config.LoadDefaultConfig) with its default
// checksum behaviour, but isolated from the machine: static keys, and
// shared config files that do not exist.
//
// For an https endpoint, caFile is the test CA to trust, and the client
// gets it the way Go applications trust a private CA: a custom HTTP client,
// here the SDK's own BuildableClient (its default timeouts and pooling)
// with the CA as its only root, wrapped to record what went on the wire.
// It is set on the S3 client rather than passed to LoadDefaultConfig, which
// refuses a custom client when AWS_CA_BUNDLE is in the environment; that
// keeps the process environment untouched and the tests parallel
// (t.Setenv would forbid t.Parallel).
func newSDKClient(t *testing.T, endpoint, access, secret, caFile string) (*s3.Client, *wireLog) {
	t.Helper()
	home := t.TempDir()
	cfg, err := config.LoadDefaultConfig(t.Context(),
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(access, secret, "")),
		config.WithSharedConfigFiles([]string{filepath.Join(home, "config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(home, "credentials")}),
		// The defaults, pinned so that AWS_REQUEST_CHECKSUM_CALCULATION in
		// someone's environment cannot change what is tested.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported),
	)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	wire := &wireLog{}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(endpoint)
		if caFile != "" {
			pool, err := harness.CertPool(caFile)
			if err != nil {
				t.Fatal(err)
			}
			base := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
				if tr.TLSClientConfig == nil {
					tr.TLSClientConfig = &tls.Config{}
				}
				tr.TLSClientConfig.RootCAs = pool
			})
			o.HTTPClient = &recordingClient{base: base, log: wire}
		}
	}), wire
}

// wireRecord is one request as an SDK client sent it, with the
// x-amz-request-id and status of the answer.
type wireRecord struct {
	Method, Path, RawQuery string
	ContentSHA256, Trailer string // x-amz-content-sha256, x-amz-trailer
	Status                 int
	RequestID              string
}

// wireLog collects what a recordingClient sent.
type wireLog struct {
	mu      sync.Mutex
	records []wireRecord
}

func (w *wireLog) all() []wireRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.records)
}

// recordingClient is an SDK HTTP client that notes each request's body
// encoding headers: the client's own view, to hold against photogate's log.
type recordingClient struct {
	base interface {
		Do(*http.Request) (*http.Response, error)
	}
	log *wireLog
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.base.Do(req)
	rec := wireRecord{Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery,
		ContentSHA256: req.Header.Get("X-Amz-Content-Sha256"), Trailer: req.Header.Get("X-Amz-Trailer")}
	if resp != nil {
		rec.Status, rec.RequestID = resp.StatusCode, resp.Header.Get("X-Amz-Request-Id")
	}
	c.log.mu.Lock()
	c.log.records = append(c.log.records, rec)
	c.log.mu.Unlock()
	return resp, err
}

// httpStatus extracts the HTTP status of an SDK error (0 if none).
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// sdkPutGet uploads body with PutObject and checks it by GetObject,
// HeadObject and in MinIO.
func sdkPutGet(t *testing.T, tg *target, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	ctx := t.Context()
	sum := harness.SHA256Hex(body)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentType: aws.String("image/jpeg")})
	if err != nil {
		t.Fatalf("PutObject %s (%d bytes): %v", key, len(body), err)
	}
	tg.assertBackendObject(t, bucket, key, sum, int64(len(body)))

	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	got, n, err := harness.SHA256Reader(get.Body)
	get.Body.Close()
	if err != nil || got != sum || n != int64(len(body)) {
		t.Errorf("GetObject %s: %d bytes sha256 %s (%v), want %d bytes %s", key, n, got, err, len(body), sum)
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(body)) || aws.ToString(head.ETag) != aws.ToString(put.ETag) {
		t.Errorf("HeadObject %s: length %d etag %s, want %d and PutObject's %s",
			key, aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), len(body), aws.ToString(put.ETag))
	}
}

// sdkTransfer uploads size random bytes with the transfer manager
// (multipart above its 16 MiB threshold) and downloads them with it.
func sdkTransfer(t *testing.T, tg *target, c *s3.Client, bucket, key string, size int64) {
	t.Helper()
	ctx := t.Context()
	path, sum := harness.WriteRandomFile(t, t.TempDir(), "upload.bin", size)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tm := transfermanager.New(c)
	if _, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: f}); err != nil {
		t.Fatalf("transfer manager UploadObject %s (%d bytes): %v", key, size, err)
	}
	tg.assertBackendObject(t, bucket, key, sum, size)

	out, err := os.Create(filepath.Join(t.TempDir(), "download.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: &bucket, Key: &key, WriterAt: out}); err != nil {
		t.Fatalf("transfer manager DownloadObject %s: %v", key, err)
	}
	if got := harness.SHA256File(t, out.Name()); got != sum {
		t.Errorf("transfer manager DownloadObject %s: sha256 %s, want %s", key, got, sum)
	}
}

func sdkMakeBucket(t *testing.T, tg *target, c *s3.Client, prefix string) string {
	t.Helper()
	bucket := harness.BucketName(prefix)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
	tg.dumpLogsOnFailure(t, bucket)
	return bucket
}

// TestSDKGoV2 drives aws-sdk-go-v2 through the gateway over plain HTTP.
func TestSDKGoV2(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	c, _ := newSDKClient(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, "")

	t.Run("put-get-head", func(t *testing.T) {
		t.Parallel()
		bucket := sdkMakeBucket(t, tg, c, "sdk-put")
		sdkPutGet(t, tg, c, bucket, "small.jpg", harness.RandomBytes(1024))
		sdkPutGet(t, tg, c, bucket, "raw/16mib.dng", harness.RandomBytes(16<<20))
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("transfer-manager", func(t *testing.T) {
		t.Parallel()
		bucket := sdkMakeBucket(t, tg, c, "sdk-tm")
		sdkTransfer(t, tg, c, bucket, "video/clip.mp4", 40<<20+3)
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("list-delete", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		bucket := sdkMakeBucket(t, tg, c, "sdk-list")
		var want []string
		for i := range 25 {
			key := fmt.Sprintf("roll/%02d.jpg", i)
			want = append(want, key)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte(key))}); err != nil {
				t.Fatalf("PutObject %s: %v", key, err)
			}
		}
		var got []string
		pages := 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("roll/"), MaxKeys: aws.Int32(10)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListObjectsV2 page %d: %v", pages+1, err)
			}
			pages++
			for _, o := range page.Contents {
				got = append(got, aws.ToString(o.Key))
			}
		}
		if !slices.Equal(got, want) || pages < 3 {
			t.Errorf("ListObjectsV2 MaxKeys=10: %d pages, keys %v; want 3 pages of %v", pages, got, want)
		}

		key := "roll/07.jpg"
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		var nf *types.NotFound
		if !errors.As(err, &nf) || httpStatus(err) != 404 {
			t.Errorf("HeadObject after DeleteObject: %v, want 404 NotFound", err)
		}
		tg.assertBackendMissing(t, bucket, key)
		tg.checkBucketLogs(t, bucket)
	})
}

// TestSDKGoV2HTTPS drives aws-sdk-go-v2, with its default checksum
// behaviour and a custom HTTP client trusting the test CA, at the gateway's
// own HTTPS listener. Its default there is aws-chunked bodies with an
// unsigned payload and a CRC32 trailer, for PutObject (seekable or not) and
// the transfer manager's parts. Both sides are checked: the client must
// have sent STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum
// trailer, and photogate must have logged that mode and that algorithm for
// the very same request.
func TestSDKGoV2HTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	c, wire := newSDKClient(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, tg.CAFile)
	bucket := sdkMakeBucket(t, tg, c, "sdk-tls")
	sdkPutGet(t, tg, c, bucket, "small.jpg", harness.RandomBytes(1024))
	sdkPutGet(t, tg, c, bucket, "raw/16mib.dng", harness.RandomBytes(16<<20))
	// A body the SDK cannot seek must still stream with a trailer.
	body := harness.RandomBytes(300_001)
	key := "stream/unseekable.jpg"
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: io.MultiReader(bytes.NewReader(body)), ContentLength: aws.Int64(int64(len(body))),
	}); err != nil {
		t.Fatalf("PutObject unseekable: %v", err)
	}
	tg.assertBackendObject(t, bucket, key, harness.SHA256Hex(body), int64(len(body)))
	sdkTransfer(t, tg, c, bucket, "video/clip.mp4", 20<<20+3)

	// Three PutObjects and at least two parts.
	tg.checkUploadModes(t, "aws-sdk-go-v2", bucket, 5, unsignedTrailerCRC32, unsignedTrailerCRC64NVME)
	uploads := 0
	for _, w := range wire.all() {
		q, _ := url.ParseQuery(w.RawQuery)
		if op := q.Get("x-id"); w.Method != http.MethodPut || w.Status != http.StatusOK || (op != "PutObject" && op != "UploadPart") {
			continue
		}
		uploads++
		algo, ok := strings.CutPrefix(strings.ToLower(w.Trailer), "x-amz-checksum-")
		if w.ContentSHA256 != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || !ok || (algo != "crc32" && algo != "crc64nvme") {
			t.Errorf("PUT %s?%s: the SDK sent x-amz-content-sha256 %q, x-amz-trailer %q; want STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 or CRC64NVME trailer",
				w.Path, w.RawQuery, w.ContentSHA256, w.Trailer)
		}
		if tg.Gateway == nil {
			continue
		}
		e, found := tg.Gateway.LogFor(w.RequestID, 5*time.Second)
		if !found {
			t.Errorf("PUT %s?%s: no photogate log line for request_id %q", w.Path, w.RawQuery, w.RequestID)
			continue
		}
		if e.Payload != "streaming-unsigned-trailer" || !strings.EqualFold(e.Checksum, algo) {
			t.Errorf("PUT %s?%s sent a %s trailer: photogate logged payload %q checksum %q, want streaming-unsigned-trailer %s: %s",
				w.Path, w.RawQuery, algo, e.Payload, e.Checksum, strings.ToUpper(algo), e)
		}
	}
	if uploads < 5 {
		t.Errorf("the SDK client recorded %d successful uploads, want at least 5", uploads)
	}
	tg.checkBucketLogs(t, bucket)
}
