package e2e_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/photogate/photogate/test/harness"
)

// The tests here hold photogate to one rule: an object uploaded through it
// carries the very checksum it would carry had the client uploaded the same
// bytes, with the same part size, to MinIO directly. Every upload is done
// twice, through the target and straight to MinIO, and the checksums that
// the uploads returned, that HEAD reports and that GetObjectAttributes
// reports are compared, through the target and at MinIO. Where the client
// asked for an algorithm, the value is also computed here from the bytes,
// so that a checksum both sides lost cannot pass.

// checksums is what one S3 answer says about an object's checksum: the
// x-amz-checksum-* values and x-amz-checksum-type.
type checksums struct {
	CRC32, CRC32C, CRC64NVME, SHA1, SHA256 string
	Type                                   string // FULL_OBJECT, COMPOSITE or ""
}

func uploadChecksums(i minio.UploadInfo) checksums {
	return checksums{CRC32: i.ChecksumCRC32, CRC32C: i.ChecksumCRC32C, CRC64NVME: i.ChecksumCRC64NVME,
		SHA1: i.ChecksumSHA1, SHA256: i.ChecksumSHA256, Type: i.ChecksumMode}
}

func objectChecksums(i minio.ObjectInfo) checksums {
	return checksums{CRC32: i.ChecksumCRC32, CRC32C: i.ChecksumCRC32C, CRC64NVME: i.ChecksumCRC64NVME,
		SHA1: i.ChecksumSHA1, SHA256: i.ChecksumSHA256, Type: i.ChecksumMode}
}

func sdkChecksums(o *transfermanager.UploadObjectOutput) checksums {
	return checksums{CRC32: aws.ToString(o.ChecksumCRC32), CRC32C: aws.ToString(o.ChecksumCRC32C),
		CRC64NVME: aws.ToString(o.ChecksumCRC64NVME), SHA1: aws.ToString(o.ChecksumSHA1),
		SHA256: aws.ToString(o.ChecksumSHA256), Type: string(o.ChecksumType)}
}

// value is the checksum of algorithm algo in c.
func (c checksums) value(algo minio.ChecksumType) string {
	switch algo.Base() {
	case minio.ChecksumCRC32:
		return c.CRC32
	case minio.ChecksumCRC32C:
		return c.CRC32C
	case minio.ChecksumCRC64NVME:
		return c.CRC64NVME
	case minio.ChecksumSHA1:
		return c.SHA1
	case minio.ChecksumSHA256:
		return c.SHA256
	}
	return ""
}

// algorithm is the algorithm whose checksum c carries; ChecksumNone if
// none.
func (c checksums) algorithm() minio.ChecksumType {
	for _, algo := range []minio.ChecksumType{minio.ChecksumCRC32, minio.ChecksumCRC32C, minio.ChecksumCRC64NVME, minio.ChecksumSHA1, minio.ChecksumSHA256} {
		if c.value(algo) != "" {
			return algo
		}
	}
	return minio.ChecksumNone
}

// checkClientDefault checks the checksum MinIO stored for an SDK's
// multipart upload of body in parts of partSize, with the algorithm and
// type the SDK chose by default: there must be one, photogate must have
// verified that algorithm on every part, and the value must be the one
// computed from the bytes.
func (p *checksumPair) checkClientDefault(t *testing.T, client, key string, stored checksums, body []byte, partSize int) {
	t.Helper()
	t.Logf("%s over %s: stored checksum %+v", client, p.tg.scheme(), stored)
	algo := stored.algorithm()
	if algo == minio.ChecksumNone {
		t.Errorf("%s: MinIO stored no checksum for the upload of %s: %+v", client, key, stored)
		return
	}
	parts := (len(body) + partSize - 1) / partSize
	p.checkVerified(t, key, parts, algo)
	if stored.Type == "FULL_OBJECT" {
		partSize = 0
	}
	if want := expectedChecksum(algo, body, partSize); stored != want {
		t.Errorf("%s: HEAD %s at MinIO: %+v, want %+v computed from the bytes", client, key, stored, want)
	}
}

