package sigv4

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// The SigV4 interop tests drive real clients with their own signers against
// checkAndVerify: every request they send must pass, which shows that none
// of them sends an x-amz-* header it does not sign (flexible checksums,
// SSE, ACLs, metadata, copies, multipart and tagging included) nor repeats
// a single-valued header.

const botocoreV4Script = `
import sys
import botocore.session
from botocore.config import Config
endpoint, key, secret = sys.argv[1:4]
session = botocore.session.get_session()
errors = []
def call(c, op, **kw):
    try:
        getattr(c, op)(**kw)
    except Exception as e:
        errors.append("%s: %s" % (op, e))
for token, checksums in ((None, "when_supported"), ("tok+en/==", "when_required")):
    c = session.create_client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token, config=Config(signature_version="s3v4",
        s3={"addressing_style": "path"}, request_checksum_calculation=checksums))
    for k in ["plain.txt", "dir/a b+c.txt", "ünï/日本 (1)!.txt"]:
        call(c, "put_object", Bucket="bucket", Key=k, Body=b"hello", ContentType="text/plain", ACL="private",
             Metadata={"note": "x  y"}, ServerSideEncryption="AES256", StorageClass="STANDARD",
             Tagging="a=b&c=d", CacheControl="no-cache")
        call(c, "put_object", Bucket="bucket", Key=k, Body=b"hello", ChecksumAlgorithm="SHA256")
        call(c, "put_object", Bucket="bucket", Key=k, Body=b"hello", ChecksumCRC32="NhCmhg==")
        call(c, "get_object", Bucket="bucket", Key=k, Range="bytes=0-1", ChecksumMode="ENABLED",
             ResponseContentDisposition="attachment")
        call(c, "head_object", Bucket="bucket", Key=k)
        call(c, "copy_object", Bucket="bucket", Key=k + ".copy", CopySource={"Bucket": "bucket", "Key": k},
             MetadataDirective="REPLACE", TaggingDirective="COPY", Metadata={"x": "y"})
        call(c, "put_object_tagging", Bucket="bucket", Key=k, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        call(c, "create_multipart_upload", Bucket="bucket", Key=k, ChecksumAlgorithm="CRC32")
        call(c, "upload_part", Bucket="bucket", Key=k, UploadId="up1", PartNumber=1, Body=b"part",
             ChecksumAlgorithm="CRC32")
        call(c, "upload_part_copy", Bucket="bucket", Key=k, UploadId="up1", PartNumber=2,
             CopySource={"Bucket": "bucket", "Key": k}, CopySourceRange="bytes=0-1")
        call(c, "delete_object", Bucket="bucket", Key=k)
    call(c, "delete_objects", Bucket="bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}], "Quiet": True})
    call(c, "list_objects_v2", Bucket="bucket", Prefix="a b/", Delimiter="/")
    call(c, "get_bucket_acl", Bucket="bucket", ExpectedBucketOwner="123456789012")
for e in errors:
    print(e)
`

func TestInteropBotocoreV4(t *testing.T) {
	py := needPython(t)
	srv, rec := newInteropServer(t, rtVerifier())
	out, err := exec.Command(py, "-c", botocoreV4Script, srv.URL, rtKey, rtSecret).CombinedOutput()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	// The stand-in server answers too little for some calls to parse; only
	// what Verify made of each request is under test.
	t.Logf("botocore errors (responses, not auth): %s", out)
	checkAllVerifiedVersion(t, rec, 4, 60)
}

func TestInteropAWSCLIV4(t *testing.T) {
	needPython(t)
	aws := harness.Require(t, "aws")
	srv, rec := newInteropServer(t, rtVerifier())
	dir := t.TempDir()
	file := filepath.Join(dir, "up load.txt")
	if err := os.WriteFile(file, []byte(strings.Repeat("x", 9<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"s3", "cp", file, "s3://bucket/big file.bin", "--sse", "AES256", "--acl", "private", "--metadata", "a=b"},
		{"s3api", "put-object", "--bucket", "bucket", "--key", "k", "--body", file, "--checksum-algorithm", "SHA1",
			"--tagging", "a=b"},
		{"s3api", "get-object", "--bucket", "bucket", "--key", "k", "--range", "bytes=0-1", filepath.Join(dir, "out")},
	} {
		cmd := exec.Command(aws, append(args, "--endpoint-url", srv.URL)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+rtKey, "AWS_SECRET_ACCESS_KEY="+rtSecret,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		runLogged(t, cmd)
	}
	checkAllVerifiedVersion(t, rec, 4, 4)
}

func TestInteropS3cmdV4(t *testing.T) {
	run, file, dir, rec := newS3cmd(t, "signature_v2 = False\nbucket_location = us-east-1\n")
	run("put", "--acl-private", "--server-side-encryption", "--add-header=x-amz-meta-note:a b", file, "s3://bucket/dir/a b+c ü.txt")
	run("put", "--storage-class=STANDARD", file, "s3://bucket/plain.txt")
	run("ls", "s3://bucket/dir/")
	run("get", "--force", "s3://bucket/plain.txt", filepath.Join(dir, "got"))
	run("setacl", "--acl-public", "s3://bucket/plain.txt")
	run("del", "s3://bucket/plain.txt")
	checkAllVerifiedVersion(t, rec, 4, 6)
}

func TestInteropRcloneV4(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	rclone := harness.Require(t, "rclone")
	srv, rec := newInteropServer(t, rtVerifier())
	dir := t.TempDir()
	file := filepath.Join(dir, "up load.txt")
	if err := os.WriteFile(file, []byte("hello rclone"), 0o600); err != nil {
		t.Fatal(err)
	}
	// rclone's AWS SDK refuses AWS_CA_BUNDLE with its own transport; the
	// test server is plain HTTP anyway.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
	env = append(env, "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_GW_TYPE=s3", "RCLONE_CONFIG_GW_PROVIDER=Other",
		"RCLONE_CONFIG_GW_ACCESS_KEY_ID="+rtKey, "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY="+rtSecret,
		"RCLONE_CONFIG_GW_ENDPOINT="+srv.URL, "RCLONE_CONFIG_GW_REGION=us-east-1")
	for _, args := range [][]string{
		{"copyto", "--s3-no-check-bucket", "--metadata", "--metadata-set", "note=x", file, "gw:bucket/dir/a b.txt"},
		{"lsf", "gw:bucket/dir/"},
		{"copyto", "gw:bucket/dir/a b.txt", filepath.Join(dir, "got")},
		{"deletefile", "gw:bucket/dir/a b.txt"},
	} {
		cmd := exec.Command(rclone, append(args, "--retries", "1", "--low-level-retries", "1")...)
		cmd.Env = env
		runLogged(t, cmd)
	}
	checkAllVerifiedVersion(t, rec, 4, 4)
}
