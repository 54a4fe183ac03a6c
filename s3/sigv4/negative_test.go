package sigv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/s3/s3err"
)

func expectCode(t *testing.T, rp reply, code s3err.Code, msg string, what string) {
	t.Helper()
	if rp.code != string(code) || rp.status != code.Status() || msg != "" && rp.message != msg {
		t.Errorf("%s: got %d %s %q, want %d %s %q", what, rp.status, rp.code, rp.message, code.Status(), code, msg)
	}
}

func TestRejectsBadCredentialsAndTampering(t *testing.T) {
	srv := newServer(t, rtVerifier())
	now := time.Now()
	get := func(key, query string) *http.Request {
		return newRequest(t, http.MethodGet, objectURL(srv.URL, key, query), nil)
	}

	rp := send(t, awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now,
		aws.Credentials{AccessKeyID: rtKey, SecretAccessKey: "wrong"}))
	expectCode(t, rp, s3err.SignatureDoesNotMatch, "", "wrong secret")

	rp = send(t, awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now,
		aws.Credentials{AccessKeyID: "NOSUCHKEY", SecretAccessKey: rtSecret}))
	expectCode(t, rp, s3err.InvalidAccessKeyID, "", "unknown key")

	rp = send(t, awsPresign(t, get("k", ""), "60", "us-east-1", now,
		aws.Credentials{AccessKeyID: "NOSUCHKEY", SecretAccessKey: rtSecret}))
	expectCode(t, rp, s3err.InvalidAccessKeyID, "", "unknown key, presigned")

	// The other key exists; a signature made with it must not pass for rtKey.
	req := awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now,
		aws.Credentials{AccessKeyID: rtKey, SecretAccessKey: "other-secret"})
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "other key's secret")

	req = get("k", "")
	req.Header.Set("X-Amz-Meta-Foo", "a")
	req = awsSign(t, req, EmptySHA256, "us-east-1", now, rtCreds)
	req.Header.Set("X-Amz-Meta-Foo", "b")
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered header")

	req = get("k", "")
	req.Header.Set("Range", "bytes=0-9")
	req = awsSign(t, req, EmptySHA256, "us-east-1", now, rtCreds)
	req.Header.Set("Range", "bytes=0-99")
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered range")

	req = get("k", "")
	req.Header.Set("X-Amz-Meta-Foo", "a")
	req = awsSign(t, req, EmptySHA256, "us-east-1", now, rtCreds)
	req.Header.Del("X-Amz-Meta-Foo")
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "signed header removed")

	req = awsSign(t, get("k", "prefix=a"), EmptySHA256, "us-east-1", now, rtCreds)
	req.URL.RawQuery = "prefix=b"
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered query")

	req = awsSign(t, get("k", "prefix=a"), EmptySHA256, "us-east-1", now, rtCreds)
	req.URL.RawQuery += "&versionId=1"
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "added query parameter")

	req = awsSign(t, get("k", "a=1&a=2"), EmptySHA256, "us-east-1", now, rtCreds)
	req.URL.RawQuery = "a=1&a=2&a=2"
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "repeated query value")

	req = awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now, rtCreds)
	req.URL.Path, req.URL.RawPath = "/bucket/other", ""
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered path")

	req = awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now, rtCreds)
	req.Method = http.MethodDelete
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered method")

	req = awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now, rtCreds)
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered payload hash")

	req = awsSign(t, get("k", ""), EmptySHA256, "us-east-1", now, rtCreds)
	req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "Signature=", "Signature=0", 1))
	expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "65-digit signature")

	// Presigned URLs: any change to the query is a different request.
	pre := awsPresign(t, get("k", "prefix=a"), "60", "us-east-1", now, rtCreds)
	for _, tamper := range []func(string) string{
		func(q string) string { return strings.Replace(q, "X-Amz-Expires=60", "X-Amz-Expires=600", 1) },
		func(q string) string { return strings.Replace(q, "prefix=a", "prefix=b", 1) },
		func(q string) string { return q + "&versionId=1" },
	} {
		req := newRequest(t, http.MethodGet, pre.URL.String(), nil)
		req.URL.RawQuery = tamper(req.URL.RawQuery)
		expectCode(t, send(t, req), s3err.SignatureDoesNotMatch, "", "tampered presigned "+req.URL.RawQuery)
	}
}

