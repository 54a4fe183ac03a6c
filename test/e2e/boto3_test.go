package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// boto3Script holds the boto3 scenarios. Each prints one JSON object with
// what it observed; the Go side asserts, so the expectations live in one
// language. The client uses boto3's default configuration apart from
// path-style addressing, so the 2025 default checksum behaviour applies.
const boto3Script = `
import base64, hashlib, json, os, sys, urllib.request, zlib
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

endpoint, bucket, scenario, datafile = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
data = open(datafile, "rb").read()

def sha(b):
    return hashlib.sha256(b).hexdigest()

def err_code(fn):
    try:
        fn()
    except s3.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200

out = {}
s3.create_bucket(Bucket=bucket)

if scenario == "basic":
    put = s3.put_object(Bucket=bucket, Key="photo.jpg", Body=data, ContentType="image/jpeg",
                        Metadata={"camera": "X100V"})
    out["put_etag"] = put["ETag"]
    got = s3.get_object(Bucket=bucket, Key="photo.jpg")
    out["get_sha"] = sha(got["Body"].read())
    out["get_content_type"] = got["ContentType"]
    head = s3.head_object(Bucket=bucket, Key="photo.jpg")
    out["head_length"] = head["ContentLength"]
    out["head_etag"] = head["ETag"]
    out["head_meta"] = head["Metadata"]
    s3.delete_object(Bucket=bucket, Key="photo.jpg")
    out["head_after_delete"] = err_code(lambda: s3.head_object(Bucket=bucket, Key="photo.jpg"))

elif scenario == "multipart":
    key = "burst/multipart.raw"
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")
    part_size = 5 * 1024 * 1024
    parts = []
    for i, off in enumerate(range(0, len(data), part_size)):
        chunk = data[off:off + part_size]
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=mpu["UploadId"], PartNumber=i + 1,
                           Body=chunk, ChecksumAlgorithm="CRC32")
        want = base64.b64encode((zlib.crc32(chunk) & 0xffffffff).to_bytes(4, "big")).decode()
        if r.get("ChecksumCRC32") != want:
            out.setdefault("part_checksum_errors", []).append([i + 1, r.get("ChecksumCRC32"), want])
        parts.append({"ETag": r["ETag"], "PartNumber": i + 1, "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu["UploadId"],
                                        MultipartUpload={"Parts": parts})
    out["parts"] = len(parts)
    out["complete_etag"] = done["ETag"]
    out["complete_checksum"] = done.get("ChecksumCRC32", "")
    got = s3.get_object(Bucket=bucket, Key=key)
    out["get_sha"] = sha(got["Body"].read())
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    out["head_length"] = head["ContentLength"]
    out["head_checksum"] = head.get("ChecksumCRC32", "")
    out["uploads_left"] = len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

elif scenario == "presign":
    # Default config presigns with legacy SigV2 query auth (AWSAccessKeyId,
    # Signature, Expires) even in 2025; s3v4 is what most apps configure.
    # Both must work unchanged through the gateway.
    v4 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    for name, client in (("default", s3), ("s3v4", v4)):
        key = "shared/%s.jpg" % name
        put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        res = {"sig": "v4" if "X-Amz-Signature=" in put_url else "v2"}
        # urllib would add "Content-Type: application/x-www-form-urlencoded",
        # which SigV2 signs; a presigned PUT without a type sends none.
        req = urllib.request.Request(put_url, data=data, method="PUT", headers={"Content-Type": ""})
        try:
            with urllib.request.urlopen(req) as r:
                res["put_status"] = r.status
        except urllib.error.HTTPError as e:
            res["put_status"] = e.code
            res["put_error"] = e.read().decode(errors="replace")
        get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        try:
            with urllib.request.urlopen(get_url) as r:
                res["get_status"] = r.status
                res["get_sha"] = sha(r.read())
        except urllib.error.HTTPError as e:
            res["get_status"] = e.code
            res["get_error"] = e.read().decode(errors="replace")
        out.setdefault("presign", {})[name] = res

elif scenario == "many":
    keys = ["many/%04d.jpg" % i for i in range(1000)]
    def put(k):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(put, keys))
    listed, pages, token = [], 0, None
    while True:
        kw = {"Bucket": bucket, "Prefix": "many/", "MaxKeys": 100}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        pages += 1
        out.setdefault("page_sizes", []).append(page.get("KeyCount", 0))
        listed += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
        if pages > 20:
            break
    out["pages"] = pages
    out["listed_in_order"] = listed == keys
    out["listed"] = len(listed)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    out["deleted"] = len(resp.get("Deleted", []))
    out["delete_errors"] = resp.get("Errors", [])
    out["left"] = s3.list_objects_v2(Bucket=bucket, Prefix="many/").get("KeyCount", 0)

print(json.dumps(out))
`

