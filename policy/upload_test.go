package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

const uploadConfig = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read, write]}]
    quota: {max_bytes: 10000, max_objects: 10}
  - name: bob
    access_key: AKIABOB1
    secret_key: bob-secret-1
    grants: [{buckets: "*", actions: [read, write]}]
  - name: cy
    access_key: AKIACY01
    secret_key: cy-secret-01
    grants: [{buckets: "*", actions: [read, write]}]
    max_object_size: 500
    max_multipart_size: 3000
    max_parts: 3
    max_metadata_bytes: 50
policy:
  buckets:
    - bucket: photos
      max_object_size: 1000
      max_multipart_size: 5000
      max_parts: 5
      max_metadata_bytes: 100
    - bucket: "capped-*"
      max_object_size: 1000
    - bucket: quota
      quota: {max_bytes: 1000, max_objects: 3}
`

func TestCheckUploadSizes(t *testing.T) {
	obs := &observer{}
	h := holder(t, uploadConfig, Options{Observer: obs, Usage: &usage{}})
	ctx := context.Background()
	put := func(bucket string, size int64) Upload {
		return Upload{User: "AKIABOB1", Bucket: bucket, Key: "k.jpg", Op: classify.PutObject, Size: size}
	}
	part := func(n int, size, soFar int64) Upload {
		return Upload{User: "AKIABOB1", Bucket: "photos", Key: "k.mp4", Op: classify.UploadPart, Size: size, PartNumber: n, UploadedSoFar: soFar}
	}

	// Single PUT.
	wantNil(t, checkUpload(ctx, h, put("photos", 1000)))
	err := checkUpload(ctx, h, put("photos", 1001))
	if e := wantCode(t, err, s3err.EntityTooLarge); !strings.Contains(e.Message, "1001 bytes, and max_object_size of bucket photos is 1KB (1000 bytes)") {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != "too_large bob" {
		t.Errorf("observer %q", obs.last())
	}
	wantNil(t, checkUpload(ctx, h, put("elsewhere", 1<<40))) // no rule: no limit
	wantCode(t, checkUpload(ctx, h, put("capped-1", 1001)), s3err.EntityTooLarge)
	// The capped-* rule has no max_multipart_size: it inherits 1000.
	wantCode(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "capped-1", Op: classify.UploadPart, Size: 600, PartNumber: 2, UploadedSoFar: 600}), s3err.EntityTooLarge)

	// Unknown size where a limit applies is refused; where none does, allowed.
	err = checkUpload(ctx, h, put("photos", -1))
	if e := wantCode(t, err, s3err.MissingContentLength); e.Code.Status() != 411 {
		t.Errorf("status %d", e.Code.Status())
	}
	if obs.last() != "size_unknown bob" {
		t.Errorf("observer %q", obs.last())
	}
	wantNil(t, checkUpload(ctx, h, put("elsewhere", -1)))
	wantCode(t, checkUpload(ctx, h, part(1, -1, 0)), s3err.MissingContentLength)
	// A copy's size may be unknown: checked when known, let through when not.
	wantNil(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "photos", Op: classify.CopyObject, Size: -1}))
	wantCode(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "photos", Op: classify.CopyObject, Size: 2000}), s3err.EntityTooLarge)

	// Parts: each part, and the running total.
	wantNil(t, checkUpload(ctx, h, part(1, 1000, 0)))
	wantNil(t, checkUpload(ctx, h, part(5, 1000, 4000))) // total exactly 5000
	err = checkUpload(ctx, h, part(5, 1001, 4000))
	if e := wantCode(t, err, s3err.EntityTooLarge); !strings.Contains(e.Message, "4000 bytes in other parts + 1001 in this part") {
		t.Errorf("message %q", e.Message)
	}
	wantCode(t, checkUpload(ctx, h, part(1, 5001, -1)), s3err.EntityTooLarge) // other parts unknown: the part alone
	wantNil(t, checkUpload(ctx, h, part(2, 5000, -1)))
	err = checkUpload(ctx, h, part(6, 10, 0))
	if e := wantCode(t, err, s3err.InvalidArgument); !strings.Contains(e.Message, "Part number 6 is over max_parts 5 of bucket photos") {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != "too_many_parts bob" {
		t.Errorf("observer %q", obs.last())
	}

	// Completion: all parts together.
	complete := Upload{User: "AKIABOB1", Bucket: "photos", Op: classify.CompleteMultipartUpload, PartNumber: 5, UploadedSoFar: 5000}
	wantNil(t, checkUpload(ctx, h, complete))
	complete.UploadedSoFar = 5001
	wantCode(t, checkUpload(ctx, h, complete), s3err.EntityTooLarge)
	complete.UploadedSoFar, complete.PartNumber = 100, 6
	wantCode(t, checkUpload(ctx, h, complete), s3err.InvalidArgument)

	// Metadata.
	meta := Upload{User: "AKIABOB1", Bucket: "photos", Op: classify.CreateMultipartUpload, Size: -1, MetadataBytes: 100}
	wantNil(t, checkUpload(ctx, h, meta))
	meta.MetadataBytes = 101
	if e := wantCode(t, checkUpload(ctx, h, meta), s3err.InvalidArgument); !strings.Contains(e.Message, "x-amz-meta-* total 101 bytes") {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != "metadata bob" {
		t.Errorf("observer %q", obs.last())
	}
	p := put("photos", 10)
	p.MetadataBytes = 101
	wantCode(t, checkUpload(ctx, h, p), s3err.InvalidArgument)

	// Operations that store nothing are not checked.
	for _, op := range []classify.Op{classify.GetObject, classify.DeleteObject, classify.PutObjectTagging, classify.AbortMultipartUpload} {
		wantNil(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "photos", Op: op, Size: 1 << 40, MetadataBytes: 1 << 20}))
	}
}

// TestCheckUploadUserSizes: a user's size limits apply in every bucket, on
// top of the bucket's; the stricter wins and the message says whose it is.
func TestCheckUploadUserSizes(t *testing.T) {
	obs := &observer{}
	h := holder(t, uploadConfig, Options{Observer: obs, Usage: &usage{}})
	ctx := context.Background()
	up := func(bucket string, op classify.Op, size int64, part int, soFar int64, meta int) Upload {
		return Upload{User: "AKIACY01", Bucket: bucket, Key: "k", Op: op, Size: size, PartNumber: part, UploadedSoFar: soFar, MetadataBytes: meta}
	}
	for _, tc := range []struct {
		what string
		u    Upload
		code s3err.Code // "" allowed
		msg  string
	}{
		{"PUT at the user's limit, bucket without rule", up("elsewhere", classify.PutObject, 500, 0, -1, 0), "", ""},
		{"PUT over the user's limit, bucket without rule", up("elsewhere", classify.PutObject, 501, 0, -1, 0), s3err.EntityTooLarge, "max_object_size of user cy is 500 bytes"},
		{"PUT over the user's limit, under the bucket's", up("photos", classify.PutObject, 800, 0, -1, 0), s3err.EntityTooLarge, "max_object_size of user cy"},
		{"copy over the user's limit", up("elsewhere", classify.CopyObject, 501, 0, -1, 0), s3err.EntityTooLarge, "max_object_size of user cy"},
		{"unknown size: the user's limit applies everywhere", up("elsewhere", classify.PutObject, -1, 0, -1, 0), s3err.MissingContentLength, ""},
		{"metadata over the user's limit", up("elsewhere", classify.CreateMultipartUpload, -1, 0, -1, 51), s3err.InvalidArgument, "max_metadata_bytes of user cy is 50 bytes"},
		{"part number over the user's max_parts", up("elsewhere", classify.UploadPart, 10, 4, 30, 0), s3err.InvalidArgument, "Part number 4 is over max_parts 3 of user cy"},
		{"multipart total over the user's limit", up("elsewhere", classify.UploadPart, 1001, 3, 2000, 0), s3err.EntityTooLarge, "max_multipart_size of user cy is 3KB"},
		{"multipart total at the user's limit", up("elsewhere", classify.UploadPart, 1000, 3, 2000, 0), "", ""},
		{"complete over the user's limit", up("elsewhere", classify.CompleteMultipartUpload, -1, 3, 3001, 0), s3err.EntityTooLarge, "its parts hold 3001 bytes"},
		{"within the limits of both user and bucket", up("capped-x", classify.UploadPart, 10, 2, 300, 0), "", ""},
	} {
		err := checkUpload(ctx, h, tc.u)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.what, err)
			}
			continue
		}
		if e := wantCode(t, err, tc.code); !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: message %q does not say %q", tc.what, e.Message, tc.msg)
		}
	}
	// The bucket's own limit still applies to a user with looser ones,
	// named as the bucket's: capped-* has max_object_size 1000 (and so
	// max_multipart_size 1000); cy's multipart limit is 3000.
	err := checkUpload(ctx, h, up("capped-x", classify.UploadPart, 500, 2, 501, 0))
	if e := wantCode(t, err, s3err.EntityTooLarge); !strings.Contains(e.Message, "max_multipart_size of bucket capped-x is 1KB") {
		t.Errorf("message %q", e.Message)
	}
	if obs.last() != "too_large cy" {
		t.Errorf("observer %q", obs.last())
	}
	// Other users are not bound by cy's limits.
	wantNil(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "elsewhere", Op: classify.PutObject, Size: 1 << 30}))
	if n := h.Caller("AKIACY01").UploadNeeds("elsewhere"); !n.Sizes || n.Replaced {
		t.Errorf("UploadNeeds for cy = %+v; her size limits need sizes, no quota needs the replaced object", n)
	}
	if n := h.Caller("AKIABOB1").UploadNeeds("elsewhere"); n.Sizes || n.Replaced {
		t.Errorf("UploadNeeds for bob without limits = %+v", n)
	}
}

func TestCheckUploadQuotas(t *testing.T) {
	obs := &observer{}
	u := &usage{buckets: map[string][2]int64{"quota": {2, 900}}, users: map[string][2]int64{"ana": {9, 9000}}}
	h := holder(t, uploadConfig, Options{Observer: obs, Usage: u})
	ctx := context.Background()
	put := func(user, bucket string, size, replaced int64) Upload {
		return Upload{User: user, Bucket: bucket, Key: "k", Op: classify.PutObject, Size: size, ReplacedSize: replaced}
	}

	// Bucket bytes: 900 stored, max 1000.
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 100, 0))) // exactly at the quota
	err := checkUpload(ctx, h, put("AKIABOB1", "quota", 101, 0))
	e := wantCode(t, err, s3err.QuotaExceeded)
	if e.Code.Status() != 403 || !strings.Contains(e.Message, "quota of bucket quota: 900 bytes stored + 101 new > max_bytes 1KB (1000 bytes)") {
		t.Errorf("%d %q", e.Code.Status(), e.Message)
	}
	if obs.last() != "quota bob" {
		t.Errorf("observer %q", obs.last())
	}
	// Overwriting a 50-byte object with 150 bytes adds 100: allowed; 151 is not.
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 150, 50)))
	wantCode(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 151, 50)), s3err.QuotaExceeded)

	// Bucket objects: 2 stored, max 3.
	u.buckets["quota"] = [2]int64{3, 0}
	wantCode(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 1, 0)), s3err.QuotaExceeded)
	ow := put("AKIABOB1", "quota", 1, 0)
	ow.Overwrites = true // an existing empty object: the count does not grow
	wantNil(t, checkUpload(ctx, h, ow))
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 1, 5))) // ReplacedSize implies Overwrites
	u.buckets["quota"] = [2]int64{2, 0}
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 1, 0)))

	// User quota, by name: 9 objects and 9000 bytes stored, max 10 and 10000.
	wantNil(t, checkUpload(ctx, h, put("AKIAANA1", "elsewhere", 1000, 0)))
	err = checkUpload(ctx, h, put("AKIAANA1", "elsewhere", 1001, 0))
	if e := wantCode(t, err, s3err.QuotaExceeded); !strings.Contains(e.Message, "quota of user ana: 9000 bytes stored + 1001 new > max_bytes 10KB (10000 bytes)") {
		t.Errorf("message %q", e.Message)
	}
	u.users["ana"] = [2]int64{10, 0}
	if e := wantCode(t, checkUpload(ctx, h, put("AKIAANA1", "elsewhere", 1, 0)), s3err.QuotaExceeded); !strings.Contains(e.Message, "10 objects stored + 1 new > max_objects 10") {
		t.Errorf("message %q", e.Message)
	}
	// Overwriting her own object credits ana with it; overwriting someone
	// else's (or an object of unknown owner) does not: it becomes hers.
	u.users["ana"] = [2]int64{10, 9000}
	own := put("AKIAANA1", "elsewhere", 1500, 500)
	own.ReplacedOwner = "ana"
	wantNil(t, checkUpload(ctx, h, own)) // 9000 - 500 + 1500 = 10000, objects stay 10
	own.Size = 1501
	wantCode(t, checkUpload(ctx, h, own), s3err.QuotaExceeded)
	for _, owner := range []string{"bob", ""} {
		theirs := put("AKIAANA1", "elsewhere", 1, 500)
		theirs.ReplacedOwner = owner
		if e := wantCode(t, checkUpload(ctx, h, theirs), s3err.QuotaExceeded); !strings.Contains(e.Message, "10 objects stored + 1 new > max_objects 10") {
			t.Errorf("overwriting %q's object: %q", owner, e.Message)
		}
	}
	// ... while the bucket (no quota here) and the replaced object's owner
	// are not asked at all.
	u.users["ana"] = [2]int64{0, 0}
	theirs := put("AKIAANA1", "elsewhere", 600, 500)
	theirs.ReplacedOwner = "bob"
	wantNil(t, checkUpload(ctx, h, theirs))

	// Both quotas apply: the bucket's first.
	u.users["ana"] = [2]int64{0, 0}
	u.buckets["quota"] = [2]int64{0, 1000}
	if e := wantCode(t, checkUpload(ctx, h, put("AKIAANA1", "quota", 1, 0)), s3err.QuotaExceeded); !strings.Contains(e.Message, "quota of bucket quota:") {
		t.Errorf("message %q", e.Message)
	}

	// Over a lowered quota, shrinking an object is still allowed.
	u.buckets["quota"] = [2]int64{3, 5000}
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "quota", 10, 100)))

	// Multipart: the parts so far count, and starting an upload into a full
	// bucket is refused at once.
	u.buckets["quota"] = [2]int64{0, 500}
	partU := Upload{User: "AKIABOB1", Bucket: "quota", Op: classify.UploadPart, PartNumber: 2, Size: 200, UploadedSoFar: 300}
	wantNil(t, checkUpload(ctx, h, partU))
	partU.Size = 201
	wantCode(t, checkUpload(ctx, h, partU), s3err.QuotaExceeded)
	u.buckets["quota"] = [2]int64{3, 0}
	wantCode(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "quota", Op: classify.CreateMultipartUpload, Size: -1}), s3err.QuotaExceeded)
	// An unknown size with a byte quota is refused rather than guessed.
	wantCode(t, checkUpload(ctx, h, put("AKIAANA1", "elsewhere", -1, 0)), s3err.MissingContentLength)

	// No quota, no usage query.
	calls := u.calls
	wantNil(t, checkUpload(ctx, h, put("AKIABOB1", "elsewhere", 1<<30, 0)))
	if u.calls != calls {
		t.Error("usage was queried without a quota")
	}
}

func TestCheckUploadUsageFailsClosed(t *testing.T) {
	ctx := context.Background()
	broken := errors.New("bbolt: database not open")
	h := holder(t, uploadConfig, Options{Usage: &usage{err: broken}})
	err := checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "quota", Op: classify.PutObject, Size: 1})
	e := wantCode(t, err, s3err.ServiceUnavailable)
	if !errors.Is(err, broken) || e.RetryAfter < 1 || !strings.Contains(err.Error(), "usage of bucket quota") {
		t.Errorf("error %v does not wrap the cause with context", err)
	}
	if strings.Contains(e.Message, "bbolt") {
		t.Error("internal detail in the client message")
	}
	// No usage source at all: quotas cannot be waived silently.
	h = holder(t, uploadConfig, Options{})
	wantCode(t, checkUpload(ctx, h, Upload{User: "AKIAANA1", Bucket: "x", Op: classify.PutObject, Size: 1}), s3err.InternalError)
	wantNil(t, checkUpload(ctx, h, Upload{User: "AKIABOB1", Bucket: "x", Op: classify.PutObject, Size: 1}))
}

func TestUploadNeeds(t *testing.T) {
	h := holder(t, `
users:
  - {name: a, access_key: AKIANEEDS01, secret_key: secret-needs-1, grants: [{buckets: "*", actions: [write]}]}
policy:
  buckets:
    - {bucket: sized, max_object_size: 1MiB}
    - {bucket: counted, quota: {max_objects: 10}}
    - {bucket: weighed, quota: {max_bytes: 1GiB}}
`, Options{})
	for bucket, want := range map[string]UploadNeeds{
		"plain":   {},
		"sized":   {Sizes: true},
		"counted": {Replaced: true},
		"weighed": {Sizes: true, Replaced: true},
	} {
		if got := h.Caller("AKIANEEDS01").UploadNeeds(bucket); got != want {
			t.Errorf("%s: %+v, want %+v", bucket, got, want)
		}
	}
}