func TestRejectsClockProblems(t *testing.T) {
	srv := newServer(t, rtVerifier())
	now := time.Now()
	get := func() *http.Request { return newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil) }

	// Dates beyond time.Duration's 292 years are skewed too: a check on
	// now.Sub(t) saturated there and let year 2400 and 9999 through.
	for _, at := range []time.Time{
		now.Add(16 * time.Minute), now.Add(-16 * time.Minute),
		time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		rp := send(t, awsSign(t, get(), EmptySHA256, "us-east-1", at, rtCreds))
		expectCode(t, rp, s3err.RequestTimeTooSkewed, "", "signed at "+at.String())
	}
	for _, d := range []time.Duration{14 * time.Minute, -14 * time.Minute} {
		expectOK(t, send(t, awsSign(t, get(), EmptySHA256, "us-east-1", now.Add(d), rtCreds)), "skew "+d.String())
	}

	rp := send(t, awsPresign(t, get(), "3600", "us-east-1", now.Add(-2*time.Hour), rtCreds))
	expectCode(t, rp, s3err.AccessDenied, "Request has expired", "expired presign")

	for _, at := range []time.Time{now.Add(20 * time.Minute), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		rp = send(t, awsPresign(t, get(), "3600", "us-east-1", at, rtCreds))
		expectCode(t, rp, s3err.AccessDenied, "Request is not valid yet", "presigned at "+at.String())
	}
	rp = send(t, awsPresign(t, get(), "3600", "us-east-1", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), rtCreds))
	expectCode(t, rp, s3err.AccessDenied, "Request has expired", "presigned in year 1000")
	rp = send(t, awsPresign(t, get(), "0", "us-east-1", now, rtCreds))
	expectCode(t, rp, s3err.AccessDenied, "Request has expired", "X-Amz-Expires=0")

	// Within the skew allowance a slightly-future URL is fine, and an old
	// signature is fine for as long as it lasts.
	expectOK(t, send(t, awsPresign(t, get(), "3600", "us-east-1", now.Add(10*time.Minute), rtCreds)), "near future")
	expectOK(t, send(t, awsPresign(t, get(), "604800", "us-east-1", now.Add(-6*24*time.Hour), rtCreds)), "six days old")

	for _, exp := range []string{"604801", "-1", "abc", "+5", "", "1e3", "99999999999999999999999"} {
		rp := send(t, awsPresign(t, get(), exp, "us-east-1", now, rtCreds))
		expectCode(t, rp, s3err.AuthorizationQueryParametersError, "", "X-Amz-Expires="+exp)
	}

	v := rtVerifier()
	v.MaxPresignExpiry = time.Hour
	v.MaxSkew = time.Minute
	srv2 := newServer(t, v)
	get2 := func() *http.Request { return newRequest(t, http.MethodGet, objectURL(srv2.URL, "k", ""), nil) }
	expectCode(t, send(t, awsPresign(t, get2(), "3601", "us-east-1", now, rtCreds)),
		s3err.AuthorizationQueryParametersError, "", "custom max expiry")
	expectOK(t, send(t, awsPresign(t, get2(), "3600", "us-east-1", now, rtCreds)), "custom max expiry")
	expectCode(t, send(t, awsSign(t, get2(), EmptySHA256, "us-east-1", now.Add(2*time.Minute), rtCreds)),
		s3err.RequestTimeTooSkewed, "", "custom skew")
}