// expectedChecksum computes, from the bytes alone, the checksum S3 keeps
// for body uploaded with algo: of the whole body for a single PUT
// (partSize 0) and for a full-object type; otherwise the composite, the
// checksum of the parts' checksums with "-<parts>" appended.
func expectedChecksum(algo minio.ChecksumType, body []byte, partSize int) checksums {
	base := algo.Base()
	var want checksums
	value := base.ChecksumBytes(body).Encoded()
	want.Type = "FULL_OBJECT"
	if partSize > 0 && len(body) > partSize && !algo.FullObjectRequested() {
		var raw []byte
		parts := 0
		for off := 0; off < len(body); off += partSize {
			raw = append(raw, base.ChecksumBytes(body[off:min(off+partSize, len(body))]).Raw()...)
			parts++
		}
		value = base.ChecksumBytes(raw).Encoded() + "-" + strconv.Itoa(parts)
		want.Type = "COMPOSITE"
	}
	switch base {
	case minio.ChecksumCRC32:
		want.CRC32 = value
	case minio.ChecksumCRC32C:
		want.CRC32C = value
	case minio.ChecksumCRC64NVME:
		want.CRC64NVME = value
	case minio.ChecksumSHA1:
		want.SHA1 = value
	case minio.ChecksumSHA256:
		want.SHA256 = value
	}
	return want
}

// statChecksums HEADs bucket/key with x-amz-checksum-mode: ENABLED.
func statChecksums(t *testing.T, c *minio.Client, bucket, key string) checksums {
	t.Helper()
	info, err := c.StatObject(t.Context(), bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatalf("StatObject %s/%s at %s with checksum mode: %v", bucket, key, c.EndpointURL().Host, err)
	}
	return objectChecksums(info)
}

// checksumClient returns a minio-go client for the target with
// TrailingHeaders as given: the switch that lets minio-go send flexible
// checksums at all.
func (tg *target) checksumClient(t *testing.T, trailing bool) *minio.Client {
	t.Helper()
	return tg.newClient(t, &minio.Options{
		Creds:           credentials.NewStaticV4(tg.AccessKey, tg.SecretKey, ""),
		Region:          region,
		TrailingHeaders: trailing,
	})
}

// checksumPair is one test's view of both paths: the target (photogate)
// and MinIO directly, each with a bucket of its own.
type checksumPair struct {
	tg, direct           *target
	bucket, directBucket string
	// viaTarget reads through the target; atMinIO reads from MinIO with
	// the backend's own client, whoever wrote the object.
	viaTarget, atMinIO *minio.Client
	// The uploaders, with and without TrailingHeaders.
	trailingTarget, trailingMinIO *minio.Client
	plainTarget, plainMinIO       *minio.Client
}

func newChecksumPair(t *testing.T, tg *target, prefix string) *checksumPair {
	t.Helper()
	direct := minioTarget(tg.Backend)
	trailingTarget := tg.checksumClient(t, true)
	return &checksumPair{
		tg: tg, direct: direct,
		bucket:         tg.makeBucket(t, prefix),
		directBucket:   direct.makeBucket(t, prefix+"-direct"),
		viaTarget:      trailingTarget,
		atMinIO:        tg.Backend.Client(),
		trailingTarget: trailingTarget,
		trailingMinIO:  direct.checksumClient(t, true),
		plainTarget:    tg.checksumClient(t, false),
		plainMinIO:     direct.checksumClient(t, false),
	}
}

// compareStored checks what is stored at key in both buckets: the bytes at
// MinIO, HEAD through the target against HEAD at MinIO for the same object
// and against the direct upload, and, for a multipart object,
// GetObjectAttributes likewise. It returns what MinIO reports for the
// direct upload.
func (p *checksumPair) compareStored(t *testing.T, key string, body []byte, parts int) checksums {
	t.Helper()
	p.tg.assertBackendObject(t, p.bucket, key, harness.SHA256Hex(body), int64(len(body)))
	headTarget := statChecksums(t, p.viaTarget, p.bucket, key)
	headBackend := statChecksums(t, p.atMinIO, p.bucket, key)
	headDirect := statChecksums(t, p.atMinIO, p.directBucket, key)
	if headTarget != headBackend {
		t.Errorf("HEAD %s with checksum mode: through the target %+v, MinIO reports %+v for the same object", key, headTarget, headBackend)
	}
	if headBackend != headDirect {
		t.Errorf("HEAD %s with checksum mode: uploaded through the target MinIO stores %+v, uploaded directly %+v", key, headBackend, headDirect)
	}
	if parts > 1 {
		p.compareAttributes(t, key, int64(len(body)), parts)
	}
	return headDirect
}

