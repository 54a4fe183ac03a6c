package postupload_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/test/harness"
)

// --- identities and the gateway under test ---

// user is a client identity written into a test's YAML config.
type user struct {
	Name, AccessKey, SecretKey string
}

func newUser(name string) user {
	return user{Name: name, AccessKey: "PU" + strings.ToUpper(harness.RandomString(16)), SecretKey: harness.RandomString(40)}
}

// entry renders u as an item of the YAML users: list with one grant of
// actions on every bucket.
func (u user) entry(actions string) string {
	return fmt.Sprintf("  - name: %s\n    access_key: %s\n    secret_key: %s\n    grants:\n      - buckets: \"*\"\n        actions: [%s]\n",
		u.Name, u.AccessKey, u.SecretKey, actions)
}

// env is one photogate started with a test's config, in front of the
// shared MinIO.
type env struct {
	g *harness.Gateway
}

// start writes config (users: and policy: as in docs/policy.md) to a
// fresh file and starts photogate with it; opts may ask for TLS.
func start(t *testing.T, config string, opts harness.GatewayOptions) *env {
	t.Helper()
	requireSetup(t)
	path := filepath.Join(t.TempDir(), "photogate.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Binary, opts.Backend = suite.Binary, suite.Backend
	opts.Env = append(opts.Env, "PHOTOGATE_CONFIG="+path)
	return &env{g: harness.StartGateway(t, opts)}
}

// bucketURL is where a form for bucket is posted (path style).
func (e *env) bucketURL(bucket string) string { return e.g.Endpoint() + "/" + bucket }

// presignedPost signs a POST policy as u with minio-go's
// PresignedPostPolicy, pointed at the gateway; configure sets the
// policy's conditions (bucket, expiry and key are the caller's too).
func (e *env) presignedPost(t *testing.T, u user, configure func(p *minio.PostPolicy) error) (string, map[string]string) {
	t.Helper()
	c, err := minio.New(e.g.Addr(), &minio.Options{
		Creds:  miniocreds.NewStaticV4(u.AccessKey, u.SecretKey, ""),
		Region: harness.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := minio.NewPostPolicy()
	if err := configure(p); err != nil {
		t.Fatalf("POST policy: %v", err)
	}
	target, fields, err := c.PresignedPostPolicy(t.Context(), p)
	if err != nil {
		t.Fatalf("PresignedPostPolicy: %v", err)
	}
	return target.String(), fields
}

// jpegPolicy configures a POST policy for an image/jpeg upload of key into
// bucket until expires, with the conditions each of extra adds.
func jpegPolicy(bucket, key string, expires time.Time, extra ...func(pp *minio.PostPolicy) error) func(pp *minio.PostPolicy) error {
	return func(pp *minio.PostPolicy) error {
		errs := []error{pp.SetBucket(bucket), pp.SetKey(key), pp.SetExpires(expires), pp.SetContentType("image/jpeg")}
		for _, set := range extra {
			errs = append(errs, set(pp))
		}
		return errors.Join(errs...)
	}
}

// --- posting forms ---

// upload is the file part of a form.
type upload struct {
	Name, ContentType string
	Data              []byte
}

// encodeForm writes fields (sorted by name, so a failure reproduces) and
// then the file as a browser does, and returns the body and its
// Content-Type.
func encodeForm(t *testing.T, fields map[string]string, file upload) ([]byte, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := w.WriteField(name, fields[name]); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, file.Name))
	if file.ContentType != "" {
		h.Set("Content-Type", file.ContentType)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(file.Data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return body.Bytes(), w.FormDataContentType()
}

// postForm posts a form to target and returns photogate's answer.
func postForm(t *testing.T, target string, fields map[string]string, file upload) harness.S3Response {
	t.Helper()
	body, contentType := encodeForm(t, fields, file)
	return postRaw(t, target, contentType, body)
}

// postRaw posts body as it is, never following a redirect.
func postRaw(t *testing.T, target, contentType string, body []byte) harness.S3Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return harness.SendS3(t, plainClient(), req)
}

// plainClient sends requests as they are: no retries, no redirects
// followed, no proxy.
func plainClient() *http.Client {
	return &http.Client{
		Timeout:       time.Minute,
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// wantError fails unless r is the S3 error status/code.
func wantError(t *testing.T, what string, r harness.S3Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Errorf("%s: photogate answered %s; S3 and MinIO answer %d %s", what, r, status, code)
	}
}

// --- MinIO, the ground truth ---

func makeBuckets(t *testing.T, names ...string) {
	t.Helper()
	for _, b := range names {
		if err := suite.Backend.Client().MakeBucket(t.Context(), b, minio.MakeBucketOptions{Region: harness.Region}); err != nil {
			t.Fatalf("MinIO MakeBucket %s: %v", b, err)
		}
	}
}

// stored returns MinIO's object at bucket/key, or false if there is none.
func stored(t *testing.T, bucket, key string) ([]byte, minio.ObjectInfo, bool) {
	t.Helper()
	obj, err := suite.Backend.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("MinIO GET %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
		return nil, minio.ObjectInfo{}, false
	}
	if err != nil {
		t.Fatalf("MinIO GET %s/%s: %v", bucket, key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		t.Fatalf("MinIO stat %s/%s: %v", bucket, key, err)
	}
	return data, info, true
}

// assertNothingStored fails if MinIO holds any object in bucket, and if
// the index has a record of key: a refused upload must leave neither.
func (e *env) assertNothingStored(t *testing.T, what, bucket, key string) {
	t.Helper()
	for o := range suite.Backend.Client().ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("MinIO list %s: %v", bucket, o.Err)
		}
		t.Errorf("%s: MinIO holds %s/%s (%d bytes) after the refusal", what, bucket, o.Key, o.Size)
	}
	if it, ok := e.object(t, bucket, key); ok {
		t.Errorf("%s: the index has %s/%s (%d bytes) after the refusal", what, bucket, key, it.Size)
	}
}

// --- the index, through the admin API ---

// object returns the index's record of bucket/key.
func (e *env) object(t *testing.T, bucket, key string) (api.Item, bool) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		e.g.AdminEndpoint()+"/api/v1/objects/"+url.PathEscape(bucket)+"/"+url.PathEscape(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.g.AdminToken())
	resp, err := e.g.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("admin API object %s/%s: %v", bucket, key, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin API object %s/%s: %v", bucket, key, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var it api.Item
		if err := json.Unmarshal(body, &it); err != nil {
			t.Fatalf("admin API object %s/%s: %v in %s", bucket, key, err, body)
		}
		return it, true
	case http.StatusNotFound:
		return api.Item{}, false
	}
	t.Fatalf("admin API object %s/%s: status %d: %s", bucket, key, resp.StatusCode, body)
	return api.Item{}, false
}

// indexed waits up to 30 s for bucket/key to be indexed with its
// metadata extraction finished.
func (e *env) indexed(t *testing.T, bucket, key string) (api.Item, bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		it, ok := e.object(t, bucket, key)
		if ok && it.Extraction.Status != "" && it.Extraction.Status != "pending" {
			return it, true
		}
		if time.Now().After(deadline) {
			return it, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- the photo and what must come of it ---

// photo is a real photograph from testdata/photos with what its
// MANIFEST.tsv row says it contains.
type photo struct {
	Name   string // the file's base name
	Data   []byte
	SHA256 string
	Camera string  // "Make Model"
	Taken  string  // DateTimeOriginal, "2006:01:02 15:04:05"
	Lat    float64 // GPS
	Lon    float64
}

// gpsPhoto is small (a browser test posts it through a data pipe of its
// own) and carries camera, date and GPS.
const gpsPhoto = "jpeg/iphone4s_lensinfo_gps_orient6.jpg"

// testPhoto loads name from testdata/photos with its manifest row.
func testPhoto(t *testing.T, name string) photo {
	t.Helper()
	dir := harness.PhotosDir(t)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cols []string
	for sc.Scan() {
		row := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = row
			continue
		}
		if row[0] != name {
			continue
		}
		get := func(col string) string {
			if i := slices.Index(cols, col); i >= 0 && i < len(row) {
				return row[i]
			}
			t.Fatalf("MANIFEST.tsv has no column %q", col)
			return ""
		}
		p := photo{Name: filepath.Base(name), Camera: get("camera"), Taken: get("datetime_original")}
		if _, err := fmt.Sscanf(strings.TrimPrefix(get("gps"), "yes "), "(%g,%g)", &p.Lat, &p.Lon); err != nil {
			t.Fatalf("%s: manifest gps %q: %v", name, get("gps"), err)
		}
		if p.Data, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		p.SHA256 = harness.SHA256Hex(p.Data)
		return p
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("%s is not in testdata/photos/MANIFEST.tsv", name)
	return photo{}
}

// wantObject is what a successful upload must have stored.
type wantObject struct {
	Bucket, Key string
	SHA256      string
	Size        int64
	ContentType string
	Meta        map[string]string // x-amz-meta-* without the prefix
	Photo       *photo            // its camera, date and GPS must be indexed
}

// checkStored checks w at MinIO and in the index, and returns MinIO's
// ETag (unquoted).
func (e *env) checkStored(t *testing.T, w wantObject) string {
	t.Helper()
	data, info, ok := stored(t, w.Bucket, w.Key)
	if !ok {
		t.Errorf("MinIO holds no %s/%s after the upload", w.Bucket, w.Key)
		return ""
	}
	if sum := harness.SHA256Hex(data); sum != w.SHA256 || int64(len(data)) != w.Size {
		t.Errorf("MinIO %s/%s: %d bytes, sha256 %s; want %d bytes, %s", w.Bucket, w.Key, len(data), sum, w.Size, w.SHA256)
	}
	if info.ContentType != w.ContentType {
		t.Errorf("MinIO %s/%s: Content-Type %q, want %q", w.Bucket, w.Key, info.ContentType, w.ContentType)
	}
	for name, value := range w.Meta {
		if got := info.Metadata.Get("X-Amz-Meta-" + name); got != value {
			t.Errorf("MinIO %s/%s: x-amz-meta-%s %q, want %q (all metadata %v)", w.Bucket, w.Key, name, got, value, info.Metadata)
		}
	}

	it, ok := e.indexed(t, w.Bucket, w.Key)
	if !ok {
		t.Errorf("index: no finished record of %s/%s (got %+v)", w.Bucket, w.Key, it)
		return info.ETag
	}
	if it.Size != w.Size || strings.Trim(it.ETag, `"`) != info.ETag || it.ContentType != w.ContentType {
		t.Errorf("index %s/%s: size %d etag %s type %q; MinIO has %d, %s, %q",
			w.Bucket, w.Key, it.Size, it.ETag, it.ContentType, w.Size, info.ETag, w.ContentType)
	}
	for name, value := range w.Meta {
		if got := metaValue(it.UserMetadata, name); got != value {
			t.Errorf("index %s/%s: user metadata %s = %q, want %q (all %v)", w.Bucket, w.Key, name, got, value, it.UserMetadata)
		}
	}
	if p := w.Photo; p != nil {
		checkPhotoIndexed(t, it, *p)
	}
	return info.ETag
}

// metaValue finds a user metadata value whatever the case of its name.
func metaValue(m map[string]string, name string) string {
	for k, v := range m {
		if strings.EqualFold(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"), name) {
			return v
		}
	}
	return ""
}

func checkPhotoIndexed(t *testing.T, it api.Item, p photo) {
	t.Helper()
	if got := strings.TrimSpace(it.Make + " " + it.Model); got != p.Camera {
		t.Errorf("index %s/%s: camera %q, the photo's EXIF says %q (extraction %+v)", it.Bucket, it.Key, got, p.Camera, it.Extraction)
	}
	local := it.TakenAt
	if it.TakenOffset != "" {
		if off, err := time.Parse("-07:00", it.TakenOffset); err == nil {
			local = local.In(off.Location())
		}
	}
	if it.TakenAt.IsZero() || local.Format("2006:01:02 15:04:05") != p.Taken {
		t.Errorf("index %s/%s: taken %v (offset %q), the photo's EXIF says %s", it.Bucket, it.Key, it.TakenAt, it.TakenOffset, p.Taken)
	}
	if it.GPS == nil || math.Abs(it.GPS.Lat-p.Lat) > 1e-4 || math.Abs(it.GPS.Lon-p.Lon) > 1e-4 {
		t.Errorf("index %s/%s: GPS %+v, the photo's EXIF says (%g,%g)", it.Bucket, it.Key, it.GPS, p.Lat, p.Lon)
	}
}