func TestRejectsUnsupportedSchemes(t *testing.T) {
	srv := newServer(t, rtVerifier())
	get := func(query string) *http.Request {
		return newRequest(t, http.MethodGet, objectURL(srv.URL, "k", query), nil)
	}
	withAuth := func(authz string) *http.Request {
		req := get("")
		req.Header.Set("Authorization", authz)
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format(iso8601))
		return req
	}

	expectCode(t, send(t, withAuth("AWS4-ECDSA-P256-SHA256 Credential="+rtKey+"/20240101/s3/aws4_request, "+
		"SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022100")), s3err.NotImplemented, "", "SigV4a header")
	expectCode(t, send(t, get("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential="+rtKey+
		"%2F20240101%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"+
		"&X-Amz-Signature=3045")), s3err.NotImplemented, "", "SigV4a query")

	req := awsSign(t, get(""), "", "us-east-1", time.Now(), rtCreds)
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
	expectCode(t, send(t, req), s3err.NotImplemented, "", "SigV4a streaming payload")

	// Signature Version 2 used to be refused here; it is now verified (see
	// sigv2_test.go), and only V4A remains unsupported.
	v2 := signer.SignV2(*get(""), rtKey, rtSecret, false)
	expectOK(t, send(t, v2), "SigV2 header")
	v2 = signer.PreSignV2(*get(""), rtKey, rtSecret, 60, false)
	expectOK(t, send(t, newRequest(t, http.MethodGet, v2.URL.String(), nil)), "SigV2 presigned")

	expectCode(t, send(t, withAuth("Bearer abc")), s3err.InvalidArgument, "Unsupported Authorization Type", "Bearer")

	pre := awsPresign(t, get(""), "60", "us-east-1", time.Now(), rtCreds)
	both := awsSign(t, newRequest(t, http.MethodGet, pre.URL.String(), nil), "", "us-east-1", time.Now(), rtCreds)
	expectCode(t, send(t, both), s3err.InvalidArgument, "", "header and query auth")
}

