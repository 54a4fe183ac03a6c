package gateway_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/test/harness"
)

// fakeFile is size bytes that begin with magic.
func fakeFile(magic string, size int) []byte {
	b := harness.RandomBytes(size)
	copy(b, magic)
	return b
}

const (
	jpegMagic = "\xFF\xD8\xFF\xE0"
	zipMagic  = "PK\x03\x04"
)

// typedBuckets lets the test user do anything, into "photos" only images.
func typedBuckets(t *testing.T) *policy.Holder {
	t.Helper()
	return compilePolicy(t, policy.Config{
		Users: []policy.UserConfig{{
			AccessKey: userKey, SecretKey: policy.Secret(userSecret), Grants: policy.FullAccess(),
		}},
		Policy: policy.PolicyConfig{Buckets: []policy.BucketConfig{{Bucket: "photos", AllowedTypes: []string{"image/*"}}}},
	})
}

func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if code := minio.ToErrorResponse(err).Code; code != "InvalidArgument" && code != "InvalidRequest" {
		t.Fatalf("%s: %v (%q), want it refused", what, err, code)
	}
}

// TestAllowedTypesFollowTheBytes checks allowed_types wherever bytes enter
// a typed bucket: a PUT's body, a copy's source, a multipart upload's first
// part; and that refused bytes never become an object.
func TestAllowedTypesFollowTheBytes(t *testing.T) {
	eachBackend(t, stackOptions{policy: typedBuckets(t)}, func(t *testing.T, s *stack) {
		ctx := context.Background()
		s.bucket(t, "photos")
		s.bucket(t, "inbox") // untyped
		c := s.client(t)
		core := minio.Core{Client: c}
		jpeg, zip := fakeFile(jpegMagic, 6<<20), fakeFile(zipMagic, 6<<20)
		put := func(bucket, key string, data []byte) error {
			_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
			return err
		}

		if err := put("photos", "a.jpg", jpeg[:64<<10]); err != nil {
			t.Fatalf("PUT of a JPEG: %v", err)
		}
		wantRefused(t, "PUT of a ZIP", put("photos", "a.zip", zip[:64<<10]))
		if _, ok := s.stored(t, "photos", "a.zip"); ok {
			t.Fatal("a refused ZIP was stored")
		}

		if err := put("inbox", "x.zip", zip[:64<<10]); err != nil {
			t.Fatalf("PUT of a ZIP into an untyped bucket: %v", err)
		}
		if err := put("inbox", "x.jpg", jpeg[:64<<10]); err != nil {
			t.Fatal(err)
		}
		_, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "photos", Object: "copied.zip"}, minio.CopySrcOptions{Bucket: "inbox", Object: "x.zip"})
		wantRefused(t, "copying a ZIP into the typed bucket", err)
		if _, ok := s.stored(t, "photos", "copied.zip"); ok {
			t.Fatal("a refused copy was stored")
		}
		if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "photos", Object: "copied.jpg"}, minio.CopySrcOptions{Bucket: "inbox", Object: "x.jpg"}); err != nil {
			t.Fatalf("copying a JPEG into the typed bucket: %v", err)
		}

		// Multipart: a ZIP as part 1 is refused at once; a ZIP as part 2 is
		// taken, but cannot become the object's start.
		id, err := core.NewMultipartUpload(ctx, "photos", "multi.jpg", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = core.PutObjectPart(ctx, "photos", "multi.jpg", id, 1, bytes.NewReader(zip[:5<<20]), 5<<20, minio.PutObjectPartOptions{})
		wantRefused(t, "a ZIP as part 1", err)
		var parts []minio.CompletePart
		for i, p := range [][]byte{jpeg[:5<<20], zip[:5<<20]} {
			op, err := core.PutObjectPart(ctx, "photos", "multi.jpg", id, i+1, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{})
			if err != nil {
				t.Fatalf("part %d: %v", i+1, err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: i + 1, ETag: op.ETag})
		}
		_, err = core.CompleteMultipartUpload(ctx, "photos", "multi.jpg", id, parts[1:], minio.PutObjectOptions{})
		wantRefused(t, "completing with the ZIP part first", err)
		if _, ok := s.stored(t, "photos", "multi.jpg"); ok {
			t.Fatal("a refused completion was stored")
		}
		if _, err := core.CompleteMultipartUpload(ctx, "photos", "multi.jpg", id, parts, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("completing with the JPEG part first: %v", err)
		}
		if got, ok := s.stored(t, "photos", "multi.jpg"); !ok || !bytes.Equal(got[:5<<20], jpeg[:5<<20]) || len(got) != 10<<20 {
			t.Fatalf("the completed object holds %d bytes, want the two parts", len(got))
		}
	})
}
