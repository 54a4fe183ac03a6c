package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// indexed is the index's record of bucket/key; it fails the test when the
// index does not hold exactly want (true: present).
func (s *stack) indexed(t *testing.T, bucket, key string, want bool) metastore.Record {
	t.Helper()
	rec, ok, err := s.index.Get(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("index holds %s/%s: %v, want %v", bucket, key, ok, want)
	}
	return rec
}

// TestIndexFollowsWrites checks that every kind of write photogate passes
// to the backend reaches its index, and that refused or failed writes
// leave neither a record nor an unresolved intent behind.
func TestIndexFollowsWrites(t *testing.T) {
	eachBackend(t, stackOptions{index: true}, func(t *testing.T, s *stack) {
		ctx := context.Background()
		c := s.client(t)
		if err := c.MakeBucket(ctx, "album", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}

		data := harness.RandomBytes(10<<10 + 1)
		sum := md5.Sum(data)
		opts := minio.PutObjectOptions{ContentType: "image/jpeg", UserMetadata: map[string]string{"camera": "X100V"}}
		if s.origin.tagging {
			opts.UserTags = map[string]string{"trip": "alps"}
		}
		if _, err := c.PutObject(ctx, "album", "a.jpg", bytes.NewReader(data), int64(len(data)), opts); err != nil {
			t.Fatal(err)
		}
		rec := s.indexed(t, "album", "a.jpg", true)
		if rec.Size != int64(len(data)) || rec.ETag != hex.EncodeToString(sum[:]) || rec.Owner != userKey ||
			rec.ContentType != "image/jpeg" || rec.UserMeta["camera"] != "X100V" || rec.Tags["trip"] != opts.UserTags["trip"] {
			t.Fatalf("indexed after PUT: %+v", rec)
		}

		if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "album", Object: "copy.jpg"},
			minio.CopySrcOptions{Bucket: "album", Object: "a.jpg"}); err != nil {
			t.Fatal(err)
		}
		if rec := s.indexed(t, "album", "copy.jpg", true); rec.Size != int64(len(data)) {
			t.Fatalf("indexed after CopyObject: %+v", rec)
		}

		retag, err := tags.NewTags(map[string]string{"trip": "dolomites"}, true)
		if err != nil {
			t.Fatal(err)
		}
		err = c.PutObjectTagging(ctx, "album", "a.jpg", retag, minio.PutObjectTaggingOptions{})
		switch {
		case !s.origin.tagging:
			// The backend's refusal changes nothing in the index either.
			if code := minio.ToErrorResponse(err).Code; code != "NotImplemented" {
				t.Fatalf("PutObjectTagging on a backend without tagging: %v (%s)", err, code)
			}
			if after := s.indexed(t, "album", "a.jpg", true); len(after.Tags) != 0 || after.ETag != rec.ETag || after.Owner != userKey {
				t.Fatalf("indexed after a refused PutObjectTagging: %+v", after)
			}
		case err != nil:
			t.Fatal(err)
		default:
			if rec := s.indexed(t, "album", "a.jpg", true); rec.Tags["trip"] != "dolomites" {
				t.Fatalf("tags after PutObjectTagging: %v", rec.Tags)
			}
			if err := c.RemoveObjectTagging(ctx, "album", "a.jpg", minio.RemoveObjectTaggingOptions{}); err != nil {
				t.Fatal(err)
			}
			if rec := s.indexed(t, "album", "a.jpg", true); len(rec.Tags) != 0 {
				t.Fatalf("tags after DeleteObjectTagging: %v", rec.Tags)
			}
		}

		// minio-go goes multipart above its part size.
		big := harness.RandomBytes(6 << 20)
		info, err := c.PutObject(ctx, "album", "big.jpg", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if want := s.front.URL + "/album/big.jpg"; info.Location != want {
			t.Fatalf("Location %q, want %q", info.Location, want)
		}
		if !strings.Contains(s.logs.String(), `"op":"CompleteMultipartUpload"`) {
			t.Fatal("the big upload was not a multipart upload")
		}
		if rec := s.indexed(t, "album", "big.jpg", true); rec.Size != int64(len(big)) {
			t.Fatalf("indexed after a multipart upload: %+v", rec)
		}

		bad := trailerPut(t, s.front.URL+"/album/corrupt.jpg", data, crc32Base64(data[1:]))
		if code := s3Code(t, bad); code != "BadDigest" {
			t.Fatalf("wrong trailer: %d %s, want BadDigest", bad.StatusCode, code)
		}
		s.indexed(t, "album", "corrupt.jpg", false)

		if err := c.RemoveObject(ctx, "album", "copy.jpg", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		s.indexed(t, "album", "copy.jpg", false)

		keys := make(chan minio.ObjectInfo, 2)
		keys <- minio.ObjectInfo{Key: "a.jpg"}
		keys <- minio.ObjectInfo{Key: "big.jpg"}
		close(keys)
		for e := range c.RemoveObjects(ctx, "album", keys, minio.RemoveObjectsOptions{}) {
			t.Fatalf("DeleteObjects: %s: %v", e.ObjectName, e.Err)
		}
		s.indexed(t, "album", "a.jpg", false)
		s.indexed(t, "album", "big.jpg", false)

		del, _ := http.NewRequest(http.MethodDelete, s.front.URL+"/album", nil)
		if resp := signedDo(t, del); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DeleteBucket: %d %s", resp.StatusCode, s3Code(t, resp))
		}

		pending, err := s.index.PendingIntents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 0 {
			t.Fatalf("unresolved intents left: %s", fmt.Sprint(pending))
		}
	})
}
