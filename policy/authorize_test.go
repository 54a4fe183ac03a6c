package policy

import (
	"testing"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

const grantsConfig = `
users:
  - {name: reader, access_key: AKIAREADER, secret_key: reader-secret, grants: [{buckets: "photos-*", actions: [read]}]}
  - {name: writer, access_key: AKIAWRITER, secret_key: writer-secret, grants: [{buckets: "photos-*", actions: [write]}]}
  - {name: deleter, access_key: AKIADELETER, secret_key: deleter-secret, grants: [{buckets: "photos-*", actions: [delete]}]}
  - {name: lister, access_key: AKIALISTER, secret_key: lister-secret, grants: [{buckets: "photos-*", actions: [list]}]}
  - {name: admin, access_key: AKIAADMIN, secret_key: admin-secret, grants: [{buckets: "photos-*", actions: [admin]}]}
  - {name: root, access_key: AKIAROOT, secret_key: root-secret, grants: [{buckets: "*", actions: [read, write, delete, list, admin]}]}
  - name: mixed
    access_key: AKIAMIXED
    secret_key: mixed-secret
    grants:
      - {buckets: [inbox, "[ab]-drop"], actions: [write]}
      - {buckets: "archive-?", actions: [read, list]}
policy:
  buckets:
    - {bucket: "public-*", public_read: true}
    - {bucket: "public-private", public_read: false}
`

func TestAuthorizeGrantsMatrix(t *testing.T) {
	h := holder(t, grantsConfig, Options{})
	ops := map[classify.Action]classify.Op{
		classify.ActionRead:   classify.GetObject,
		classify.ActionWrite:  classify.PutObject,
		classify.ActionDelete: classify.DeleteObject,
		classify.ActionList:   classify.ListObjectsV2,
		classify.ActionAdmin:  "PutBucketPolicy",
	}
	users := map[string]classify.Action{
		"AKIAREADER": classify.ActionRead, "AKIAWRITER": classify.ActionWrite, "AKIADELETER": classify.ActionDelete,
		"AKIALISTER": classify.ActionList, "AKIAADMIN": classify.ActionAdmin,
	}
	for key, granted := range users {
		for action, op := range ops {
			for _, bucket := range []string{"photos-2024", "photos-", "videos", "xphotos-1"} {
				err := h.Caller(key).Authorize(op, bucket, "k.jpg")
				want := action == granted && (bucket == "photos-2024" || bucket == "photos-")
				if (err == nil) != want {
					t.Errorf("%s %s on %s: %v, want allowed=%v", key, op, bucket, err, want)
				}
				if err != nil {
					wantCode(t, err, s3err.AccessDenied)
				}
			}
		}
		// root may do everything everywhere.
		for _, op := range ops {
			wantNil(t, h.Caller("AKIAROOT").Authorize(op, "anything", "k"))
		}
	}
}

func TestAuthorizeOperations(t *testing.T) {
	h := holder(t, grantsConfig, Options{})
	for _, tc := range []struct {
		key    string
		op     classify.Op
		bucket string
		ok     bool
	}{
		{"AKIAWRITER", classify.CreateMultipartUpload, "photos-a", true},
		{"AKIAWRITER", classify.UploadPart, "photos-a", true},
		{"AKIAWRITER", classify.CompleteMultipartUpload, "photos-a", true},
		{"AKIAWRITER", classify.AbortMultipartUpload, "photos-a", true}, // abort is write (s3/classify's table)
		{"AKIADELETER", classify.AbortMultipartUpload, "photos-a", false},
		{"AKIADELETER", classify.DeleteObjects, "photos-a", true},
		{"AKIAREADER", classify.HeadObject, "photos-a", true},
		{"AKIAREADER", classify.GetObjectTagging, "photos-a", true},
		{"AKIAREADER", classify.ListObjectsV2, "photos-a", false},
		{"AKIALISTER", classify.HeadBucket, "photos-a", true},
		{"AKIALISTER", classify.ListParts, "photos-a", true},
		{"AKIAADMIN", classify.CreateBucket, "photos-new", true},
		{"AKIAADMIN", classify.DeleteBucket, "photos-new", true},
		{"AKIAADMIN", classify.CreateBucket, "other", false},
		// ListBuckets has no bucket: only a grant on "*" covers it.
		{"AKIALISTER", classify.ListBuckets, "", false},
		{"AKIAROOT", classify.ListBuckets, "", true},
		// Several patterns in one grant, classes and '?'.
		{"AKIAMIXED", classify.PutObject, "inbox", true},
		{"AKIAMIXED", classify.PutObject, "a-drop", true},
		{"AKIAMIXED", classify.PutObject, "c-drop", false},
		{"AKIAMIXED", classify.GetObject, "archive-1", true},
		{"AKIAMIXED", classify.GetObject, "archive-12", false},
		{"AKIAMIXED", classify.GetObject, "inbox", false},
		{"AKIAUNKNOWN", classify.GetObject, "photos-a", false},
	} {
		err := h.Caller(tc.key).Authorize(tc.op, tc.bucket, "k")
		if (err == nil) != tc.ok {
			t.Errorf("%s %s %q: %v, want allowed=%v", tc.key, tc.op, tc.bucket, err, tc.ok)
		}
	}
}

func TestAuthorizeAnonymous(t *testing.T) {
	obs := &observer{}
	h := holder(t, grantsConfig, Options{Observer: obs})
	for _, tc := range []struct {
		op     classify.Op
		bucket string
		ok     bool
	}{
		{classify.GetObject, "public-gallery", true},
		{classify.HeadObject, "public-gallery", true},
		{classify.HeadBucket, "public-gallery", true},
		{classify.ListObjects, "public-gallery", true},
		{classify.ListObjectsV2, "public-gallery", true},
		// Everything else is refused even on a public bucket.
		{classify.PutObject, "public-gallery", false},
		{classify.DeleteObject, "public-gallery", false},
		{classify.ListMultipartUploads, "public-gallery", false},
		{classify.ListObjectVersions, "public-gallery", false},
		{classify.GetObjectTagging, "public-gallery", false},
		{classify.SelectObjectContent, "public-gallery", false},
		{"GetBucketPolicy", "public-gallery", false},
		{classify.ListBuckets, "", false},
		// The more specific rule says not public.
		{classify.GetObject, "public-private", false},
		// No rule, or a rule without public_read: anonymous is off.
		{classify.GetObject, "photos-a", false},
	} {
		err := h.Caller("").Authorize(tc.op, tc.bucket, "k.jpg")
		if (err == nil) != tc.ok {
			t.Errorf("anonymous %s %q: %v, want allowed=%v", tc.op, tc.bucket, err, tc.ok)
		}
	}
	if obs.last() != ReasonAccessDenied {
		t.Errorf("observer saw %q, want %q with no user", obs.last(), ReasonAccessDenied)
	}

	// Without any public_read rule, anonymous can do nothing at all.
	h = holder(t, `users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read, list]}]}]`, Options{})
	wantCode(t, h.Caller("").Authorize(classify.GetObject, "public-gallery", "k"), s3err.AccessDenied)
}

func TestAuthorizeObserver(t *testing.T) {
	obs := &observer{}
	h := holder(t, grantsConfig, Options{Observer: obs})
	_ = h.Caller("AKIAREADER").Authorize(classify.PutObject, "photos-a", "secret/key.jpg")
	if got := obs.last(); got != "access_denied reader" {
		t.Errorf("observer got %q", got)
	}
}

func TestPatternPrecedence(t *testing.T) {
	e := compile(t, `
users: [{access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]
policy:
  buckets:
    - {bucket: "*", max_parts: 1}
    - {bucket: "*-raw", max_parts: 2}
    - {bucket: "photos-*", max_parts: 3}
    - {bucket: "photos-raw-*", max_parts: 4}
    - {bucket: "photos-raw-2024", max_parts: 5}
    - {bucket: "photos-?aw-*", max_parts: 6}
    - {bucket: "photos-r*", max_parts: 7}
    - {bucket: "photos-r?w*", max_parts: 8}
    - {bucket: "a[bc]d", max_parts: 9}
    - {bucket: "a*", max_parts: 10}
    - {bucket: "x?y", max_parts: 11}
    - {bucket: "x*y", max_parts: 12}
`)
	for bucket, want := range map[string]int{
		"videos":          1,  // only "*"
		"videos-raw":      2,  // "*-raw": "*" has no more literal prefix but fewer literals
		"photos-2024":     3,  // literal prefix "photos-" beats "*"
		"photos-raw":      7,  // "photos-r*" (prefix 8) beats "photos-*" (7) and "*-raw" (0)
		"photos-raw-x":    4,  // "photos-raw-" is the longest prefix
		"photos-raw-2024": 5,  // the exact name beats every pattern
		"photos-rxw-1":    7,  // "photos-r*" and "photos-r?w*" tie on prefix; fewer wildcards wins
		"abd":             9,  // "a[bc]d" and "a*" tie on prefix and wildcards; more literals (2 > 1) wins
		"xzy":             11, // "x?y" and "x*y" tie on everything: the first listed wins
	} {
		if got := e.rule(bucket).sizes.maxParts; got != want {
			t.Errorf("%s: rule with max_parts %d, want %d", bucket, got, want)
		}
	}
}

func TestSpecificity(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    specificity
	}{
		{"*", specificity{0, 1, 0}},
		{"photos", specificity{6, 0, 6}},
		{"photos-*", specificity{7, 1, 7}},
		{"a[bc]d*", specificity{1, 2, 2}},
		{`a\*b*`, specificity{3, 1, 3}},
		{"?x", specificity{0, 1, 1}},
	} {
		if got := specificityOf(tc.pattern); got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.pattern, got, tc.want)
		}
	}
}
