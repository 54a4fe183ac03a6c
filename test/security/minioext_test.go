package security_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/photogate/photogate/test/harness"
)

// ListObjectsV2 and ListObjectVersions with metadata=true are MinIO's
// ListObjectsV2M and ListObjectVersionsM: every entry carries the object's
// user metadata and tags, checked against MinIO's own IAM (photogate's
// root credential), not against photogate's read grant. A list-only
// caller must not read them.
func TestListingsDoNotCarryMetadata(t *testing.T) {
	lister := newUser("lister")
	e := start(t, "users:\n"+lister.entry("    grants: [{buckets: \"*\", actions: [list]}]\n"))
	b := harness.BucketName("listmeta")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	tg, err := tags.NewTags(map[string]string{"secret-tag": "tagvalue42"}, true)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello")
	if _, err := suite.Backend.Client().PutObject(t.Context(), b, "doc.txt", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		UserMetadata: map[string]string{"Secret": "metavalue42"}, UserTags: tg.ToMap()}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "GetObjectTagging as a list-only user", send(t, signed(t, http.MethodGet, e.url("/"+b+"/doc.txt?tagging"), nil, lister)),
		http.StatusForbidden, "AccessDenied")
	for _, q := range []string{"?list-type=2&metadata=true", "?versions&metadata=true", "?metadata=true"} {
		r := send(t, signed(t, http.MethodGet, e.url("/"+b+q), nil, lister))
		if strings.Contains(string(r.Body), "metavalue42") || strings.Contains(string(r.Body), "tagvalue42") {
			t.Errorf("%s as a list-only user shows metadata or tags: %.600s", q, r.Body)
		}
		wantRefused(t, q, r)
	}
	if r := send(t, signed(t, http.MethodGet, e.url("/"+b+"?list-type=2"), nil, lister)); r.Status != http.StatusOK {
		t.Errorf("control: ListObjectsV2 as the lister: %s", r)
	}
}

// PutObject and CopyObject with ?versionId= are MinIO's "write this
// version": it replaces an existing version's data in place, history a
// write-only caller cannot delete, and MinIO's object-lock check refuses
// only compliance mode and legal hold, so a governance-retained version
// would be overwritten without the bypass_governance grant.
func TestWritesCannotNameAVersion(t *testing.T) {
	writer := newUser("writer")
	e := start(t, "users:\n"+writer.entry("    grants: [{buckets: \"*\", actions: [write, read, list]}]\n"))
	c := suite.Backend.Client()
	for _, lock := range []bool{false, true} {
		b := harness.BucketName("putvid")
		makeBuckets(t, minio.MakeBucketOptions{ObjectLocking: lock}, b)
		if !lock {
			if err := c.EnableVersioning(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		orig := []byte("original evidence")
		opts := minio.PutObjectOptions{}
		if lock {
			opts.Mode = minio.Governance
			opts.RetainUntilDate = time.Now().Add(24 * time.Hour)
		}
		info, err := c.PutObject(t.Context(), b, "doc.txt", bytes.NewReader(orig), int64(len(orig)), opts)
		if err != nil {
			t.Fatal(err)
		}
		seed(t, b, "evil.txt", []byte("tampered"))
		vid := "?versionId=" + info.VersionID

		put := signed(t, http.MethodPut, e.url("/"+b+"/doc.txt"+vid), []byte("tampered"), writer)
		wantError(t, "PutObject naming a version", send(t, put), http.StatusBadRequest, "InvalidArgument")

		cp := newRequest(t, http.MethodPut, e.url("/"+b+"/doc.txt"+vid), nil)
		cp.Header.Set("X-Amz-Copy-Source", "/"+b+"/evil.txt")
		cp = harness.SignV4(cp, writer.AccessKey, writer.SecretKey, harness.SHA256Hex(nil))
		wantError(t, "CopyObject naming a version", send(t, cp), http.StatusBadRequest, "InvalidArgument")

		mp := signed(t, http.MethodPost, e.url("/"+b+"/doc.txt?uploads&versionId="+info.VersionID), nil, writer)
		wantError(t, "CreateMultipartUpload naming a version", send(t, mp), http.StatusBadRequest, "InvalidArgument")

		obj, err := c.GetObject(t.Context(), b, "doc.txt", minio.GetObjectOptions{VersionID: info.VersionID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, orig) {
			t.Errorf("lock %v: version %s holds %q at MinIO (%v), want %q", lock, info.VersionID, got, err, orig)
		}

		// Reading that version by its id stays allowed.
		if r := send(t, signed(t, http.MethodGet, e.url("/"+b+"/doc.txt"+vid), nil, writer)); r.Status != http.StatusOK || !bytes.Equal(r.Body, orig) {
			t.Errorf("lock %v: GET of the version: %s %q", lock, r, r.Body)
		}
	}
}