// compareAttributes checks GetObjectAttributes (ETag, Checksum,
// ObjectParts, ObjectSize) of a multipart object: through the target it
// must equal MinIO's answer for the same object, which must equal MinIO's
// for the direct upload and have the object's size and number of parts.
func (p *checksumPair) compareAttributes(t *testing.T, key string, size int64, parts int) {
	t.Helper()
	ctx := t.Context()
	viaTarget, err := p.viaTarget.GetObjectAttributes(ctx, p.bucket, key, minio.ObjectAttributesOptions{})
	if err != nil {
		t.Errorf("GetObjectAttributes %s/%s through the target: %v", p.bucket, key, err)
		return
	}
	atMinIO, err := p.atMinIO.GetObjectAttributes(ctx, p.bucket, key, minio.ObjectAttributesOptions{})
	if err != nil {
		t.Fatalf("GetObjectAttributes %s/%s at MinIO: %v", p.bucket, key, err)
	}
	direct, err := p.atMinIO.GetObjectAttributes(ctx, p.directBucket, key, minio.ObjectAttributesOptions{})
	if err != nil {
		t.Fatalf("GetObjectAttributes %s/%s at MinIO: %v", p.directBucket, key, err)
	}
	if !reflect.DeepEqual(viaTarget, atMinIO) {
		t.Errorf("GetObjectAttributes %s through the target:\n%s\nMinIO for the same object:\n%s", key, attrString(viaTarget), attrString(atMinIO))
	}
	if !reflect.DeepEqual(atMinIO.ObjectAttributesResponse, direct.ObjectAttributesResponse) {
		t.Errorf("GetObjectAttributes %s, uploaded through the target:\n%s\nuploaded directly:\n%s", key, attrString(atMinIO), attrString(direct))
	}
	if int64(direct.ObjectSize) != size || direct.ObjectParts.PartsCount != parts || len(direct.ObjectParts.Parts) != parts {
		t.Errorf("GetObjectAttributes %s at MinIO: size %d, %d parts (%d listed); want %d bytes in %d parts",
			key, direct.ObjectSize, direct.ObjectParts.PartsCount, len(direct.ObjectParts.Parts), size, parts)
	}
}

func attrString(a *minio.ObjectAttributes) string {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", *a)
	}
	return string(b)
}

// checkVerified reads photogate's log for the uploads (PutObject,
// UploadPart) of key and fails unless there were wantUploads, each logged
// with the checksum algorithm algo, which photogate says it verified; with
// ChecksumNone it only logs what it saw.
func (p *checksumPair) checkVerified(t *testing.T, key string, wantUploads int, algo minio.ChecksumType) {
	t.Helper()
	if p.tg.Gateway == nil {
		return
	}
	p.tg.logBarrier(t, p.bucket)
	var seen []string
	for _, e := range p.tg.Gateway.RequestLogs(func(e harness.LogEntry) bool { return e.Bucket == p.bucket && e.Key == key }) {
		if !slices.Contains(uploadOps, e.Op) || e.Status != http.StatusOK {
			continue
		}
		m := uploadMode{Payload: e.Payload, Checksum: strings.ToUpper(e.Checksum), Op: e.Op}
		seen = append(seen, m.String())
		if algo != minio.ChecksumNone && m.Checksum != algo.String() {
			t.Errorf("photogate logged an upload of %s as %s, want checksum %s verified: %s", key, m, algo, e)
		}
	}
	if len(seen) != wantUploads {
		t.Errorf("photogate logged %d successful uploads of %s, want %d: %v", len(seen), key, wantUploads, seen)
	}
	t.Logf("%s: uploads as photogate received them: %v", key, seen)
}