// boto3Result is the union of what the scenarios report.
type boto3Result struct {
	PutETag            string                  `json:"put_etag"`
	GetSHA             string                  `json:"get_sha"`
	GetContentType     string                  `json:"get_content_type"`
	HeadLength         int64                   `json:"head_length"`
	HeadETag           string                  `json:"head_etag"`
	HeadMeta           map[string]string       `json:"head_meta"`
	HeadAfterDelete    []any                   `json:"head_after_delete"`
	Parts              int                     `json:"parts"`
	PartChecksumErrors [][]any                 `json:"part_checksum_errors"`
	CompleteChecksum   string                  `json:"complete_checksum"`
	HeadChecksum       string                  `json:"head_checksum"`
	UploadsLeft        int                     `json:"uploads_left"`
	Presign            map[string]boto3Presign `json:"presign"`
	Pages              int                     `json:"pages"`
	PageSizes          []int                   `json:"page_sizes"`
	ListedInOrder      bool                    `json:"listed_in_order"`
	Listed             int                     `json:"listed"`
	Deleted            int                     `json:"deleted"`
	DeleteErrors       []any                   `json:"delete_errors"`
	Left               int                     `json:"left"`
}

// boto3Presign is what the presign scenario saw for one signer config.
type boto3Presign struct {
	Sig       string `json:"sig"` // "v2" or "v4": what boto3 generated
	PutStatus int    `json:"put_status"`
	PutError  string `json:"put_error"`
	GetStatus int    `json:"get_status"`
	GetError  string `json:"get_error"`
	GetSHA    string `json:"get_sha"`
}

// runBoto3 runs one scenario of boto3Script against endpoint with a fresh
// HOME and the target's keys in the environment; caBundle, if set, is the
// PEM file to trust for HTTPS.
func runBoto3(t *testing.T, tg *target, endpoint, caBundle, bucket, scenario, datafile string) boto3Result {
	t.Helper()
	out := runPythonBoto3(t, tg, boto3Script, caBundle, endpoint, bucket, scenario, datafile)
	var r boto3Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("boto3 %s printed %q: %v", scenario, out, err)
	}
	return r
}

// runPythonBoto3 runs a Python script with the interpreter boto3 is
// installed for, with args, a fresh HOME, no shared AWS config and the
// target's keys in the environment, and returns what it printed. caBundle,
// if set, is the PEM file boto3 trusts for HTTPS.
func runPythonBoto3(t *testing.T, tg *target, script, caBundle string, args ...string) string {
	t.Helper()
	py := harness.Require(t, "boto3")
	home := t.TempDir()
	path := filepath.Join(home, "script.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	env := harness.ClientEnv(home,
		"AWS_ACCESS_KEY_ID="+tg.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+tg.SecretKey,
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"),
	)
	if caBundle != "" {
		// boto3 reads the CA bundle from here; urllib (presigned URLs)
		// would need its own, but presigning runs over HTTP only.
		env = append(env, "AWS_CA_BUNDLE="+caBundle)
	}
	return runCmd(t, env, py, append([]string{path}, args...)...)
}

