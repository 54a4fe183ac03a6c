package classify

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

func TestClassify(t *testing.T) {
	copyHdr := http.Header{"X-Amz-Copy-Source": {"/src/key"}}
	cases := []struct {
		method, bucket, key, query string
		header                     http.Header
		want                       Op
	}{
		{"GET", "", "", "", nil, ListBuckets},
		{"GET", "", "", "x-id=ListBuckets&max-buckets=10", nil, ListBuckets},
		{"PUT", "b", "", "", nil, CreateBucket},
		{"DELETE", "b", "", "", nil, DeleteBucket},
		{"HEAD", "b", "", "", nil, HeadBucket},
		{"GET", "b", "", "", nil, ListObjects},
		{"GET", "b", "", "prefix=a&delimiter=%2F&marker=x&max-keys=5&encoding-type=url", nil, ListObjects},
		{"GET", "b", "", "list-type=2&continuation-token=t&start-after=a&fetch-owner=true", nil, ListObjectsV2},
		{"GET", "b", "", "versions&key-marker=a&version-id-marker=b", nil, ListObjectVersions},
		{"GET", "b", "", "uploads&upload-id-marker=u&max-uploads=3", nil, ListMultipartUploads},
		{"POST", "b", "", "delete", nil, DeleteObjects},
		{"POST", "b", "", "", nil, PostObject},
		{"GET", "b", "", "location", nil, "GetBucketLocation"},
		{"GET", "b", "", "versioning", nil, "GetBucketVersioning"},
		{"PUT", "b", "", "versioning", nil, "PutBucketVersioning"},
		{"GET", "b", "", "tagging", nil, "GetBucketTagging"},
		{"PUT", "b", "", "tagging", nil, "PutBucketTagging"},
		{"DELETE", "b", "", "tagging", nil, "DeleteBucketTagging"},
		{"GET", "b", "", "acl", nil, "GetBucketAcl"},
		{"PUT", "b", "", "acl", nil, "PutBucketAcl"},
		{"GET", "b", "", "policy", nil, "GetBucketPolicy"},
		{"PUT", "b", "", "policy", nil, "PutBucketPolicy"},
		{"DELETE", "b", "", "policy", nil, "DeleteBucketPolicy"},
		{"GET", "b", "", "cors", nil, "GetBucketCors"},
		{"PUT", "b", "", "cors", nil, "PutBucketCors"},
		{"DELETE", "b", "", "cors", nil, "DeleteBucketCors"},
		{"GET", "b", "", "lifecycle", nil, "GetBucketLifecycleConfiguration"},
		{"PUT", "b", "", "lifecycle", nil, "PutBucketLifecycleConfiguration"},
		{"DELETE", "b", "", "lifecycle", nil, "DeleteBucketLifecycle"},
		{"GET", "b", "", "encryption", nil, "GetBucketEncryption"},
		{"GET", "b", "", "object-lock", nil, "GetObjectLockConfiguration"},
		{"GET", "b", "", "notification", nil, "GetBucketNotificationConfiguration"},
		{"GET", "b", "", "replication", nil, "GetBucketReplication"},
		{"GET", "b", "", "policyStatus", nil, "GetBucketPolicyStatus"},
		{"GET", "b", "k", "", nil, GetObject},
		{"GET", "b", "k", "versionId=v1&partNumber=1&response-content-type=image%2Fjpeg&x-id=GetObject", nil, GetObject},
		{"HEAD", "b", "k", "", nil, HeadObject},
		{"PUT", "b", "k", "", nil, PutObject},
		{"PUT", "b", "k", "x-id=PutObject", nil, PutObject},
		{"PUT", "b", "k", "", copyHdr, CopyObject},
		{"DELETE", "b", "k", "versionId=3", nil, DeleteObject},
		{"POST", "b", "k", "uploads", nil, CreateMultipartUpload},
		{"PUT", "b", "k", "partNumber=2&uploadId=u", nil, UploadPart},
		{"PUT", "b", "k", "partNumber=2&uploadId=u", copyHdr, UploadPartCopy},
		{"POST", "b", "k", "uploadId=u", nil, CompleteMultipartUpload},
		{"DELETE", "b", "k", "uploadId=u", nil, AbortMultipartUpload},
		{"GET", "b", "k", "uploadId=u&max-parts=10&part-number-marker=2", nil, ListParts},
		{"GET", "b", "k", "tagging", nil, GetObjectTagging},
		{"PUT", "b", "k", "tagging", nil, PutObjectTagging},
		{"DELETE", "b", "k", "tagging", nil, DeleteObjectTagging},
		{"GET", "b", "k", "acl", nil, "GetObjectAcl"},
		{"PUT", "b", "k", "acl", nil, "PutObjectAcl"},
		{"GET", "b", "k", "retention", nil, "GetObjectRetention"},
		{"PUT", "b", "k", "legal-hold", nil, "PutObjectLegalHold"},
		{"GET", "b", "k", "attributes", nil, "GetObjectAttributes"},
		{"POST", "b", "k", "select&select-type=2", nil, SelectObjectContent},
		{"POST", "b", "k", "restore", nil, "RestoreObject"},
	}
	for _, c := range cases {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Classify(c.method, c.bucket, c.key, q, c.header)
		if err != nil || got != c.want {
			t.Errorf("%s /%s/%s?%s = %q, %v; want %q", c.method, c.bucket, c.key, c.query, got, err, c.want)
		}
	}
}

