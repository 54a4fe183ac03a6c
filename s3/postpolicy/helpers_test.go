package postpolicy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

const (
	testAccess = "AKIAPOSTPOLICYTEST"
	testSecret = "postpolicy/secret+key"
	testBucket = "photos"
	testRegion = "us-east-1"
)

func testSecrets(accessKey string) (string, bool) {
	if accessKey == testAccess {
		return testSecret, true
	}
	return "", false
}

// field is one form field, kept in order: S3 forms are order-sensitive.
type field struct{ name, value string }

// formBody encodes fields then a file part whose content is file, as a
// browser would, and returns the body and its boundary.
func formBody(t testing.TB, fields []field, fileName string, file []byte) (io.Reader, string) {
	t.Helper()
	prefix, boundary := formPrefix(t, fields, fileName, "image/jpeg")
	return io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(file), strings.NewReader("\r\n--"+boundary+"--\r\n")), boundary
}

// formPrefix encodes fields and the file part's header, stopping where the
// file's content starts.
func formPrefix(t testing.TB, fields []field, fileName, fileType string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="file"; filename="` + fileName + `"`}
	h["Content-Type"] = []string{fileType}
	if _, err := mw.CreatePart(h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.Boundary()
}

// signV4 signs a base64 policy as SigV4 POST does. TestHelperSignerMatchesSDK
// checks it against the AWS SDK's own signer.
func signV4(policyB64, secret string, at time.Time, region string) string {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), at.UTC().Format("20060102"))
	k = mac(k, region)
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, policyB64))
}

func signV2(policyB64, secret string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(policyB64))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// v4Form returns the fields of a SigV4-signed form over the JSON policy doc,
// signed at at; extra fields come first, as in a browser form.
func v4Form(doc string, at time.Time, extra ...field) []field {
	b64 := base64.StdEncoding.EncodeToString([]byte(doc))
	fields := append([]field(nil), extra...)
	return append(fields,
		field{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
		field{"x-amz-credential", testAccess + "/" + at.UTC().Format("20060102") + "/" + testRegion + "/s3/aws4_request"},
		field{"x-amz-date", at.UTC().Format("20060102T150405Z")},
		field{"policy", b64},
		field{"x-amz-signature", signV4(b64, testSecret, at, testRegion)},
	)
}

// v4Conditions are the conditions v4Form's own fields need.
func v4Conditions(at time.Time) string {
	return `{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "` + testAccess + "/" + at.UTC().Format("20060102") +
		"/" + testRegion + `/s3/aws4_request"}, {"x-amz-date": "` + at.UTC().Format("20060102T150405Z") + `"}`
}

// upload reads and verifies a form for testBucket at now.
func upload(t testing.TB, fields []field, fileName string, file []byte, now time.Time) (*Upload, error) {
	t.Helper()
	body, boundary := formBody(t, fields, fileName, file)
	form, err := ReadForm(body, boundary)
	if err != nil {
		return nil, err
	}
	return Verify(form, testBucket, testSecrets, now)
}

// wantCode fails t unless err carries S3 error code c (and, if msg is not
// empty, a message containing it).
func wantCode(t testing.TB, err error, c s3err.Code, msg string) {
	t.Helper()
	var e *s3err.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want S3 error %s", err, c)
	}
	if e.Code != c {
		t.Fatalf("error %v, want code %s", err, c)
	}
	if msg != "" && !strings.Contains(e.Description(), msg) {
		t.Fatalf("message %q does not contain %q", e.Description(), msg)
	}
}
