package security_test

import (
	"archive/zip"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

// MinIO serves its admin, health, metrics and internal APIs under /minio/
// on the S3 port, and answers them for its root user: photogate's backend
// credential. A path-style S3 request for "bucket minio" must therefore
// never be re-signed and forwarded, whatever grants the caller has on "*".
func TestMinIOAdminAPIOnS3PortIsRefused(t *testing.T) {
	reader, writer := newUser("reader"), newUser("writer")
	e := start(t, "users:\n"+
		reader.entry("    grants: [{buckets: \"*\", actions: [read, list]}]\n")+
		writer.entry("    grants: [{buckets: \"*\", actions: [write, delete]}]\n"))

	// An IAM import that would create a MinIO user with full power; its
	// effect is checked at MinIO by trying to log in as that user.
	intruder := newUser("intruder")
	iam := iamImport(t, intruder)

	attacks := []struct {
		who          user
		method, path string
		body         []byte
	}{
		{reader, http.MethodGet, "/minio/admin/v3/export-iam", nil},
		{reader, http.MethodGet, "/minio/admin/v3/info", nil},
		{reader, http.MethodGet, "/minio/admin/v3/list-users", nil},
		{reader, http.MethodGet, "/minio/admin/v3/get-config", nil},
		{reader, http.MethodGet, "/minio/health/live", nil},
		{reader, http.MethodGet, "/minio/health/cluster", nil},
		{reader, http.MethodGet, "/minio/v2/metrics/cluster", nil},
		{reader, http.MethodGet, "/minio/v2/metrics/node", nil},
		{reader, http.MethodGet, "/minio/admin/v3/export-iam?x=1", nil},
		{reader, http.MethodGet, "/minio/", nil},
		{reader, http.MethodGet, "/minio", nil},
		{writer, http.MethodPut, "/minio/admin/v3/import-iam", iam},
		{writer, http.MethodPut, "/minio/admin/v3/import-iam-v2", iam},
		{writer, http.MethodPut, "/minio/admin/v3/add-user?accessKey=" + intruder.AccessKey, []byte(`{"secretKey":"` + intruder.SecretKey + `","status":"enabled"}`)},
		{writer, http.MethodPost, "/minio/admin/v3/service?action=restart", nil},
		{writer, http.MethodPut, "/minio/x.txt", []byte("a bucket named minio is MinIO's, not a user's")},
	}
	for _, a := range attacks {
		r := send(t, signed(t, a.method, e.url(a.path), a.body, a.who))
		what := a.who.Name + " " + a.method + " " + a.path
		wantRefused(t, what, r)
		wantNoMinIOData(t, what, r)
	}

	// MinIO's IAM is unchanged: the intruder cannot log in.
	c, err := minio.New(suite.Backend.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(intruder.AccessKey, intruder.SecretKey, ""), Region: harness.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(t.Context()); err == nil {
		t.Errorf("MinIO accepts the access key %s an attacker imported through photogate", intruder.AccessKey)
	}
	if slices.Contains(e.indexedBuckets(t), "minio") {
		t.Errorf("the index counts objects in a bucket named minio: %v", e.indexedBuckets(t))
	}
	e.wantNoDrift(t, "minio")
}

// Bucket names S3 would never accept are not buckets: the gateway must not
// authorize them against "*" and forward them. ".minio.sys" is MinIO's own
// metadata (IAM, config) and "minio" its API prefix.
func TestInvalidBucketNamesAreRefused(t *testing.T) {
	reader := newUser("reader")
	e := start(t, "users:\n"+reader.entry("    grants: [{buckets: \"*\", actions: [read, write, list]}]\n"))
	paths := []string{
		"/.minio.sys/config/config.json",
		"/.minio.sys/config/iam/format.json",
		"/.minio.sys/buckets/.usage.json",
		"/.minio.sys/",
		"/MINIO/admin/v3/info",
		"/Minio/admin/v3/info",
		"/ab/key",          // too short
		"/-bucket/key",     // must start with a letter or digit
		"/bucket-/key",     // nor end with a hyphen
		"/bu..cket/key",    // no adjacent dots
		"/192.168.5.4/key", // no IP addresses
		"/bucket_name/key", // no underscores
		"/" + strings.Repeat("a", 64) + "/key",
		"/xn--bucket/key",     // reserved prefix
		"/bucket-s3alias/key", // reserved suffix
		"/%2Fminio/admin/v3/info",
	}
	for _, p := range paths {
		r := send(t, signed(t, http.MethodGet, e.url(p), nil, reader))
		wantRefused(t, "GET "+p, r)
		wantNoMinIOData(t, "GET "+p, r)
	}
	for _, p := range []string{"/ab/x.jpg", "/-bucket/x.jpg", "/bucket_name/x.jpg", "/.minio.sys/x.jpg"} {
		r := send(t, signed(t, http.MethodPut, e.url(p), []byte("data"), reader))
		wantRefused(t, "PUT "+p, r)
	}
	for _, b := range []string{".minio.sys", "MINIO", "minio", "ab", "-bucket", "bucket_name"} {
		if slices.Contains(e.indexedBuckets(t), b) {
			t.Errorf("the index counts objects in the invalid bucket %q", b)
		}
	}
	// MinIO itself: nothing was written where a bucket name was invalid.
	for _, bi := range mustListBuckets(t) {
		if bi.Name == "ab" || strings.HasPrefix(bi.Name, "-") || strings.Contains(bi.Name, "_") {
			t.Errorf("MinIO has the invalid bucket %q", bi.Name)
		}
	}
	e.wantNoDrift(t, ".minio.sys", "minio", "MINIO")
}

func mustListBuckets(t *testing.T) []minio.BucketInfo {
	t.Helper()
	bs, err := suite.Backend.Client().ListBuckets(t.Context())
	if err != nil {
		t.Fatalf("MinIO ListBuckets: %v", err)
	}
	return bs
}

// wantNoMinIOData fails if a response body carries something only MinIO's
// admin, health or metrics APIs would say: an IAM export (a ZIP), server
// info, metrics, or MinIO's root user name.
func wantNoMinIOData(t *testing.T, what string, r harness.S3Response) {
	t.Helper()
	body := string(r.Body)
	for _, marker := range []string{"PK\x03\x04", "minio_", "\"mode\":", "\"deploymentID\"", "\"servers\"", suite.Backend.AccessKey(), suite.Backend.SecretKey()} {
		if strings.Contains(body, marker) {
			t.Errorf("%s: the response carries MinIO data (%q): %.200q", what, marker, body)
		}
	}
	if r.Header.Get("X-Minio-Deployment-Id") != "" && r.Status == http.StatusOK {
		t.Errorf("%s: a 200 from MinIO itself reached the client", what)
	}
}

// iamImport is the ZIP MinIO's import-iam reads, adding u as an enabled
// user with the consoleAdmin policy.
func iamImport(t *testing.T, u user) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string]string{
		"iam-assets/users.json":            `{"` + u.AccessKey + `":{"secretKey":"` + u.SecretKey + `","status":"enabled","policyName":"consoleAdmin"}}`,
		"iam-assets/user_mappings.json":    `{"` + u.AccessKey + `":{"version":1,"policy":"consoleAdmin"}}`,
		"iam-assets/policies.json":         `{}`,
		"iam-assets/groups.json":           `{}`,
		"iam-assets/svcaccts.json":         `{}`,
		"iam-assets/group_mappings.json":   `{}`,
		"iam-assets/stsuser_mappings.json": `{}`,
	}
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
