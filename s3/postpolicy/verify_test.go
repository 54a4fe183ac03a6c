package postpolicy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/photogate/photogate/s3/s3err"
)

// boto3Case is one form from testdata/boto3_forms.json, which
// testdata/gen_boto3.py produced with boto3's generate_presigned_post.
type boto3Case struct {
	Name   string
	Bucket string
	Fields []field
}

func loadBoto3(t testing.TB) []boto3Case {
	t.Helper()
	raw, err := os.ReadFile("testdata/boto3_forms.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
		Cases     []struct {
			Name   string
			Bucket string
			Form   json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if file.AccessKey != testAccess || file.SecretKey != testSecret {
		t.Fatalf("fixture credentials %q/%q differ from the test's", file.AccessKey, file.SecretKey)
	}
	var cases []boto3Case
	for _, c := range file.Cases {
		cases = append(cases, boto3Case{Name: c.Name, Bucket: c.Bucket, Fields: orderedFields(t, c.Form)})
	}
	return cases
}

// orderedFields decodes a JSON object of strings keeping its order, which
// is the order boto3 returned the fields in.
func orderedFields(t testing.TB, raw json.RawMessage) []field {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var fields []field
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		fields = append(fields, field{k.(string), v})
	}
	return fields
}

func fieldValue(fields []field, name string) string {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

func TestBoto3Forms(t *testing.T) {
	want := map[string]struct {
		fileName string
		key      string
		version  int
		region   string
		header   http.Header
		status   int
		length   LengthRange
	}{
		"plain":    {"cat.jpg", "2024/cat.jpg", 4, "us-east-1", http.Header{}, 204, LengthRange{}},
		"filename": {"IMG 1.jpg", "uploads/IMG 1.jpg", 4, "us-east-1", http.Header{}, 204, LengthRange{}},
		"fields": {"pic.jpg", "user/eric/pic.jpg", 4, "us-east-1", http.Header{
			"Content-Type": {"image/jpeg"}, "X-Amz-Meta-Camera": {"Fujifilm X-T5"},
			"Cache-Control": {"max-age=60"}, "X-Amz-Tagging": {"album=summer+%2B+sun"},
		}, 201, LengthRange{1, 1 << 20, true}},
		"region": {"x.txt", "b\u00e4r/\u65e5\u672c.txt", 4, "eu-west-3", http.Header{}, 204, LengthRange{}},
		"sigv2":  {"file.bin", "v2/file.bin", 2, "", http.Header{}, 204, LengthRange{}},
	}
	cases := loadBoto3(t)
	if len(cases) != len(want) {
		t.Fatalf("%d fixture cases, want %d", len(cases), len(want))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			w, ok := want[c.Name]
			if !ok {
				t.Fatalf("no expectation for case %q", c.Name)
			}
			pol, err := DecodePolicy(fieldValue(c.Fields, "policy"))
			if err != nil {
				t.Fatal(err)
			}
			now := pol.Expiration.Add(-30 * time.Second)
			body, boundary := formBody(t, c.Fields, w.fileName, []byte("jpeg bytes"))
			form, err := ReadForm(body, boundary)
			if err != nil {
				t.Fatal(err)
			}
			u, err := Verify(form, c.Bucket, testSecrets, now)
			if err != nil {
				t.Fatal(err)
			}
			if u.AccessKey != testAccess || u.SignatureVersion != w.version || u.Region != w.region ||
				u.Key != w.key || u.Bucket != c.Bucket || u.SuccessActionStatus != w.status || u.Length != w.length {
				t.Fatalf("upload %+v, want %+v", u, w)
			}
			if !headersEqual(u.Header, w.header) {
				t.Fatalf("header %v, want %v", u.Header, w.header)
			}
			got, err := io.ReadAll(u.Body)
			if err != nil || string(got) != "jpeg bytes" {
				t.Fatalf("body %q, %v", got, err)
			}

			// The same form is refused once expired, for another bucket,
			// and with any field's value changed.
			_, err = upload(t, c.Fields, w.fileName, nil, pol.Expiration)
			if c.Bucket == testBucket {
				wantCode(t, err, s3err.AccessDenied, "Invalid according to Policy: Policy expired.")
			}
			body, boundary = formBody(t, c.Fields, w.fileName, []byte("x"))
			form, err = ReadForm(body, boundary)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Verify(form, "other-bucket", testSecrets, now)
			wantCode(t, err, s3err.AccessDenied, `Policy Condition failed: ["eq", "$bucket", "`+c.Bucket+`"]`)
			for i, f := range c.Fields {
				// x-ignore-* is outside the policy, and the fixture lets the
				// camera be anything (["starts-with", "$x-amz-meta-camera", ""]).
				if strings.HasPrefix(f.name, "x-ignore-") || f.name == "x-amz-meta-camera" {
					continue
				}
				tampered := append([]field(nil), c.Fields...)
				tampered[i].value = "tampered"
				body, boundary := formBody(t, tampered, w.fileName, []byte("x"))
				form, err := ReadForm(body, boundary)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Verify(form, c.Bucket, testSecrets, now); err == nil {
					t.Errorf("field %s changed to %q: accepted", tampered[i].name, tampered[i].value)
				}
			}
		})
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if len(b[k]) != len(v) || len(v) != 1 || b[k][0] != v[0] {
			return false
		}
	}
	return true
}