func TestMalformedAuthorization(t *testing.T) {
	srv := newServer(t, rtVerifier())
	now := time.Now().UTC()
	day := now.Format(yyyymmdd)
	cred := "Credential=" + rtKey + "/" + day + "/us-east-1/s3/aws4_request"
	sig := "Signature=" + strings.Repeat("0", 64)
	hdrs := "SignedHeaders=host;x-amz-date"
	tests := []struct {
		name, authz string
		code        s3err.Code
	}{
		{"empty", "   ", s3err.AuthorizationHeaderMalformed},
		{"algorithm only", "AWS4-HMAC-SHA256", s3err.AuthorizationHeaderMalformed},
		{"missing credential", "AWS4-HMAC-SHA256 " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"missing signed headers", "AWS4-HMAC-SHA256 " + cred + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"missing signature", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs, s3err.AuthorizationHeaderMalformed},
		{"empty signature", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs + ", Signature=", s3err.AuthorizationHeaderMalformed},
		{"repeated component", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"unknown component", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs + ", " + sig + ", Foo=bar", s3err.AuthorizationHeaderMalformed},
		{"no equals", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs + ", " + sig + ", junk", s3err.AuthorizationHeaderMalformed},
		{"glued algorithm", "AWS4-HMAC-SHA256X " + cred + ", " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"short credential", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/" + day + "/us-east-1/s3, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/" + day + "/us-east-1/s3/aws4_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/" + day + "/us-east-1/s3/aws5_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"bad date", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/2024-1-1/us-east-1/s3/aws4_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"other date", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/20000101/us-east-1/s3/aws4_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"empty region", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/" + day + "//s3/aws4_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"wrong service", "AWS4-HMAC-SHA256 Credential=" + rtKey + "/" + day + "/us-east-1/ec2/aws4_request, " + hdrs + ", " + sig, s3err.AuthorizationHeaderMalformed},
		{"host not signed", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, " + sig, s3err.AuthorizationHeaderMalformed},
		{"empty signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, s3err.AuthorizationHeaderMalformed},
		{"upper-case signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;X-Amz-Date, " + sig, s3err.AuthorizationHeaderMalformed},
		{"signed header not a token", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;a b:c, " + sig, s3err.AuthorizationHeaderMalformed},
		// Well-formed, so these get as far as the signature comparison.
		{"upper-case hex signature", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs + ", Signature=" + strings.Repeat("A", 64), s3err.SignatureDoesNotMatch},
		{"short signature", "AWS4-HMAC-SHA256 " + cred + ", " + hdrs + ", Signature=abc", s3err.SignatureDoesNotMatch},
		{"flexible spacing", "  AWS4-HMAC-SHA256\t" + cred + " ,\t" + hdrs + " ,  " + sig + " ,", s3err.SignatureDoesNotMatch},
		{"reordered", "AWS4-HMAC-SHA256 " + sig + "," + hdrs + "," + cred, s3err.SignatureDoesNotMatch},
		{"spaces in signed headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders= host ; x-amz-date , " + sig, s3err.SignatureDoesNotMatch},
	}
	for _, tt := range tests {
		req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
		req.Header.Set("Authorization", tt.authz)
		req.Header.Set("X-Amz-Date", now.Format(iso8601))
		expectCode(t, send(t, req), tt.code, "", tt.name)
	}

	req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 "+cred+", "+hdrs+", "+sig)
	expectCode(t, send(t, req), s3err.AccessDenied, "AWS authentication requires a valid Date or x-amz-date header", "no date")
	req.Header.Set("X-Amz-Date", "yesterday")
	expectCode(t, send(t, req), s3err.AccessDenied, "", "bad x-amz-date")
	req.Header.Set("X-Amz-Date", now.Format(iso8601))
	req.Header.Add("Authorization", "AWS4-HMAC-SHA256 "+cred+", "+hdrs+", "+sig)
	expectCode(t, send(t, req), s3err.AuthorizationHeaderMalformed, "", "two Authorization headers")

	req = awsSign(t, newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil), "", "us-east-1", time.Now(), rtCreds)
	for _, bad := range []string{"abc", strings.Repeat("g", 64), "unsigned-payload", "STREAMING-FOO"} {
		req.Header.Set("X-Amz-Content-Sha256", bad)
		expectCode(t, send(t, req), s3err.InvalidArgument, badPayloadHash, "payload hash "+bad)
	}
}

func TestMalformedPresigned(t *testing.T) {
	srv := newServer(t, rtVerifier())
	now := time.Now().UTC()
	valid := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + rtKey + "%2F" + now.Format(yyyymmdd) +
		"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=" + now.Format(iso8601) + "&X-Amz-Expires=60" +
		"&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64)
	drop := func(name string) string {
		var kept []string
		for _, p := range strings.Split(valid, "&") {
			if !strings.HasPrefix(p, name+"=") {
				kept = append(kept, p)
			}
		}
		return strings.Join(kept, "&")
	}
	replace := func(name, value string) string {
		return drop(name) + "&" + name + "=" + value
	}
	tests := []struct {
		name, query string
		code        s3err.Code
	}{
		{"missing algorithm", drop("X-Amz-Algorithm"), s3err.AuthorizationQueryParametersError},
		{"missing credential", drop("X-Amz-Credential"), s3err.AuthorizationQueryParametersError},
		{"missing date", drop("X-Amz-Date"), s3err.AuthorizationQueryParametersError},
		{"missing expires", drop("X-Amz-Expires"), s3err.AuthorizationQueryParametersError},
		{"missing signed headers", drop("X-Amz-SignedHeaders"), s3err.AuthorizationQueryParametersError},
		{"missing signature", drop("X-Amz-Signature"), s3err.AuthorizationQueryParametersError},
		{"only algorithm", "X-Amz-Algorithm=AWS4-HMAC-SHA256", s3err.AuthorizationQueryParametersError},
		{"repeated date", valid + "&X-Amz-Date=" + now.Format(iso8601), s3err.AuthorizationQueryParametersError},
		{"other algorithm", replace("X-Amz-Algorithm", "AWS4-HMAC-SHA512"), s3err.AuthorizationQueryParametersError},
		{"bad credential", replace("X-Amz-Credential", rtKey+"%2Fjunk"), s3err.AuthorizationQueryParametersError},
		{"wrong service", replace("X-Amz-Credential", rtKey+"%2F"+now.Format(yyyymmdd)+"%2Fus-east-1%2Fiam%2Faws4_request"), s3err.AuthorizationQueryParametersError},
		{"credential date differs", replace("X-Amz-Credential", rtKey+"%2F20000101%2Fus-east-1%2Fs3%2Faws4_request"), s3err.AuthorizationQueryParametersError},
		{"bad date", replace("X-Amz-Date", "2024-01-01T00:00:00Z"), s3err.AuthorizationQueryParametersError},
		{"host not signed", replace("X-Amz-SignedHeaders", "x-amz-date"), s3err.AuthorizationQueryParametersError},
		{"empty signature", replace("X-Amz-Signature", ""), s3err.AuthorizationQueryParametersError},
		{"expires too long", replace("X-Amz-Expires", "604801"), s3err.AuthorizationQueryParametersError},
		{"unknown key", valid, s3err.InvalidAccessKeyID},
		{"wrong signature", strings.Replace(valid, rtKey, "OTHERKEY", 1), s3err.SignatureDoesNotMatch},
		{"V2 expired", "AWSAccessKeyId=" + rtKey + "&Expires=1700000000&Signature=abc%3D", s3err.AccessDenied},
		{"V2 signature only", "Signature=abc", s3err.AccessDenied},
	}
	for _, tt := range tests {
		if tt.name == "unknown key" {
			tt.query = strings.Replace(tt.query, rtKey, "NOSUCHKEY", 1)
		}
		req := newRequest(t, http.MethodGet, objectURL(srv.URL, "k", tt.query), nil)
		expectCode(t, send(t, req), tt.code, "", tt.name)
	}

	// Whoever holds the URL must not add x-amz-* headers the signer did not sign.
	pre := awsPresign(t, newRequest(t, http.MethodPut, objectURL(srv.URL, "k", ""), nil), "60", "us-east-1",
		time.Now(), rtCreds)
	pre.Header.Set("X-Amz-Acl", "public-read")
	expectCode(t, send(t, pre), s3err.AccessDenied, "There were headers present in the request which were not signed",
		"unsigned x-amz-acl")
}

// TestHeaderAuthRefusesUnsignedAmzHeaders: whoever relays a header-signed
// request must not add x-amz-* headers to it either; other headers and the
// payload hash (signed as the canonical request's last line) may ride along.
func TestHeaderAuthRefusesUnsignedAmzHeaders(t *testing.T) {
	srv := newServer(t, rtVerifier())
	sign := func(method string) *http.Request {
		req := newRequest(t, method, objectURL(srv.URL, "k", ""), nil)
		req.Header.Set("X-Amz-Meta-Owner", "alice")
		return awsSign(t, req, UnsignedPayload, "us-east-1", time.Now(), rtCreds)
	}
	if rp := send(t, sign(http.MethodPut)); rp.status != http.StatusOK {
		t.Fatalf("signed request: %d %s %s", rp.status, rp.code, rp.message)
	}
	for _, h := range []string{"X-Amz-Acl", "X-Amz-Copy-Source", "x-amz-server-side-encryption", "X-Amz-Meta-Extra",
		"X-Amz-Checksum-Crc32", "X-Amz-Tagging", "X-Amz-Security-Token"} {
		req := sign(http.MethodPut)
		req.Header[h] = []string{"x"}
		expectCode(t, send(t, req), s3err.AccessDenied,
			"There were headers present in the request which were not signed", "unsigned "+h)
	}
	req := sign(http.MethodGet)
	req.Header.Set("User-Agent", "relay/1.0")
	req.Header.Set("X-Forwarded-For", "192.0.2.1")
	if rp := send(t, req); rp.status != http.StatusOK {
		t.Errorf("unsigned non-amz headers: %d %s %s", rp.status, rp.code, rp.message)
	}

	// x-amz-content-sha256 left out of SignedHeaders is still covered.
	at := time.Now().UTC()
	r := httptest.NewRequest(http.MethodGet, "http://bucket.example.com/key", nil)
	r.Header.Set("X-Amz-Date", at.Format(iso8601))
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	signTestRequest(r, rtKey, rtSecret, "us-east-1", at.Format(iso8601), "host;x-amz-date", UnsignedPayload)
	if _, err := rtVerifier().Verify(r); err != nil {
		t.Errorf("x-amz-content-sha256 not listed: %v", err)
	}
	r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
	if _, err := rtVerifier().Verify(r); !isCode(err, "SignatureDoesNotMatch") {
		t.Errorf("x-amz-content-sha256 changed: %v", err)
	}
}

func TestAnonymous(t *testing.T) {
	v := rtVerifier()
	for _, target := range []string{"/bucket/key", "/bucket?list-type=2&prefix=a", "/?X-Amz-Date=20240101T000000Z"} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		res, err := v.Verify(r)
		if res != nil || !errors.Is(err, ErrAnonymous) {
			t.Fatalf("%s: %v, %v", target, res, err)
		}
		if e := s3err.From(err); e.Code != s3err.AccessDenied {
			t.Errorf("ErrAnonymous maps to %s", e.Code)
		}
	}
	// The sentinel must survive wrapping and stay distinct from other errors.
	if !errors.Is(errors.Join(errors.New("x"), ErrAnonymous), ErrAnonymous) ||
		errors.Is(s3err.New(s3err.AccessDenied, ""), ErrAnonymous) {
		t.Error("errors.Is misbehaves for ErrAnonymous")
	}
}

func TestNilSecretsRejects(t *testing.T) {
	srv := newServer(t, &Verifier{})
	req := awsSign(t, newRequest(t, http.MethodGet, objectURL(srv.URL, "k", ""), nil), "", "us-east-1", time.Now(), rtCreds)
	expectCode(t, send(t, req), s3err.InvalidAccessKeyID, "", "zero Verifier")
}

// TestDateHeader covers clients that send Date instead of X-Amz-Date; no SDK
// at hand does, so the signature is computed with this package's primitives
// (their correctness is established by the vectors above).
func TestDateHeader(t *testing.T) {
	at := time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)
	v := &Verifier{Secrets: staticSecrets(rtKey, rtSecret), Now: func() time.Time { return at.Add(time.Minute) }}
	r := httptest.NewRequest(http.MethodGet, "http://bucket.example.com/key?acl", nil)
	r.Header.Set("Date", at.Format(http.TimeFormat))
	signTestRequest(r, rtKey, rtSecret, "us-east-1", at.Format(iso8601), "date;host", EmptySHA256)
	res, err := v.Verify(r)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.Time.Equal(at) || res.amzDate != "20240229T131415Z" {
		t.Errorf("time %v / %q", res.Time, res.amzDate)
	}
	r.Header.Set("Date", at.Add(time.Second).Format(http.TimeFormat))
	if _, err := v.Verify(r); !isCode(err, "SignatureDoesNotMatch") {
		t.Errorf("changed Date: %v", err)
	}
	r.Header.Set("Date", "Thu, 29 Feb 2024 13:14:15 +0000")
	signTestRequest(r, rtKey, rtSecret, "us-east-1", at.Format(iso8601), "date;host", EmptySHA256)
	if _, err := v.Verify(r); err != nil {
		t.Errorf("RFC 1123 with numeric zone: %v", err)
	}
}

// signTestRequest sets an Authorization header on r computed with this
// package's own canonicalization.
func signTestRequest(r *http.Request, key, secret, region, amzDate, signed, payload string) {
	headers, err := appendCanonicalHeaders(nil, r, signed)
	if err != nil {
		panic(err)
	}
	creq := appendCanonicalRequest(nil, r.Method, canonicalURI(r.URL.Path), canonicalQuery(parseQuery(r.URL.RawQuery), "", false),
		headers, signed, payload)
	sum := sha256Sum(creq)
	scope := amzDate[:8] + "/" + region + "/s3/aws4_request"
	sig := hmacSum(signingKey(secret, amzDate[:8], region, "s3"), appendStringToSign(nil, amzDate, scope, sum))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/"+scope+", SignedHeaders="+signed+
		", Signature="+hexString(sig))
}
