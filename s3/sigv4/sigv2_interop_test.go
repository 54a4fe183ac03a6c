package sigv4

import (
	"github.com/photogate/photogate/test/harness"

	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

// The interop tests drive the clients this V2 support exists for, when they
// are installed: botocore (boto3, aws-cli v1), the aws CLI itself and
// s3cmd. They sign with their own code; the server only records what Verify
// made of each request and answers just enough for the client to go on.

type v2Seen struct {
	method, uri, host, authz string
	res                      *Result
	err                      error
}

type v2Recorder struct {
	mu   sync.Mutex
	seen []v2Seen
}

func (rec *v2Recorder) all() []v2Seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]v2Seen(nil), rec.seen...)
}

// newInteropServer answers like a permissive S3: a location and empty
// listings for GETs on a bucket, an ETag for PUTs, an upload id for
// ?uploads.
func newInteropServer(t *testing.T, v *Verifier) (*httptest.Server, *v2Recorder) {
	rec := &v2Recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := checkAndVerify(v, r)
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, v2Seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), res, err})
		rec.mu.Unlock()
		if err != nil {
			s3err.Write(w, err, r.URL.Path, "test", "test")
			return
		}
		const ns = ` xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case r.Method == http.MethodPut:
			sum := md5.Sum(body)
			w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		case r.Method == http.MethodPost && q.Has("uploads"):
			io.WriteString(w, `<InitiateMultipartUploadResult`+ns+`><Bucket>bucket</Bucket><Key>k</Key>`+
				`<UploadId>up1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodGet && q.Has("location"):
			io.WriteString(w, `<LocationConstraint`+ns+`></LocationConstraint>`)
		case r.Method == http.MethodGet && r.URL.Path == "/" && !strings.HasSuffix(r.Host, ".s3.test"):
			io.WriteString(w, `<ListAllMyBucketsResult`+ns+`><Buckets></Buckets></ListAllMyBucketsResult>`)
		case r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 && len(q) <= 4:
			io.WriteString(w, `<ListBucketResult`+ns+`><Name>bucket</Name><IsTruncated>false</IsTruncated>`+
				`</ListBucketResult>`)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			w.Header().Set("Content-Length", "0")
			w.Header().Set("Last-Modified", "Wed, 01 May 2024 00:00:00 GMT")
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func checkAllVerified(t *testing.T, rec *v2Recorder, minV2 int) {
	t.Helper()
	checkAllVerifiedVersion(t, rec, 2, minV2)
}

// checkAllVerifiedVersion fails for every request the server refused and
// unless at least min requests of signature version were verified.
func checkAllVerifiedVersion(t *testing.T, rec *v2Recorder, version, min int) {
	t.Helper()
	n := 0
	for _, s := range rec.all() {
		if s.err != nil {
			t.Errorf("%s %s (Host %s, Authorization %q): %v", s.method, s.uri, s.host, s.authz, s.err)
			continue
		}
		if s.res.Version == version {
			n++
		}
	}
	if n < min {
		t.Errorf("%d V%d requests verified, want at least %d", n, version, min)
	}
}

func needPython(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("interop test")
	}
	// Under CI=true a missing client fails the test instead of skipping it.
	harness.Require(t, "boto3") // boto3 brings botocore
	return harness.Require(t, "python3")
}