// presignGo signs a POST form with the AWS SDK for Go v2.
func presignGo(t *testing.T, key string, conditions []any) map[string]string {
	t.Helper()
	client := s3.New(s3.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
		BaseEndpoint: aws.String("http://127.0.0.1:9000"),
		UsePathStyle: true,
	})
	req, err := s3.NewPresignClient(client).PresignPostObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = 10 * time.Minute
		o.Conditions = conditions
	})
	if err != nil {
		t.Fatal(err)
	}
	return req.Values
}

func TestGoSDKPresignPost(t *testing.T) {
	// The SDK's encoding/json escapes <, > and & as \u003c…, which the
	// policy parser must read back.
	tagging := "<Tagging><TagSet><Tag><Key>who</Key><Value>Tom + Jerry</Value></Tag></TagSet></Tagging>"
	values := presignGo(t, "a&b/<p.png>", []any{
		[]any{"starts-with", "$Content-Type", "image/"},
		map[string]string{"tagging": tagging},
		[]any{"content-length-range", 0, 5},
	})
	if !strings.Contains(mustDecodeB64(t, values["policy"]), `\u0026`) {
		t.Fatalf("the SDK no longer escapes '&'; this test no longer covers \\u escapes")
	}
	fields := []field{{"Content-Type", "image/png,image/gif"}, {"tagging", tagging}}
	// The SDK names its fields X-Amz-Algorithm and so on: the case must not
	// matter.
	for _, name := range []string{"key", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "policy", "X-Amz-Signature"} {
		v, ok := values[name]
		if !ok {
			t.Fatalf("the SDK's form has no %s: %v", name, values)
		}
		fields = append(fields, field{name, v})
	}
	u, err := upload(t, fields, "p.png", []byte("12345"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if u.Key != "a&b/<p.png>" || u.Header.Get("X-Amz-Tagging") != "who=Tom+%2B+Jerry" || u.Length != (LengthRange{0, 5, true}) {
		t.Fatalf("upload %+v", u)
	}
	if _, err := io.ReadAll(u.Body); err != nil {
		t.Fatal(err)
	}

	// One image type in the list breaks starts-with for all.
	fields[0].value = "image/png,text/html"
	_, err = upload(t, fields, "p.png", []byte("1"), time.Now())
	wantCode(t, err, s3err.AccessDenied, `Policy Condition failed: ["starts-with", "$content-type", "image/"]`)

	// Six bytes is one too many for the range.
	fields[0].value = "image/png"
	u, err = upload(t, fields, "p.png", []byte("123456"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(u.Body)
	wantCode(t, err, s3err.EntityTooLarge, "")
	if string(got) != "12345" {
		t.Fatalf("read %q past the maximum", got)
	}
}

// TestHelperSignerMatchesSDK keeps the tests' own signer honest: the
// negative tests below rely on it.
func TestHelperSignerMatchesSDK(t *testing.T) {
	values := presignGo(t, "k", nil)
	at, err := time.Parse("20060102T150405Z", values["X-Amz-Date"])
	if err != nil {
		t.Fatal(err)
	}
	if got := signV4(values["policy"], testSecret, at, testRegion); got != values["X-Amz-Signature"] {
		t.Fatalf("helper signature %s, SDK %s", got, values["X-Amz-Signature"])
	}
}

func mustDecodeB64(t *testing.T, s string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

var (
	signedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inPolicy = signedAt.Add(time.Minute)
)

// policyDoc is a policy expiring an hour after signedAt with the given
// conditions besides v4Form's.
func policyDoc(conditions ...string) string {
	all := append(conditions, v4Conditions(signedAt))
	return `{"expiration": "2026-03-01T13:00:00.000Z", "conditions": [` + strings.Join(all, ", ") + `]}`
}

func TestVerifyRefusals(t *testing.T) {
	keyCond := `["starts-with", "$key", "user/"]`
	base := policyDoc(`{"bucket": "photos"}`, keyCond)
	good := v4Form(base, signedAt, field{"key", "user/${filename}"})
	if _, err := upload(t, good, "a.jpg", nil, inPolicy); err != nil {
		t.Fatalf("baseline form refused: %v", err)
	}
	set := func(fields []field, name, value string) []field {
		out := append([]field(nil), fields...)
		for i := range out {
			if out[i].name == name {
				out[i].value = value
			}
		}
		return out
	}
	tests := []struct {
		name   string
		fields []field
		file   string
		now    time.Time
		code   s3err.Code
		msg    string
	}{
		{"wrong signature", set(good, "x-amz-signature", strings.Repeat("0", 64)), "a", inPolicy, s3err.SignatureDoesNotMatch, ""},
		{"signature not hex", set(good, "x-amz-signature", "zz"), "a", inPolicy, s3err.SignatureDoesNotMatch, ""},
		{"unknown key", set(good, "x-amz-credential", "NOPE/20260301/us-east-1/s3/aws4_request"), "a", inPolicy, s3err.InvalidAccessKeyID, ""},
		{"scope for another service", set(good, "x-amz-credential", testAccess+"/20260301/us-east-1/ec2/aws4_request"), "a", inPolicy, s3err.InvalidArgument, "x-amz-credential"},
		{"other algorithm", set(good, "x-amz-algorithm", "AWS4-ECDSA-P256-SHA256"), "a", inPolicy, s3err.InvalidArgument, "x-amz-algorithm"},
		{"expired", good, "a", signedAt.Add(time.Hour), s3err.AccessDenied, "Invalid according to Policy: Policy expired."},
		{"key outside prefix", set(good, "key", "admin/${filename}"), "a", inPolicy, s3err.AccessDenied, `["starts-with", "$key", "user/"]`},
		{"filename escapes prefix", v4Form(policyDoc(`{"bucket": "photos"}`, `["starts-with", "$key", "user/a"]`), signedAt, field{"key", "user/${filename}"}),
			"b.jpg", inPolicy, s3err.AccessDenied, `Policy Condition failed: ["starts-with", "$key", "user/a"]`},
		{"uncovered field", v4Form(base, signedAt, field{"key", "user/x"}, field{"Content-Type", "image/jpeg"}), "a", inPolicy,
			s3err.AccessDenied, "Invalid according to Policy: Extra input fields: content-type"},
		{"starts-with on exact-only field", v4Form(policyDoc(`["starts-with", "$bucket", "pho"]`, keyCond), signedAt, field{"key", "user/x"}),
			"a", inPolicy, s3err.AccessDenied, `["starts-with", "$bucket", "pho"]`},
		{"no key", v4Form(base, signedAt), "a", inPolicy, s3err.InvalidArgument, "'key'"},
		{"bucket field disagrees", v4Form(base, signedAt, field{"key", "user/x"}, field{"bucket", "other"}), "a", inPolicy, s3err.AccessDenied, "Invalid according to Policy"},
		{"unsupported field", v4Form(policyDoc(keyCond, `{"x-amz-storage-class": "GLACIER"}`), signedAt, field{"key", "user/x"}, field{"x-amz-storage-class", "GLACIER"}),
			"a", inPolicy, s3err.NotImplemented, "x-amz-storage-class"},
		{"public acl", v4Form(policyDoc(keyCond, `{"acl": "public-read"}`), signedAt, field{"key", "user/x"}, field{"acl", "public-read"}),
			"a", inPolicy, s3err.NotImplemented, "acl"},
		{"header injection", v4Form(policyDoc(keyCond, `["starts-with", "$x-amz-meta-a", ""]`), signedAt, field{"key", "user/x"}, field{"x-amz-meta-a", "1\r\nX-Evil: 1"}),
			"a", inPolicy, s3err.InvalidArgument, "x-amz-meta-a"},
		{"policy without signature", []field{{"key", "k"}, {"policy", "e30="}}, "a", inPolicy, s3err.InvalidArgument, "'x-amz-algorithm'"},
		{"signature without policy", []field{{"key", "k"}, {"AWSAccessKeyId", testAccess}, {"signature", "x"}}, "a", inPolicy, s3err.InvalidArgument, "'policy'"},
		{"both signatures", append(append([]field(nil), good...), field{"AWSAccessKeyId", testAccess}, field{"signature", "x"}), "a", inPolicy, s3err.InvalidArgument, "both"},
		{"bad tagging", v4Form(policyDoc(keyCond, `{"tagging": "<Tagging>"}`), signedAt, field{"key", "user/x"}, field{"tagging", "<Tagging>"}),
			"a", inPolicy, s3err.MalformedXML, ""},
		{"duplicate tag", v4Form(policyDoc(keyCond, `{"tagging": "<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>"}`), signedAt,
			field{"key", "user/x"}, field{"tagging", "<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>"}),
			"a", inPolicy, s3err.InvalidTag, ""},
		{"tag with '&'", v4Form(policyDoc(keyCond, `{"tagging": "<Tagging><TagSet><Tag><Key>a</Key><Value>b &amp; c</Value></Tag></TagSet></Tagging>"}`), signedAt,
			field{"key", "user/x"}, field{"tagging", "<Tagging><TagSet><Tag><Key>a</Key><Value>b &amp; c</Value></Tag></TagSet></Tagging>"}),
			"a", inPolicy, s3err.InvalidTag, "TagValue"},
		{"malformed policy", v4Form(`{"expiration": "2026-03-01T13:00:00Z", "conditions": [["eq", "key", "x"]]}`, signedAt, field{"key", "x"}),
			"a", inPolicy, s3err.InvalidPolicyDocument, "'$'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := upload(t, tc.fields, tc.file, nil, tc.now)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestVerifyV2Refusals(t *testing.T) {
	doc := `{"expiration": "2026-03-01T13:00:00Z", "conditions": [{"key": "k"}]}`
	b64 := base64.StdEncoding.EncodeToString([]byte(doc))
	good := []field{{"key", "k"}, {"AWSAccessKeyId", testAccess}, {"policy", b64}, {"signature", signV2(b64, testSecret)}}
	u, err := upload(t, good, "f", nil, inPolicy)
	if err != nil || u.SignatureVersion != 2 || u.AccessKey != testAccess {
		t.Fatalf("%+v, %v", u, err)
	}
	bad := append([]field(nil), good...)
	bad[3].value = signV2(b64, "wrong")
	_, err = upload(t, bad, "f", nil, inPolicy)
	wantCode(t, err, s3err.SignatureDoesNotMatch, "")
	bad[1].value = "NOPE"
	_, err = upload(t, bad, "f", nil, inPolicy)
	wantCode(t, err, s3err.InvalidAccessKeyID, "")
}

func TestAnonymousForm(t *testing.T) {
	u, err := upload(t, []field{{"key", "drop/${filename}"}, {"Content-Type", "text/plain"}, {"success_action_status", "200"},
		{"success_action_redirect", "https://example.com/done?x=1"}}, "n.txt", []byte("hi"), inPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if u.AccessKey != "" || u.SignatureVersion != 0 || u.Key != "drop/n.txt" || u.Header.Get("Content-Type") != "text/plain" ||
		u.SuccessActionStatus != 200 || u.Length.Set {
		t.Fatalf("%+v", u)
	}
	if got := u.RedirectURL(`"abc"`); got != "https://example.com/done?bucket=photos&etag=%22abc%22&key=drop%2Fn.txt&x=1" {
		t.Fatalf("redirect %s", got)
	}
}

func TestSuccessActionDefaults(t *testing.T) {
	for _, tc := range []struct {
		status, redirect string
		wantStatus       int
		wantRedirect     string
	}{
		{"", "", 204, ""},
		{"201", "", 201, ""},
		{"302", "", 204, ""},
		{"", "not a url", 204, ""},
		{"", "javascript:alert(1)", 204, ""},
		{"", "http://example.com/x", 204, "http://example.com/x"},
	} {
		fields := []field{{"key", "k"}}
		if tc.status != "" {
			fields = append(fields, field{"success_action_status", tc.status})
		}
		if tc.redirect != "" {
			fields = append(fields, field{"redirect", tc.redirect})
		}
		u, err := upload(t, fields, "f", nil, inPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if u.SuccessActionStatus != tc.wantStatus || u.SuccessActionRedirect != tc.wantRedirect {
			t.Errorf("%+v: status %d, redirect %q", tc, u.SuccessActionStatus, u.SuccessActionRedirect)
		}
	}
}
