package security_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

const mib = 1 << 20

// A copy's size is the size of the version it names: checking the current
// version (small) while MinIO copies an old one (large) lets any size fit.
func TestCopyOfOldLargeVersionIntoSizeLimitedBucketIsRefused(t *testing.T) {
	free, small := harness.BucketName("free"), harness.BucketName("small")
	e := start(t, "policy:\n  buckets:\n    - bucket: \""+small+"\"\n      max_object_size: 1MiB\n")
	makeBuckets(t, minio.MakeBucketOptions{}, free, small)
	if err := suite.Backend.Client().EnableVersioning(t.Context(), free); err != nil {
		t.Fatalf("MinIO EnableVersioning: %v", err)
	}
	old := seed(t, free, "v.jpg", harness.RandomBytes(3*mib))
	seed(t, free, "v.jpg", []byte("small current version"))
	if old.VersionID == "" {
		t.Fatal("precondition: MinIO returned no version id in a versioned bucket")
	}

	req := newRequest(t, http.MethodPut, e.url("/"+small+"/big.jpg"), nil)
	req.Header.Set("X-Amz-Copy-Source", "/"+free+"/v.jpg?versionId="+url.QueryEscape(old.VersionID))
	r := send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(nil)))
	wantError(t, "CopyObject of a 3 MB old version into a 1 MiB bucket", r, http.StatusBadRequest, "EntityTooLarge")
	assertAbsent(t, small, "big.jpg")

	// The same through UploadPartCopy.
	c := e.client(t, e.admin())
	uploadID, err := c.NewMultipartUpload(t.Context(), small, "big-mp.jpg", minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part, err := c.CopyObjectPart(t.Context(), free, "v.jpg", small, "big-mp.jpg", uploadID, 1, 0, -1, map[string]string{
		"x-amz-copy-source": url.PathEscape(free+"/v.jpg") + "?versionId=" + url.QueryEscape(old.VersionID),
	})
	if err == nil {
		_, _ = c.CompleteMultipartUpload(t.Context(), small, "big-mp.jpg", uploadID, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{})
	}
	_ = c.AbortMultipartUpload(t.Context(), small, "big-mp.jpg", uploadID)
	if _, info, ok := stored(t, small, "big-mp.jpg"); ok && info.Size > mib {
		t.Errorf("MinIO holds %s/big-mp.jpg of %d bytes, over the bucket's 1 MiB", small, info.Size)
	}
	for _, o := range listed(t, small) {
		if o.Size > mib {
			t.Errorf("MinIO holds %s/%s of %d bytes in a bucket with max_object_size 1MiB", small, o.Key, o.Size)
		}
	}
}

// A quota checked before the upload and counted after it lets concurrent
// uploads all pass the check: 16 parallel 1 MiB PUTs into a 4 MiB quota
// must not store more than 4 MiB.
func TestParallelPutsDoNotOvershootByteQuota(t *testing.T) {
	q := harness.BucketName("quota")
	e := start(t, "policy:\n  buckets:\n    - bucket: \""+q+"\"\n      quota: {max_bytes: 4MiB}\n")
	makeBuckets(t, minio.MakeBucketOptions{}, q)
	body := harness.RandomBytes(mib)
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := plainClient().Do(signed(t, http.MethodPut, e.url(fmt.Sprintf("/%s/p%02d", q, i)), body, e.admin()))
			if err != nil {
				t.Errorf("PUT %d: %v", i, err)
				return
			}
			r, err := harness.ReadS3Response(resp)
			if err != nil {
				t.Errorf("PUT %d: %v", i, err)
			}
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	if n, size := storedBytes(t, q); size > 4*mib {
		t.Errorf("MinIO holds %d objects, %d bytes in %s, over its 4 MiB quota (statuses %v)", n, size, q, statuses)
	}
	e.wantNoDrift(t, q)
}

// Multipart uploads: every part passes the quota check on its own, and 16
// uploads completed at once must still not store more than 4 MiB.
func TestParallelMultipartUploadsDoNotOvershootByteQuota(t *testing.T) {
	q := harness.BucketName("quota")
	e := start(t, "policy:\n  buckets:\n    - bucket: \""+q+"\"\n      quota: {max_bytes: 4MiB}\n")
	makeBuckets(t, minio.MakeBucketOptions{}, q)
	c := e.client(t, e.admin())
	body := harness.RandomBytes(mib)
	var done, partsUploaded sync.WaitGroup
	complete := make(chan struct{})
	for i := range 16 {
		done.Add(1)
		partsUploaded.Add(1)
		go func() {
			defer done.Done()
			key := fmt.Sprintf("m%02d", i)
			uploadID, err := c.NewMultipartUpload(t.Context(), q, key, minio.PutObjectOptions{})
			var part minio.ObjectPart
			if err == nil {
				defer func() { _ = c.AbortMultipartUpload(t.Context(), q, key, uploadID) }()
				part, err = c.PutObjectPart(t.Context(), q, key, uploadID, 1, bytes.NewReader(body), int64(len(body)), minio.PutObjectPartOptions{})
			}
			partsUploaded.Done()
			<-complete // complete them all at once
			if err != nil {
				return // refused: fine
			}
			_, _ = c.CompleteMultipartUpload(t.Context(), q, key, uploadID, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{})
		}()
	}
	partsUploaded.Wait()
	close(complete)
	done.Wait()
	if n, size := storedBytes(t, q); size > 4*mib {
		t.Errorf("MinIO holds %d objects, %d bytes in %s, over its 4 MiB quota", n, size, q)
	}
	e.wantNoDrift(t, q)
}
