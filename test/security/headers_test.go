package security_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// A header-signed request covers only the headers its SignedHeaders names.
// x-amz-copy-source added after signing turns a PutObject of harmless
// bytes into a CopyObject of someone else's file: S3 refuses x-amz-*
// headers that are not signed (403 AccessDenied), and so must photogate.
func TestCopySourceAddedAfterSigningIsRefused(t *testing.T) {
	e := start(t, "")
	other, dst := harness.BucketName("other"), harness.BucketName("dst")
	makeBuckets(t, minio.MakeBucketOptions{}, other, dst)
	secret := []byte("the secret of another bucket " + harness.RandomString(16))
	seed(t, other, "secret.txt", secret)

	body := []byte("harmless bytes")
	req := signed(t, http.MethodPut, e.url("/"+dst+"/stolen.txt"), body, e.admin())
	if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=host;x-amz-content-sha256;x-amz-date,") {
		t.Fatalf("precondition: signed headers are not host;x-amz-content-sha256;x-amz-date: %s", req.Header.Get("Authorization"))
	}
	req.Header.Set("X-Amz-Copy-Source", "/"+other+"/secret.txt")
	wantError(t, "PutObject with an unsigned x-amz-copy-source", send(t, req), http.StatusForbidden, "AccessDenied")

	if data, _, ok := stored(t, dst, "stolen.txt"); ok && bytes.Equal(data, secret) {
		t.Errorf("MinIO holds a copy of %s/secret.txt in %s: an unsigned header chose what was stored", other, dst)
	} else if ok {
		t.Errorf("MinIO holds %s/stolen.txt (%q) from a request that should have been refused", dst, data)
	}
}

// The same holds for every x-amz-* header: tags, metadata or an ACL added
// after signing must not be stored as if the signer had sent them.
func TestOtherAmzHeadersAddedAfterSigningAreRefused(t *testing.T) {
	e := start(t, "")
	b := harness.BucketName("unsigned")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	for i, h := range [][2]string{
		{"X-Amz-Tagging", "visibility=public"},
		{"X-Amz-Meta-Injected", "yes"},
		{"X-Amz-Acl", "public-read"},
		{"X-Amz-Website-Redirect-Location", "https://attacker.example/"},
	} {
		key := fmt.Sprintf("k%d.txt", i)
		body := []byte("signed bytes")
		req := signed(t, http.MethodPut, e.url("/"+b+"/"+key), body, e.admin())
		req.Header.Set(h[0], h[1])
		wantError(t, "PutObject with an unsigned "+h[0], send(t, req), http.StatusForbidden, "AccessDenied")
		assertAbsent(t, b, key)
	}
}

// x-amz-bypass-governance-retention lets MinIO's root delete a version
// under GOVERNANCE retention. photogate forwards as root, so the header
// needs a grant of its own (bypass_governance); a delete grant is not it.
func TestBypassGovernanceWithOnlyDeleteGrantIsRefused(t *testing.T) {
	deleter := newUser("deleter")
	locked := harness.BucketName("locked")
	e := start(t, "users:\n"+deleter.entry("    grants: [{buckets: \""+locked+"\", actions: [read, delete, list]}]\n"))
	makeBuckets(t, minio.MakeBucketOptions{ObjectLocking: true}, locked)
	data := []byte("kept under governance " + harness.RandomString(8))
	info, err := suite.Backend.Client().PutObject(t.Context(), locked, "kept.txt", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		Mode:            minio.Governance,
		RetainUntilDate: time.Now().Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatalf("MinIO PutObject with retention: %v", err)
	}
	if info.VersionID == "" {
		t.Fatal("precondition: MinIO returned no version id for a locked bucket")
	}

	req := newRequest(t, http.MethodDelete, e.url("/"+locked+"/kept.txt?versionId="+info.VersionID), nil)
	req.Header.Set("X-Amz-Bypass-Governance-Retention", "true")
	r := send(t, harness.SignV4(req, deleter.AccessKey, deleter.SecretKey, harness.SHA256Hex(nil)))
	wantError(t, "DeleteObject with x-amz-bypass-governance-retention by a user with only delete", r, http.StatusForbidden, "AccessDenied")

	if _, err := suite.Backend.Client().StatObject(t.Context(), locked, "kept.txt", minio.StatObjectOptions{VersionID: info.VersionID}); err != nil {
		t.Errorf("the GOVERNANCE-locked version %s is gone from MinIO: %v", info.VersionID, err)
	}
}

// X-Minio-Source-Mtime is MinIO's replication header: it sets the stored
// object's LastModified. A client must not be able to backdate an object
// (lifecycle rules, retention and audits trust that date).
func TestSourceMtimeHeaderDoesNotBackdateObject(t *testing.T) {
	e := start(t, "")
	b := harness.BucketName("mtime")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	body := []byte("backdated?")
	req := newRequest(t, http.MethodPut, e.url("/"+b+"/old.txt"), body)
	req.Header.Set("X-Minio-Source-Mtime", "2001-01-01T00:00:00Z")
	r := send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(body)))
	if _, info, ok := stored(t, b, "old.txt"); ok && info.LastModified.Year() < 2020 {
		t.Errorf("MinIO stored %s/old.txt with LastModified %v from a client's X-Minio-Source-Mtime (response %s)", b, info.LastModified, r)
	}
}

// Other x-minio-* headers are MinIO's internal controls. x-minio-force-delete
// on DeleteBucket removes a bucket with everything in it: a user with admin
// on a bucket but no delete must not wipe its objects through it.
func TestMinIOForceDeleteHeaderDoesNotPass(t *testing.T) {
	owner := newUser("owner")
	b := harness.BucketName("force")
	e := start(t, "users:\n"+owner.entry("    grants: [{buckets: \""+b+"\", actions: [read, write, list, admin]}]\n"))
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	keep := []byte("must survive " + harness.RandomString(8))
	seed(t, b, "keep.txt", keep)

	req := newRequest(t, http.MethodDelete, e.url("/"+b), nil)
	req.Header.Set("X-Minio-Force-Delete", "true")
	r := send(t, harness.SignV4(req, owner.AccessKey, owner.SecretKey, harness.SHA256Hex(nil)))
	if data, _, ok := stored(t, b, "keep.txt"); !ok || !bytes.Equal(data, keep) {
		t.Errorf("x-minio-force-delete on DeleteBucket by a user without delete removed %s/keep.txt at MinIO (response %s)", b, r)
	}

	// Replication headers on a PUT: MinIO must store the object as an
	// ordinary upload, not as a replica with a caller-chosen version.
	body := []byte("replica?")
	req = newRequest(t, http.MethodPut, e.url("/"+b+"/replica.txt"), body)
	req.Header.Set("X-Minio-Source-Replication-Request", "true")
	req.Header.Set("X-Minio-Source-Etag", "00000000000000000000000000000000")
	req.Header.Set("X-Minio-Source-Mtime", "2001-01-01T00:00:00Z")
	r = send(t, harness.SignV4(req, owner.AccessKey, owner.SecretKey, harness.SHA256Hex(body)))
	if _, info, ok := stored(t, b, "replica.txt"); ok {
		if info.ETag == "00000000000000000000000000000000" || info.LastModified.Year() < 2020 || info.ReplicationStatus == "REPLICA" {
			t.Errorf("MinIO stored %s/replica.txt as a replica the client described (etag %s, modified %v, replication %q; response %s)",
				b, info.ETag, info.LastModified, info.ReplicationStatus, r)
		}
	}
}
