package classify

import (
	"net/http"
	"slices"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

// Every operation Classify can name must be in the table: an operation
// outside it would be forwarded with the zero Spec.
func TestEveryNamedOperationIsInTheTable(t *testing.T) {
	named := []Op{
		ListBuckets, CreateBucket, DeleteBucket, HeadBucket, ListObjects, ListObjectsV2, ListObjectVersions,
		ListMultipartUploads, DeleteObjects, GetObject, HeadObject, PutObject, CopyObject, DeleteObject,
		CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload,
		ListParts, GetObjectTagging, PutObjectTagging, DeleteObjectTagging, SelectObjectContent, "RestoreObject", PostObject,
	}
	for _, table := range []map[string][3]Op{bucketSubresources, objectSubresources} {
		for _, ops := range table {
			for _, op := range ops {
				if op != "" {
					named = append(named, op)
				}
			}
		}
	}
	for _, op := range named {
		if _, ok := operations[op]; !ok {
			t.Errorf("%s is classified but not in the operations table", op)
		}
	}
}

func TestHeaderAllowList(t *testing.T) {
	cases := []struct {
		op     Op
		header string
		want   bool
	}{
		{PutObject, "Content-Type", true},
		{PutObject, "X-Amz-Meta-Camera", true},
		{PutObject, "X-Amz-Checksum-Crc32", true},
		{PutObject, "X-Amz-Copy-Source", false}, // a PUT that becomes a copy
		{PutObject, "X-Minio-Source-Mtime", false},
		{PutObject, "X-Minio-Internal-Replication-Status", false},
		{PutObject, "X-Amz-Bypass-Governance-Retention", false},
		{PutObject, "X-Amz-Object-Lock-Mode", true},
		{PutObject, "Range", false},
		{CopyObject, "X-Amz-Copy-Source", true},
		{CopyObject, "X-Amz-Metadata-Directive", true},
		{UploadPartCopy, "X-Amz-Copy-Source-Range", true},
		{UploadPart, "X-Amz-Meta-Camera", false}, // metadata belongs to CreateMultipartUpload
		{GetObject, "Range", true},
		{GetObject, "If-None-Match", true},
		{GetObject, "Content-Type", false},
		{DeleteObject, "X-Amz-Bypass-Governance-Retention", true},
		{DeleteObject, "X-Amz-Mfa", false},
		{ListBuckets, "User-Agent", true},
		{ListBuckets, "X-Forwarded-Host", false},
		{"PutBucketPolicy", "Content-Md5", true},
		{"NoSuchOperation", "Content-Md5", false},
		{"GetObjectAttributes", "X-Amz-Object-Attributes", true},
		{GetObject, "X-Amz-Object-Attributes", false},
	}
	for _, c := range cases {
		if got := c.op.HeaderAllowed(c.header); got != c.want {
			t.Errorf("%s.HeaderAllowed(%q) = %v, want %v", c.op, c.header, got, c.want)
		}
	}
}

func TestPrivilegedActions(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		op   Op
		h    http.Header
		want []Action
	}{
		{DeleteObject, h("X-Amz-Bypass-Governance-Retention", "true"), []Action{ActionBypassGovernance}},
		{DeleteObject, h("X-Amz-Bypass-Governance-Retention", "TRUE "), []Action{ActionBypassGovernance}},
		{DeleteObject, h("X-Amz-Bypass-Governance-Retention", "false"), nil},
		{DeleteObjects, h("X-Amz-Bypass-Governance-Retention", "true"), []Action{ActionBypassGovernance}},
		{PutObject, h("X-Amz-Bypass-Governance-Retention", "true"), nil}, // not forwarded with a PUT
		{PutObject, h("X-Amz-Object-Lock-Mode", "COMPLIANCE", "X-Amz-Object-Lock-Retain-Until-Date", "2030-01-01T00:00:00Z"), []Action{ActionRetention}},
		{CreateMultipartUpload, h("X-Amz-Object-Lock-Legal-Hold", "ON"), []Action{ActionLegalHold}},
		{"PutObjectRetention", h(), []Action{ActionRetention}},
		{"PutObjectRetention", h("X-Amz-Bypass-Governance-Retention", "true"), []Action{ActionRetention, ActionBypassGovernance}},
		{"PutObjectLegalHold", h(), []Action{ActionLegalHold}},
		{"PutObjectLockConfiguration", h(), []Action{ActionRetention}},
		{GetObject, h("X-Amz-Object-Lock-Mode", "GOVERNANCE"), nil},
	}
	for _, c := range cases {
		if got := c.op.PrivilegedActions(c.h); !slices.Equal(got, c.want) {
			t.Errorf("%s.PrivilegedActions(%v) = %v, want %v", c.op, c.h, got, c.want)
		}
	}
}

// Metadata names MinIO acts on are refused wherever object metadata is
// taken (a POST form's x-amz-meta-* fields become such headers too), and
// ordinary metadata passes.
func TestBackendControlMetadataIsRefused(t *testing.T) {
	for _, op := range []Op{PutObject, PostObject, CreateMultipartUpload, CopyObject} {
		for name, refused := range map[string]bool{
			"X-Amz-Meta-Snowball-Auto-Extract":            true,
			"X-Amz-Meta-Minio-Snowball-Prefix":            true,
			"X-Amz-Meta-Acme-Snowball-Prefix":             true,
			"X-Amz-Meta-Minio-Object-Perf":                true,
			"x-amz-meta-SNOWBALL-auto-extract":            true,
			"X-Amz-Meta-Camera":                           false,
			"X-Amz-Meta-Miniol":                           false,
			"X-Amz-Meta-X-Amz-Unencrypted-Content-Length": false,
		} {
			err := op.CheckHeaders(http.Header{name: {"true"}})
			if got := s3err.Is(err, s3err.NotImplemented); got != refused {
				t.Errorf("%s with %s: %v, want refused %v", op, name, err, refused)
			}
		}
	}
	if err := GetObject.CheckHeaders(http.Header{"X-Amz-Meta-Snowball-Auto-Extract": {"true"}}); err != nil {
		t.Errorf("GetObject drops metadata headers rather than refusing them: %v", err)
	}
}