func TestClassifyRefusesWhatItCannotName(t *testing.T) {
	cases := []struct{ method, bucket, key, query string }{
		{"PUT", "", "", ""},             // no such service operation
		{"POST", "b", "k", ""},          // POST to an object without a sub-resource
		{"PUT", "b", "k", "torrent"},    // unknown object sub-resource
		{"GET", "b", "k", "torrent"},    // GetObjectTorrent is not supported
		{"GET", "b", "", "foo-unknown"}, // unknown bucket sub-resource
		{"DELETE", "b", "", "cors&policy"},
		{"PUT", "b", "k", "partNumber=1"}, // part without upload id
		{"PUT", "b", "k", "uploadId=u"},   // upload id without part number
		{"POST", "b", "k", "uploads&tagging"},
		{"DELETE", "b", "", "location"}, // location cannot be deleted
		{"PATCH", "b", "k", ""},
		{"GET", "b", "", "list-type=3"},
		{"POST", "b", "k", "select"}, // select without select-type=2
		{"GET", "", "", "uploads"},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		op, err := Classify(c.method, c.bucket, c.key, q, nil)
		if !s3err.Is(err, s3err.NotImplemented) {
			t.Errorf("%s /%s/%s?%s = %q, %v; want NotImplemented", c.method, c.bucket, c.key, c.query, op, err)
		}
	}
}

func TestActionsAndMutations(t *testing.T) {
	for op, want := range map[Op]Action{
		GetObject: ActionRead, HeadObject: ActionRead, PutObject: ActionWrite, CopyObject: ActionWrite,
		DeleteObject: ActionDelete, DeleteObjects: ActionDelete, ListObjectsV2: ActionList,
		ListBuckets: ActionList, CreateBucket: ActionAdmin, "PutBucketPolicy": ActionAdmin,
		UploadPart: ActionWrite, CompleteMultipartUpload: ActionWrite, AbortMultipartUpload: ActionWrite,
	} {
		if got := op.Action(); got != want {
			t.Errorf("%s.Action() = %s, want %s", op, got, want)
		}
	}
	if !PutObject.Mutates() || !DeleteObjects.Mutates() || GetObject.Mutates() || UploadPart.Mutates() {
		t.Error("Mutates is wrong for the index's operations")
	}
}