// minioGoChecksumCase is one upload of the minio-go matrix.
type minioGoChecksumCase struct {
	name     string
	trailing bool               // TrailingHeaders on the client
	algo     minio.ChecksumType // PutObjectOptions.Checksum; ChecksumNone: the client's default
	// sends is the algorithm the client sends and photogate must verify
	// when algo is ChecksumNone: the client's own default, if any.
	sends    minio.ChecksumType
	size     int
	partSize int // 0: a single PUT
}

func (p *checksumPair) runMinioGo(t *testing.T, c minioGoChecksumCase) {
	t.Helper()
	ctx := t.Context()
	body := harness.RandomBytes(c.size)
	opts := minio.PutObjectOptions{Checksum: c.algo, ContentType: "application/octet-stream"}
	parts := 1
	if c.partSize > 0 {
		opts.PartSize, opts.NumThreads = uint64(c.partSize), 4
		parts = (c.size + c.partSize - 1) / c.partSize
	}
	viaTarget, atMinIO := p.plainTarget, p.plainMinIO
	if c.trailing {
		viaTarget, atMinIO = p.trailingTarget, p.trailingMinIO
	}
	key := "checksum/" + c.name
	gotTarget, err := viaTarget.PutObject(ctx, p.bucket, key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("PutObject %s (%d bytes, %d parts, checksum %q) through the target: %v", key, c.size, parts, c.algo, err)
	}
	gotDirect, err := atMinIO.PutObject(ctx, p.directBucket, key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("PutObject %s straight to MinIO: %v", key, err)
	}
	what := "PutObject"
	if parts > 1 {
		what = "CompleteMultipartUpload"
	}
	if uploadChecksums(gotTarget) != uploadChecksums(gotDirect) {
		t.Errorf("%s %s returned checksums %+v through the target, %+v from MinIO directly",
			what, key, uploadChecksums(gotTarget), uploadChecksums(gotDirect))
	}
	stored := p.compareStored(t, key, body, parts)
	sent := cmp.Or(c.algo, c.sends)
	p.checkVerified(t, key, parts, sent)
	if sent != minio.ChecksumNone {
		want := expectedChecksum(sent, body, c.partSize)
		if stored != want {
			t.Errorf("HEAD %s at MinIO (direct upload): %+v, want %+v computed from the bytes", key, stored, want)
		}
		if got := uploadChecksums(gotTarget).value(sent); got != want.value(sent) {
			t.Errorf("%s %s through the target returned %s %q, want %q", what, key, sent, got, want.value(sent))
		}
	}
}

// TestChecksumMinioGo uploads with minio-go, with and without
// TrailingHeaders, every checksum algorithm it offers, as a single PUT and
// as a multipart upload with parts sent in parallel.
func TestChecksumMinioGo(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	p := newChecksumPair(t, tg, "cks-mgo")

	const single, multi, smallPart = 3<<20 + 17, 11<<20 + 5, 5 << 20
	algos := []struct {
		name string
		algo minio.ChecksumType
	}{
		{"crc32", minio.ChecksumCRC32},
		{"crc32c", minio.ChecksumCRC32C},
		{"crc64nvme", minio.ChecksumCRC64NVME},
		{"sha1", minio.ChecksumSHA1},
		{"sha256", minio.ChecksumSHA256},
		{"full-object-crc32", minio.ChecksumFullObjectCRC32},
		{"full-object-crc32c", minio.ChecksumFullObjectCRC32C},
	}
	for _, a := range algos {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			p.runMinioGo(t, minioGoChecksumCase{name: a.name + "/single", trailing: true, algo: a.algo, size: single})
			p.runMinioGo(t, minioGoChecksumCase{name: a.name + "/multipart", trailing: true, algo: a.algo, size: multi, partSize: smallPart})
		})
	}
	// With TrailingHeaders and no algorithm asked for, minio-go sends
	// CRC32C with each part (composite), and over plain HTTP, where it
	// signs the payload, nothing with a single PUT.
	t.Run("trailing-default", func(t *testing.T) {
		t.Parallel()
		p.runMinioGo(t, minioGoChecksumCase{name: "trailing-default/single", trailing: true, size: single})
		p.runMinioGo(t, minioGoChecksumCase{name: "trailing-default/multipart", trailing: true, sends: minio.ChecksumCRC32C, size: multi, partSize: smallPart})
	})
	t.Run("no-trailing-headers", func(t *testing.T) {
		t.Parallel()
		p.runMinioGo(t, minioGoChecksumCase{name: "plain/single", size: single})
		p.runMinioGo(t, minioGoChecksumCase{name: "plain/multipart", size: multi, partSize: smallPart})
	})
	// Two large uploads, nine 16 MiB parts four at a time.
	t.Run("large-crc64nvme", func(t *testing.T) {
		t.Parallel()
		p.runMinioGo(t, minioGoChecksumCase{name: "large/crc64nvme", trailing: true, algo: minio.ChecksumCRC64NVME, size: 130 << 20, partSize: 16 << 20})
	})
	t.Run("large-no-trailing-headers", func(t *testing.T) {
		t.Parallel()
		p.runMinioGo(t, minioGoChecksumCase{name: "large/plain", size: 130 << 20, partSize: 16 << 20})
	})
}

