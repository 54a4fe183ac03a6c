package policy_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestUserQuota: a user's quota counts what that user's uploads wrote, in
// every bucket, exactly at the boundary; an object moves to whoever
// overwrites it; the count survives a restart and follows copies.
func TestUserQuota(t *testing.T) {
	t.Parallel()
	first, second := harness.BucketName("uq"), harness.BucketName("uq")
	ana, ben := newUser("ana"), newUser("ben")
	grants := "    grants:\n      - buckets: \"uq-*\"\n        actions: [read, write, delete, list]\n"
	cfg := "users:\n" +
		ana.entry(grants+"    quota: {max_objects: 3, max_bytes: 2000}\n") +
		ben.entry(grants) // no quota of his own
	e := start(t, cfg, ana, ben)
	e.makeBuckets(t, first, second)
	anaSDK, _ := e.sdk(t, ana, 1) // aws-sdk-go-v2, no retries: each refusal as sent
	benClient := e.minio(t, ben)

	put := func(t *testing.T, bucket, key string, body []byte) error {
		t.Helper()
		_, err := anaSDK.PutObject(t.Context(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("image/jpeg"),
		})
		return err
	}
	mustPut := func(t *testing.T, bucket, key string, body []byte, why string) {
		t.Helper()
		if err := put(t, bucket, key, body); err != nil {
			t.Fatalf("ana PutObject %s/%s (%d bytes; %s): %v", bucket, key, len(body), why, err)
		}
		assertStored(t, bucket, key, body)
	}
	refused := func(t *testing.T, err error, what, wantInMessage string) {
		t.Helper()
		msg := wantSDKErr(t, what, err, http.StatusForbidden, "QuotaExceeded")
		if !strings.Contains(msg, wantInMessage) {
			t.Errorf("%s: QuotaExceeded message %q does not say %q", what, msg, wantInMessage)
		}
	}
	wantUsage := func(t *testing.T, name string, objects, size int64) {
		t.Helper()
		if n, b := e.usage(t, name); n != objects || b != size {
			t.Fatalf("index counts %d objects, %d bytes for %s; want %d, %d", n, b, name, objects, size)
		}
	}

	// Across buckets, up to max_bytes 2000 exactly.
	mustPut(t, first, "a.jpg", harness.RandomBytes(1000), "1000 of 2000 bytes")
	mustPut(t, second, "b.jpg", harness.RandomBytes(1000), "reaches max_bytes 2000 in another bucket")
	wantUsage(t, "ana", 2, 2000)
	refused(t, put(t, first, "c.jpg", harness.RandomBytes(1)), "one byte over ana's max_bytes",
		"quota of user ana: 2000 bytes stored + 1 new > max_bytes")
	assertAbsent(t, first, "c.jpg")

	// Her own overwrite credits her; then the object count is the limit.
	mustPut(t, first, "a.jpg", harness.RandomBytes(900), "overwrite 1000 with 900 bytes")
	mustPut(t, first, "c.jpg", harness.RandomBytes(100), "3rd object, back at 2000 bytes")
	wantUsage(t, "ana", 3, 2000)
	refused(t, put(t, second, "d.jpg", nil), "a 4th (empty) object", "3 objects stored + 1 new > max_objects 3")
	assertAbsent(t, second, "d.jpg")

	// Ben overwrites her c.jpg: it is his now, so she has room for one
	// more object and 100 bytes, and he is charged with it.
	benC := harness.RandomBytes(100)
	if _, err := benClient.PutObject(t.Context(), first, "c.jpg", bytes.NewReader(benC), int64(len(benC)), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatalf("ben PutObject over ana's c.jpg: %v", err)
	}
	wantUsage(t, "ana", 2, 1900)
	wantUsage(t, "ben", 1, 100)
	mustPut(t, second, "d.jpg", harness.RandomBytes(100), "room freed by ben's overwrite")
	// Overwriting ben's object would make it hers: a 4th object.
	refused(t, put(t, first, "c.jpg", harness.RandomBytes(1)), "ana overwriting ben's object at her max_objects",
		"3 objects stored + 1 new > max_objects 3")
	assertStored(t, first, "c.jpg", benC)

	// The count is the index's, so it survives a restart.
	if err := e.g.Stop(); err != nil {
		t.Fatalf("stop photogate: %v", err)
	}
	if err := e.g.Start(); err != nil {
		t.Fatalf("restart photogate: %v", err)
	}
	wantUsage(t, "ana", 3, 2000)
	refused(t, put(t, second, "e.jpg", harness.RandomBytes(1)), "one byte over after a restart", "quota of user ana")
	assertAbsent(t, second, "e.jpg")

	// Deleting frees room; a server-side copy of ben's object into her
	// own key is hers and counts.
	if _, err := anaSDK.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(first), Key: aws.String("a.jpg")}); err != nil {
		t.Fatalf("ana DeleteObject: %v", err)
	}
	wantUsage(t, "ana", 2, 1100)
	_, err := anaSDK.CopyObject(t.Context(), &s3.CopyObjectInput{
		Bucket: aws.String(second), Key: aws.String("copy.jpg"), CopySource: aws.String(first + "/c.jpg"),
	})
	if err != nil {
		t.Fatalf("ana CopyObject of ben's c.jpg: %v", err)
	}
	assertStored(t, second, "copy.jpg", benC)
	wantUsage(t, "ana", 3, 1200)
	wantUsage(t, "ben", 1, 100)
	_, err = anaSDK.CopyObject(t.Context(), &s3.CopyObjectInput{
		Bucket: aws.String(second), Key: aws.String("copy2.jpg"), CopySource: aws.String(first + "/c.jpg"),
	})
	refused(t, err, "a copy as her 4th object", "max_objects 3")
	assertAbsent(t, second, "copy2.jpg")

	// A completed multipart upload is its uploader's too.
	if _, err := anaSDK.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(second), Key: aws.String("d.jpg")}); err != nil {
		t.Fatalf("ana DeleteObject: %v", err)
	}
	wantUsage(t, "ana", 2, 1100)
	part := harness.RandomBytes(300)
	mp, err := anaSDK.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(first), Key: aws.String("mp.jpg"), ContentType: aws.String("image/jpeg")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	up, err := anaSDK.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: aws.String(first), Key: aws.String("mp.jpg"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	_, err = anaSDK.CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{Bucket: aws.String(first), Key: aws.String("mp.jpg"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32}}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	assertStored(t, first, "mp.jpg", part)
	wantUsage(t, "ana", 3, 1400)

	// The refusals since the restart were counted by reason and user.
	if n := e.g.Metrics(t)[`photogate_policy_refusals_total{reason="quota",user="ana"}`]; n != 2 {
		t.Errorf("photogate_policy_refusals_total{reason=quota,user=ana} = %v, want 2", n)
	}
}