// botocoreScript signs with botocore's own V2 signers: HmacV1Auth for the
// requests it sends (signature_version "s3"), HmacV1QueryAuth for the URLs
// it presigns with the default configuration. It prints the presigned URLs.
const botocoreScript = `
import json, sys
import botocore.session
from botocore.config import Config
endpoint, key, secret, proxy = sys.argv[1:5]
session = botocore.session.get_session()
def client(token=None, **cfg):
    return session.create_client("s3", endpoint_url=cfg.pop("endpoint", endpoint), region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, config=Config(**cfg))
errors = []
def call(c, op, **kw):
    try:
        getattr(c, op)(**kw)
    except Exception as e:
        errors.append("%s: %s" % (op, e))
keys = ["plain.txt", "dir/a b+c.txt", "ünï/日本 (1)!.txt", "100%.txt", "semi;colon,comma=eq&at@$"]
for token in (None, "tok+en/=="):
    c = client(token, signature_version="s3", s3={"addressing_style": "path"})
    call(c, "list_buckets")
    for k in keys:
        call(c, "put_object", Bucket="bucket", Key=k, Body=b"hello", ContentType="text/plain",
             Metadata={"note": "x  y", "Multi": "1"}, ACL="private")
        call(c, "get_object", Bucket="bucket", Key=k, ResponseContentDisposition='attachment; filename="a b+c.txt"',
             ResponseContentType="text/plain; charset=utf-8", ResponseCacheControl="no-cache")
        call(c, "get_object", Bucket="bucket", Key=k, VersionId="v+1/=")
        call(c, "head_object", Bucket="bucket", Key=k, Range="bytes=0-1")
        call(c, "put_object_tagging", Bucket="bucket", Key=k, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        call(c, "upload_part", Bucket="bucket", Key=k, UploadId="up+1/=", PartNumber=2, Body=b"part")
        call(c, "restore_object", Bucket="bucket", Key=k, RestoreRequest={"Days": 1})
        call(c, "delete_object", Bucket="bucket", Key=k)
    call(c, "create_multipart_upload", Bucket="bucket", Key="mpu")
    call(c, "list_objects_v2", Bucket="bucket", Prefix="a b/", Delimiter="/")
    call(c, "get_bucket_acl", Bucket="bucket")
    call(c, "delete_objects", Bucket="bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}]})
# Virtual-hosted style through an HTTP proxy (the test server), since
# bucket.s3.test does not resolve.
c = client(signature_version="s3", s3={"addressing_style": "virtual"}, endpoint="http://s3.test",
           proxies={"http": proxy})
for k in keys:
    call(c, "put_object", Bucket="bucket", Key=k, Body=b"hello")
    call(c, "get_object", Bucket="bucket", Key=k, ResponseContentType="a/b")
call(c, "list_objects", Bucket="bucket")
urls = []
for token in (None, "tok+en/=="):
    c = client(token, s3={"addressing_style": "path"})
    for k in keys:
        urls.append(["GET", c.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": k}), {}])
        urls.append(["GET", c.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": k,
            "ResponseContentDisposition": 'attachment; filename="日本 b+c.txt"', "VersionId": "3"}, ExpiresIn=60), {}])
        urls.append(["PUT", c.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": k,
            "ContentType": "image/png", "ACL": "public-read", "Metadata": {"owner": "bob"}}), {"Content-Type": "image/png"}])
        urls.append(["PUT", c.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": k}), {}])
print(json.dumps({"urls": urls, "errors": errors}))
`

func TestInteropBotocoreV2(t *testing.T) {
	py := needPython(t)
	v := rtVerifier()
	v.VirtualHostBucket = func(host string) string {
		if b, ok := strings.CutSuffix(host, ".s3.test"); ok {
			return b
		}
		return ""
	}
	srv, rec := newInteropServer(t, v)
	out, err := exec.Command(py, "-c", botocoreScript, srv.URL, rtKey, rtSecret, srv.URL).Output()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	var got struct {
		URLs   [][]json.RawMessage
		Errors []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Errors) > 0 {
		t.Errorf("%d botocore calls failed, e.g. %.300q", len(got.Errors), strings.Join(got.Errors, "; "))
	}
	checkAllVerified(t, rec, 80)
	if !slices.ContainsFunc(rec.all(), func(s v2Seen) bool { return s.host == "bucket.s3.test" }) {
		t.Error("no virtual-hosted request seen")
	}

	presigned := 0
	for _, u := range got.URLs {
		var method, url string
		var hdr map[string]string
		if json.Unmarshal(u[0], &method) != nil || json.Unmarshal(u[1], &url) != nil || json.Unmarshal(u[2], &hdr) != nil {
			t.Fatalf("bad entry %s", u)
		}
		if !strings.Contains(url, "AWSAccessKeyId=") {
			t.Fatalf("botocore's default presign is no longer V2: %s", url)
		}
		var body io.Reader
		if method == http.MethodPut {
			body = strings.NewReader("data")
		}
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rp := send(t, req)
		expectOK(t, rp, method+" "+url)
		presigned++
	}
	if presigned != 40 {
		t.Errorf("%d presigned URLs", presigned)
	}
}