// overHTTPAndHTTPS runs test, in parallel, against the shared target over
// plain HTTP and over HTTPS.
func overHTTPAndHTTPS(t *testing.T, test func(t *testing.T, tg *target)) {
	t.Helper()
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			tg := getTarget(t)
			if scheme == "https" {
				tg = getTLSTarget(t)
			}
			test(t, tg)
		})
	}
}

// TestChecksumSDKGoV2 uploads with the aws-sdk-go-v2 transfer manager and
// its default checksum behaviour (CRC32 for every upload), multipart, over
// HTTP and HTTPS, and compares with the same upload straight to MinIO.
func TestChecksumSDKGoV2(t *testing.T) {
	t.Parallel()
	const size, partSize = 40<<20 + 3, 16 << 20
	overHTTPAndHTTPS(t, func(t *testing.T, tg *target) {
		p := newChecksumPair(t, tg, "cks-sdk")
		viaTarget, _ := newSDKClient(t, tg.Endpoint, tg.AccessKey, tg.SecretKey, tg.CAFile)
		atMinIO, _ := newSDKClient(t, p.direct.Endpoint, p.direct.AccessKey, p.direct.SecretKey, p.direct.CAFile)
		body := harness.RandomBytes(size)
		key := "checksum/transfer-manager.mov"
		upload := func(c *transfermanager.Client, bucket string) *transfermanager.UploadObjectOutput {
			out, err := c.UploadObject(t.Context(), &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
			if err != nil {
				t.Fatalf("transfer manager UploadObject %s/%s (%d bytes): %v", bucket, key, size, err)
			}
			return out
		}
		tmOptions := func(o *transfermanager.Options) { o.PartSizeBytes, o.Concurrency = partSize, 4 }
		gotTarget := upload(transfermanager.New(viaTarget, tmOptions), p.bucket)
		gotDirect := upload(transfermanager.New(atMinIO, tmOptions), p.directBucket)
		if sdkChecksums(gotTarget) != sdkChecksums(gotDirect) {
			t.Errorf("CompleteMultipartUpload returned checksums %+v through the target, %+v from MinIO directly",
				sdkChecksums(gotTarget), sdkChecksums(gotDirect))
		}
		stored := p.compareStored(t, key, body, (size+partSize-1)/partSize)
		p.checkClientDefault(t, "aws-sdk-go-v2 transfer manager", key, stored, body, partSize)
	})
}

// boto3UploadScript uploads a file with boto3's managed transfer
// (upload_file), whose checksum behaviour is left at the default, and
// prints what HEAD with checksum mode reports.
const boto3UploadScript = `
import json, sys
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket, key, datafile, part_size = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
s3.upload_file(datafile, bucket, key,
               Config=TransferConfig(multipart_chunksize=int(part_size), max_concurrency=4))
head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
print(json.dumps({k: v for k, v in head.items() if k.startswith("Checksum")}))
`

// runBoto3Upload uploads datafile to bucket/key at tg with boto3 and
// returns the Checksum* fields of boto3's HEAD.
func runBoto3Upload(t *testing.T, tg *target, bucket, key, datafile string, partSize int) map[string]string {
	t.Helper()
	out := runPythonBoto3(t, tg, boto3UploadScript, tg.CAFile, tg.Endpoint, bucket, key, datafile, strconv.Itoa(partSize))
	var head map[string]string
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("boto3 upload printed %q: %v", out, err)
	}
	return head
}

