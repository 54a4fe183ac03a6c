package postpolicy

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestAgreesWithMinIO posts the same forms to a real MinIO, which
// implements POST policy itself, and to ReadForm+Verify: both must accept
// or refuse each one, and what MinIO stores must be what Upload describes.
func TestAgreesWithMinIO(t *testing.T) {
	m := harness.StartMinIO(t)
	ctx := context.Background()
	const bucket = "postpolicy"
	if err := m.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	access, secret := m.AccessKey(), m.SecretKey()
	secrets := func(k string) (string, bool) { return secret, k == access }

	now := time.Now().UTC()
	v4 := func(doc string, extra ...field) []field {
		b64 := base64.StdEncoding.EncodeToString([]byte(doc))
		return append(append([]field(nil), extra...),
			field{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
			field{"X-Amz-Credential", access + "/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"},
			field{"X-Amz-Date", now.Format("20060102T150405Z")},
			field{"Policy", b64},
			field{"X-Amz-Signature", signV4(b64, secret, now, "us-east-1")},
		)
	}
	policy := func(expiry time.Time, conditions ...string) string {
		conditions = append(conditions, `{"bucket": "`+bucket+`"}`, `{"x-amz-algorithm": "AWS4-HMAC-SHA256"}`,
			`{"x-amz-credential": "`+access+"/"+now.Format("20060102")+`/us-east-1/s3/aws4_request"}`,
			`{"x-amz-date": "`+now.Format("20060102T150405Z")+`"}`)
		return `{"expiration": "` + expiry.Format(time.RFC3339) + `", "conditions": [` + strings.Join(conditions, ", ") + `]}`
	}
	later := now.Add(time.Hour)
	tagging := "<Tagging><TagSet><Tag><Key>album</Key><Value>a + b</Value></Tag></TagSet></Tagging>"
	rich := v4(policy(later, `["starts-with", "$key", "user/"]`, `["starts-with", "$Content-Type", "image/"]`,
		`["starts-with", "$x-amz-meta-camera", ""]`, `{"tagging": "`+strings.ReplaceAll(tagging, `"`, `\"`)+`"}`,
		`{"success_action_status": "201"}`, `["content-length-range", 1, 64]`),
		field{"key", "user/${filename}"}, field{"Content-Type", "image/jpeg"}, field{"x-amz-meta-camera", "X-T5"},
		field{"tagging", tagging}, field{"success_action_status", "201"})
	v2Doc := base64.StdEncoding.EncodeToString([]byte(`{"expiration": "` + later.Format(time.RFC3339) +
		`", "conditions": [{"bucket": "` + bucket + `"}, {"key": "v2.txt"}]}`))

	tests := []struct {
		name   string
		fields []field
		file   string
		accept bool
	}{
		{"rich form", rich, "one two.jpg", true},
		{"sigv2", []field{{"key", "v2.txt"}, {"AWSAccessKeyId", access}, {"policy", v2Doc}, {"signature", signV2(v2Doc, secret)}}, "f", true},
		{"wrong secret", resign(v4(policy(later, `{"key": "k"}`), field{"key", "k"}), "not-the-secret", now), "f", false},
		{"expired", v4(policy(now.Add(-time.Second), `{"key": "k"}`), field{"key", "k"}), "f", false},
		{"uncovered field", v4(policy(later, `{"key": "k"}`), field{"key", "k"}, field{"x-amz-meta-extra", "1"}), "f", false},
		{"key outside prefix", v4(policy(later, `["starts-with", "$key", "user/"]`), field{"key", "admin/${filename}"}), "f", false},
		{"filename leaves the prefix", v4(policy(later, `["starts-with", "$key", "user/a"]`), field{"key", "user/${filename}"}), "b", false},
		{"type outside prefix", v4(policy(later, `{"key": "k"}`, `["starts-with", "$Content-Type", "image/"]`),
			field{"key", "k"}, field{"Content-Type", "text/html"}), "f", false},
		{"too large", v4(policy(later, `{"key": "big"}`, `["content-length-range", 0, 3]`), field{"key", "big"}), "f", false},
		{"too small", v4(policy(later, `{"key": "small"}`, `["content-length-range", 100, 200]`), field{"key", "small"}), "f", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			content := []byte("0123456789")
			body, boundary := formBody(t, tc.fields, tc.file, content)
			raw, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint()+"/"+bucket, bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			resp, err := m.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			minioBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			minioAccepts := resp.StatusCode < 300

			u, ourErr := verifyAndDrain(raw, boundary, bucket, secrets)
			if minioAccepts != tc.accept || (ourErr == nil) != tc.accept {
				t.Fatalf("want accept=%v; MinIO: %d %s; ours: %v", tc.accept, resp.StatusCode, minioBody, ourErr)
			}
			if !tc.accept {
				return
			}
			if resp.StatusCode != u.SuccessActionStatus {
				t.Errorf("MinIO answered %d, Upload says %d", resp.StatusCode, u.SuccessActionStatus)
			}
			info, err := m.Client().StatObject(ctx, bucket, u.Key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("MinIO did not store %q: %v", u.Key, err)
			}
			if info.Size != int64(len(content)) {
				t.Errorf("stored %d bytes", info.Size)
			}
			if ct := u.Header.Get("Content-Type"); ct != "" && info.ContentType != ct {
				t.Errorf("MinIO stored Content-Type %q, Upload says %q", info.ContentType, ct)
			}
			for name, values := range u.Header {
				if meta, ok := strings.CutPrefix(name, "X-Amz-Meta-"); ok && info.UserMetadata[meta] != values[0] {
					t.Errorf("MinIO stored %s=%q, Upload says %q", name, info.UserMetadata[meta], values[0])
				}
			}
			if want := u.Header.Get("X-Amz-Tagging"); want != "" {
				tags, err := m.Client().GetObjectTagging(ctx, bucket, u.Key, minio.GetObjectTaggingOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := tags.String(); got != want {
					t.Errorf("MinIO stored tags %q, Upload says %q", got, want)
				}
			}
		})
	}
}

// resign replaces a v4 form's signature (its last field, after the policy)
// with one made with secret.
func resign(fields []field, secret string, at time.Time) []field {
	n := len(fields)
	fields[n-1].value = signV4(fields[n-2].value, secret, at, "us-east-1")
	return fields
}

// verifyAndDrain runs a raw form through ReadForm and Verify and reads
// the file, as the gateway would.
func verifyAndDrain(raw []byte, boundary, bucket string, secrets func(string) (string, bool)) (*Upload, error) {
	form, err := ReadForm(bytes.NewReader(raw), boundary)
	if err != nil {
		return nil, err
	}
	u, err := Verify(form, bucket, secrets, time.Now())
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, u.Body); err != nil {
		return nil, err
	}
	return u, nil
}