func TestInteropAWSCLIPresignV2(t *testing.T) {
	needPython(t)
	aws := harness.Require(t, "aws")
	srv, rec := newInteropServer(t, rtVerifier())
	for _, key := range []string{"plain.txt", "a b+c.txt", "ü/日本.txt"} {
		cmd := exec.Command(aws, "s3", "presign", "s3://bucket/"+key, "--endpoint-url", srv.URL, "--expires-in", "600")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+rtKey, "AWS_SECRET_ACCESS_KEY="+rtSecret,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws s3 presign: %v %s", err, out)
		}
		url := strings.TrimSpace(string(out))
		if !strings.Contains(url, "AWSAccessKeyId=") {
			t.Skipf("aws CLI presigns with SigV4 now: %s", url)
		}
		expectOK(t, send(t, newRequest(t, http.MethodGet, url, nil)), url)
	}
	checkAllVerified(t, rec, 3)
}

func TestInteropS3cmdV2(t *testing.T) {
	run, file, dir, rec := newS3cmd(t, "signature_v2 = True\n")
	run("put", "--acl-private", "--add-header=x-amz-meta-note:a  b", file, "s3://bucket/dir/a b+c ü.txt")
	run("put", file, "s3://bucket/plain.txt")
	run("ls", "s3://bucket/dir/")
	run("get", "--force", "s3://bucket/plain.txt", filepath.Join(dir, "got"))
	run("setacl", "--acl-public", "s3://bucket/plain.txt")
	run("del", "s3://bucket/plain.txt")
	url := strings.TrimSpace(run("signurl", "s3://bucket/dir/a b+c ü.txt", "+600"))
	checkAllVerified(t, rec, 5)

	if !strings.Contains(url, "AWSAccessKeyId=") {
		t.Fatalf("signurl printed %q", url)
	}
	expectOK(t, send(t, newRequest(t, http.MethodGet, url, nil)), "s3cmd signurl "+url)
}

// newS3cmd configures s3cmd (with the extra config lines given) against a
// new interop server. run runs s3cmd, logging failures (the stand-in server
// answers too little for some commands to succeed), and returns its output;
// file is a small file to upload, dir a scratch directory.
func newS3cmd(t *testing.T, config string) (run func(args ...string) string, file, dir string, rec *v2Recorder) {
	if testing.Short() {
		t.Skip("interop test")
	}
	s3cmd := harness.Require(t, "s3cmd")
	srv, rec := newInteropServer(t, rtVerifier())
	dir = t.TempDir()
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg := filepath.Join(dir, "s3cfg")
	if err := os.WriteFile(cfg, []byte("[default]\naccess_key = "+rtKey+"\nsecret_key = "+rtSecret+
		"\nhost_base = "+host+"\nhost_bucket = "+host+"\nuse_https = False\ncheck_ssl_certificate = False\n"+
		config), 0o600); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "up load.txt")
	if err := os.WriteFile(file, []byte("hello s3cmd"), 0o600); err != nil {
		t.Fatal(err)
	}
	run = func(args ...string) string {
		return runLogged(t, exec.Command(s3cmd, append([]string{"-c", cfg, "--no-progress"}, args...)...))
	}
	return run, file, dir, rec
}

// runLogged runs cmd and returns its combined output, logging a failure.
func runLogged(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}