func TestResolve(t *testing.T) {
	domains := []string{"s3.example.com"}
	cases := []struct {
		host, path  string
		bucket, key string
	}{
		{"localhost:9080", "/", "", ""},
		{"localhost:9080", "/photos", "photos", ""},
		{"localhost:9080", "/photos/", "photos", ""},
		{"localhost:9080", "/photos/2024/a b.jpg", "photos", "2024/a b.jpg"},
		{"localhost:9080", "/photos/lead", "photos", "lead"},
		{"localhost:9080", "/photos/dir/", "photos", "dir/"},
		{"photos.s3.example.com", "/2024/a.jpg", "photos", "2024/a.jpg"},
		{"photos.S3.Example.com:443", "/", "photos", ""},
		{"s3.example.com", "/photos/k", "photos", "k"},
		{"[::1]:9080", "/photos/k", "photos", "k"},
	}
	for _, c := range cases {
		got, err := Resolve(c.host, c.path, domains)
		if err != nil || got.Bucket != c.bucket || got.Key != c.key {
			t.Errorf("Resolve(%q, %q) = %+v, %v; want %q %q", c.host, c.path, got, err, c.bucket, c.key)
		}
	}
	for _, bad := range []string{"/ab/k", "/a%2Fb/k", "/bu\x00cket/k", "/../k",
		"/minio/admin/v3/export-iam", "/minio/health/live", "/minio", "/.minio.sys/config",
		"/Photos/k", "/pho_tos/k", "/192.168.1.1/k", "/-photos/k", "/photos-/k", "/pho..tos/k",
		"/" + strings.Repeat("a", 64) + "/k"} {
		p, _ := url.PathUnescape(bad)
		if _, err := Resolve("localhost", p, nil); !s3err.Is(err, s3err.InvalidBucketName) {
			t.Errorf("Resolve(%q) err = %v, want InvalidBucketName", bad, err)
		}
	}
	for _, bad := range []string{"/photos//lead", "/photos/a//b", "/photos/a/./b", "/photos/a/../b", "/photos/..",
		"/photos/.", "/photos/a/\x00", "/photos/\xff"} {
		if _, err := Resolve("localhost", bad, nil); !s3err.Is(err, s3err.XMinioInvalidObjectName) {
			t.Errorf("Resolve(%q) err = %v, want XMinioInvalidObjectName", bad, err)
		}
	}
	if _, err := Resolve("minio.s3.example.com", "/admin/v3/info", domains); !s3err.Is(err, s3err.InvalidBucketName) {
		t.Errorf("virtual-host bucket minio: err = %v, want InvalidBucketName", err)
	}
	long := "/b12/" + strings.Repeat("k", 1025)
	if _, err := Resolve("localhost", long, nil); !s3err.Is(err, s3err.KeyTooLongError) {
		t.Errorf("long key: err = %v", err)
	}
}

// versionId is taken only where S3 defines it; MinIO would make a write
// naming a version overwrite that version in place.
func TestVersionIDOnlyWhereS3TakesIt(t *testing.T) {
	for _, c := range []struct {
		method, sub string
		header      http.Header
		ok          bool
	}{
		{"GET", "", nil, true},
		{"HEAD", "", nil, true},
		{"DELETE", "", nil, true},
		{"PUT", "tagging", nil, true},
		{"GET", "retention", nil, true},
		{"PUT", "", nil, false},
		{"PUT", "", http.Header{"X-Amz-Copy-Source": {"/b/src"}}, false},
		{"POST", "uploads", nil, false},
	} {
		q := url.Values{"versionId": {"v1"}}
		if c.sub != "" {
			q.Set(c.sub, "")
		}
		op, err := Classify(c.method, "b", "k", q, c.header)
		if c.ok != (err == nil) || (!c.ok && !s3err.Is(err, s3err.InvalidArgument)) {
			t.Errorf("%s ?%s&versionId: %s, %v; want allowed %v", c.method, c.sub, op, err, c.ok)
		}
	}
	if _, err := Classify("GET", "b", "", url.Values{"list-type": {"2"}, "metadata": {"true"}}, nil); !s3err.Is(err, s3err.NotImplemented) {
		t.Errorf("ListObjectsV2 with MinIO's metadata=true: %v, want NotImplemented", err)
	}
}