// TestChecksumBoto3 uploads with boto3's managed transfer and its default
// checksum behaviour, multipart, over HTTP and HTTPS, and compares with the
// same upload straight to MinIO.
func TestChecksumBoto3(t *testing.T) {
	t.Parallel()
	harness.Require(t, "boto3")
	const size, partSize = 40<<20 + 3, 8 << 20
	overHTTPAndHTTPS(t, func(t *testing.T, tg *target) {
		p := newChecksumPair(t, tg, "cks-boto3")
		path, _ := harness.WriteRandomFile(t, t.TempDir(), "upload.bin", size)
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key := "checksum/upload-file.mov"
		headTarget := runBoto3Upload(t, tg, p.bucket, key, path, partSize)
		headDirect := runBoto3Upload(t, p.direct, p.directBucket, key, path, partSize)
		if !reflect.DeepEqual(headTarget, headDirect) {
			t.Errorf("boto3 head_object with ChecksumMode: %v through the target, %v from MinIO directly", headTarget, headDirect)
		}
		stored := p.compareStored(t, key, body, (size+partSize-1)/partSize)
		p.checkClientDefault(t, "boto3 upload_file", key, stored, body, partSize)
	})
}

// TestPutObjectTaggingLimits sends PutObjectTagging with a tag key one
// character over S3's 128 and a value one over 256: 400 InvalidTag, and the
// object's tags at MinIO stay as they were. Tags at the limits are taken.
func TestPutObjectTaggingLimits(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	ctx := t.Context()
	bucket := tg.makeBucket(t, "tag-limits")
	key := "tagged/photo.jpg"
	body := harness.RandomBytes(1024)
	c := tg.client(t)
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	original, err := tags.NewTags(map[string]string{"camera": "X100V"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutObjectTagging(ctx, bucket, key, original, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatalf("PutObjectTagging camera=X100V: %v", err)
	}
	backendTags := func() map[string]string {
		t.Helper()
		got, err := tg.Backend.Client().GetObjectTagging(ctx, bucket, key, minio.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatalf("backend GetObjectTagging %s/%s: %v", bucket, key, err)
		}
		return got.ToMap()
	}
	putTagging := func(tagKey, tagValue string) harness.S3Response {
		t.Helper()
		doc := []byte(fmt.Sprintf(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>%s</Key><Value>%s</Value></Tag></TagSet></Tagging>`, tagKey, tagValue))
		return tg.send(t, tg.signedRequest(t, http.MethodPut, "/"+bucket+"/"+key, "tagging", doc))
	}
	for _, tc := range []struct{ name, key, value string }{
		{"key-129", strings.Repeat("k", 129), "v"},
		{"value-257", "k", strings.Repeat("v", 257)},
	} {
		resp := putTagging(tc.key, tc.value)
		t.Logf("%s: %s", tc.name, resp)
		tg.expectS3Error(t, resp, http.StatusBadRequest, "InvalidTag")
		if got := backendTags(); !reflect.DeepEqual(got, original.ToMap()) {
			t.Errorf("%s: MinIO holds tags %v after the refused PutObjectTagging, want %v", tc.name, got, original.ToMap())
		}
	}
	atLimits := map[string]string{strings.Repeat("k", 128): strings.Repeat("v", 256)}
	for k, v := range atLimits {
		if resp := putTagging(k, v); resp.Status != http.StatusOK {
			t.Errorf("PutObjectTagging with a 128-character key and a 256-character value: %s, want 200", resp)
		}
	}
	if got := backendTags(); !reflect.DeepEqual(got, atLimits) {
		t.Errorf("MinIO holds tags %v after PutObjectTagging at the limits, want the 128/256-character tag", got)
	}
}