// TestBoto3 drives boto3 through the gateway over plain HTTP.
func TestBoto3(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	harness.Require(t, "boto3")

	t.Run("put-get-head-delete", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-basic")
		tg.dumpLogsOnFailure(t, bucket)
		path, sum := harness.WriteRandomFile(t, t.TempDir(), "photo.jpg", 2<<20+123)
		r := runBoto3(t, tg, tg.Endpoint, "", bucket, "basic", path)
		if r.GetSHA != sum {
			t.Errorf("get_object sha256 %s, want %s", r.GetSHA, sum)
		}
		if r.HeadLength != 2<<20+123 || r.HeadETag != r.PutETag || r.PutETag == "" {
			t.Errorf("head_object: length %d etag %s, want %d and put's etag %s", r.HeadLength, r.HeadETag, 2<<20+123, r.PutETag)
		}
		if r.GetContentType != "image/jpeg" || r.HeadMeta["camera"] != "X100V" {
			t.Errorf("content type %q, metadata %v: want image/jpeg and camera=X100V", r.GetContentType, r.HeadMeta)
		}
		if len(r.HeadAfterDelete) != 2 || r.HeadAfterDelete[1] != float64(404) {
			t.Errorf("head_object after delete_object: %v, want a 404", r.HeadAfterDelete)
		}
		tg.assertBackendMissing(t, bucket, "photo.jpg")
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("multipart-crc32", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-mpu")
		tg.dumpLogsOnFailure(t, bucket)
		const size = 11<<20 + 7 // three parts: 5 MiB, 5 MiB, 1 MiB + 7
		path, sum := harness.WriteRandomFile(t, t.TempDir(), "multipart.raw", size)
		r := runBoto3(t, tg, tg.Endpoint, "", bucket, "multipart", path)
		checkBoto3Multipart(t, r, sum, size)
		tg.assertBackendObject(t, bucket, "burst/multipart.raw", sum, size)
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("presigned-put-get", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-presign")
		tg.dumpLogsOnFailure(t, bucket)
		path, sum := harness.WriteRandomFile(t, t.TempDir(), "pic.jpg", 700_001)
		r := runBoto3(t, tg, tg.Endpoint, "", bucket, "presign", path)
		for _, name := range []string{"default", "s3v4"} {
			p := r.Presign[name]
			t.Logf("boto3 %s config presigns with Sig%s", name, strings.ToUpper(p.Sig))
			if p.PutStatus != 200 || p.GetStatus != 200 || p.GetSHA != sum {
				t.Errorf("%s (Sig%s) presigned PUT %d %s, GET %d %s sha256 %s; want 200, 200, %s",
					name, strings.ToUpper(p.Sig), p.PutStatus, p.PutError, p.GetStatus, p.GetError, p.GetSHA, sum)
				continue
			}
			tg.assertBackendObject(t, bucket, "shared/"+name+".jpg", sum, 700_001)
		}
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("1000-keys-list-and-delete", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-many")
		tg.dumpLogsOnFailure(t, bucket)
		path, _ := harness.WriteRandomFile(t, t.TempDir(), "unused", 0)
		r := runBoto3(t, tg, tg.Endpoint, "", bucket, "many", path)
		// Ten full pages; MinIO (and so the gateway) may add an empty
		// eleventh page because it reports IsTruncated on the tenth.
		sizes := r.PageSizes
		if len(sizes) == 11 && sizes[10] == 0 {
			sizes = sizes[:10]
		}
		fullPages := len(sizes) == 10 && !slices.ContainsFunc(sizes, func(n int) bool { return n != 100 })
		if !fullPages || r.Listed != 1000 || !r.ListedInOrder {
			t.Errorf("list_objects_v2 MaxKeys=100: %d pages (sizes %v), %d keys, in order %v; want 10 pages of 100, 1000 keys in order",
				r.Pages, r.PageSizes, r.Listed, r.ListedInOrder)
		}
		if r.Deleted != 1000 || len(r.DeleteErrors) > 0 || r.Left != 0 {
			t.Errorf("delete_objects of 1000 keys: %d deleted, errors %v, %d left; want 1000, none, 0", r.Deleted, r.DeleteErrors, r.Left)
		}
		tg.assertBackendEmpty(t, bucket, "")
		tg.checkBucketLogs(t, bucket)
	})
}

// TestBoto3HTTPS drives boto3, with default settings and told to trust the
// test CA through AWS_CA_BUNDLE, at the gateway's own HTTPS listener, where
// it streams aws-chunked bodies with CRC32 trailers for single and
// multipart uploads; photogate's log must show that for every upload.
func TestBoto3HTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	harness.Require(t, "boto3")

	t.Run("put-get-head-delete", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-tls")
		tg.dumpLogsOnFailure(t, bucket)
		path, sum := harness.WriteRandomFile(t, t.TempDir(), "photo.jpg", 3<<20+5)
		r := runBoto3(t, tg, tg.Endpoint, tg.CAFile, bucket, "basic", path)
		if r.GetSHA != sum || r.HeadLength != 3<<20+5 {
			t.Errorf("basic over HTTPS: sha256 %s length %d, want %s %d", r.GetSHA, r.HeadLength, sum, 3<<20+5)
		}
		if r.GetContentType != "image/jpeg" || r.HeadMeta["camera"] != "X100V" {
			t.Errorf("content type %q, metadata %v: want image/jpeg and camera=X100V", r.GetContentType, r.HeadMeta)
		}
		tg.assertBackendMissing(t, bucket, "photo.jpg") // the scenario deletes it
		tg.checkUploadModes(t, "boto3 put_object", bucket, 1, unsignedTrailerCRC32, unsignedTrailerCRC64NVME)
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("multipart-crc32", func(t *testing.T) {
		t.Parallel()
		bucket := harness.BucketName("boto3-tls-mpu")
		tg.dumpLogsOnFailure(t, bucket)
		const size = 11<<20 + 7
		path, sum := harness.WriteRandomFile(t, t.TempDir(), "multipart.raw", size)
		r := runBoto3(t, tg, tg.Endpoint, tg.CAFile, bucket, "multipart", path)
		checkBoto3Multipart(t, r, sum, size)
		tg.assertBackendObject(t, bucket, "burst/multipart.raw", sum, size)
		// The scenario asks for CRC32 explicitly (ChecksumAlgorithm), so
		// only CRC32 trailers are right here.
		tg.checkUploadModes(t, "boto3 upload_part", bucket, 3, unsignedTrailerCRC32)
		tg.checkBucketLogs(t, bucket)
	})
}

func checkBoto3Multipart(t *testing.T, r boto3Result, sum string, size int64) {
	t.Helper()
	if r.Parts != 3 || len(r.PartChecksumErrors) > 0 {
		t.Errorf("upload_part: %d parts, checksum errors %v; want 3 parts with their CRC32 echoed", r.Parts, r.PartChecksumErrors)
	}
	if r.GetSHA != sum || r.HeadLength != size {
		t.Errorf("multipart object: sha256 %s length %d, want %s %d", r.GetSHA, r.HeadLength, sum, size)
	}
	if r.CompleteChecksum == "" || r.HeadChecksum == "" {
		t.Errorf("CRC32 of the completed upload: complete %q, head %q; want both set", r.CompleteChecksum, r.HeadChecksum)
	}
	if r.UploadsLeft != 0 {
		t.Errorf("%d multipart uploads left open after complete", r.UploadsLeft)
	}
}
