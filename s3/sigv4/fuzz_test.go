package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

// checkVerifyOutcome asserts the contract every Verify call keeps, whatever
// the input: a result or an S3 error (or ErrAnonymous), never both or neither.
func checkVerifyOutcome(t *testing.T, res *Result, err error) {
	t.Helper()
	var e *s3err.Error
	switch {
	case err == nil && res == nil:
		t.Fatal("nil result without error")
	case err != nil && res != nil:
		t.Fatalf("result %+v with error %v", res, err)
	case err != nil && !errors.As(err, &e):
		t.Fatalf("error %v does not wrap *s3err.Error", err)
	}
}

func fuzzRequest(rawQuery string, header http.Header) *http.Request {
	return &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: "/test.txt", RawQuery: rawQuery},
		Host:       "examplebucket.s3.amazonaws.com",
		RequestURI: "/test.txt?" + rawQuery,
		Header:     header,
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;" +
			"x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"  AWS4-HMAC-SHA256\tSignature=ab , SignedHeaders= host ; x-amz-date ,Credential=a/b/20130524/r/s3/aws4_request,",
		"AWS4-HMAC-SHA256 Credential=/20130524//s3/aws4_request, SignedHeaders=;;, Signature=",
		"AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, SignedHeaders=content-length;expect;host;transfer-encoding, Signature=x",
		"AWS4-HMAC-SHA256 Credential=====,,,,SignedHeaders=HOST",
		"AWS4-HMAC-SHA256",
		"AWS4-ECDSA-P256-SHA256 Credential=AK/20130524/s3/aws4_request, SignedHeaders=host, Signature=30",
		"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
		"Bearer token",
		"",
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=" + strings.Repeat("x-amz-meta-long;", 8) + "host, Signature=1",
	} {
		f.Add(s)
	}
	v := &Verifier{Secrets: staticSecrets(s3Key, s3Secret, "AK", "secret", "a/b", "s"), Now: fixedNow(s3Date)}
	f.Fuzz(func(t *testing.T, authz string) {
		a, err := parseAuthorization(authz)
		if err == nil {
			c := a.cred
			if c.accessKey == "" || c.region == "" || c.service == "" || len(c.date) != 8 || a.signature == "" {
				t.Fatalf("accepted incomplete %+v", a)
			}
			if c.scope != c.date+"/"+c.region+"/"+c.service+"/"+scopeTerm {
				t.Fatalf("scope %q does not match %+v", c.scope, c)
			}
			if !signsHeader(a.signedHeaders, "host") || strings.ContainsAny(a.signedHeaders, " \t") {
				t.Fatalf("signed headers %q", a.signedHeaders)
			}
		} else if !isCode(err, string(s3err.AuthorizationHeaderMalformed)) {
			t.Fatalf("parse error %v is not AuthorizationHeaderMalformed", err)
		}

		h := http.Header{
			"Authorization":        {authz},
			"X-Amz-Date":           {s3Date},
			"Range":                {"bytes=0-9"},
			"X-Amz-Content-Sha256": {EmptySHA256},
		}
		res, err := v.Verify(fuzzRequest("", h))
		checkVerifyOutcome(t, res, err)
	})
}

func FuzzParsePresigned(f *testing.F) {
	const doc = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	for _, s := range []string{
		doc,
		doc + "&a=&b&c=2&c=1&%E1%88%B4=%zz&x=a+b",
		doc + "&X-Amz-Date=20130524T000000Z",
		strings.Replace(doc, "86400", "604801", 1),
		strings.Replace(doc, "86400", "-1", 1),
		strings.Replace(doc, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date;host", 1),
		strings.Replace(doc, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1),
		"X-Amz-Algorithm=AWS4-HMAC-SHA256",
		"X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Signature=",
		"AWSAccessKeyId=AK&Expires=1&Signature=x",
		"&&=&==&%&+",
		"",
	} {
		f.Add(s)
	}
	v := &Verifier{Secrets: staticSecrets(s3Key, s3Secret), Now: fixedNow(s3Date)}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q := parseQuery(rawQuery)
		p, err := parsePresigned(q, DefaultMaxPresignExpiry)
		if err == nil {
			if p.expires <= 0 || p.expires > DefaultMaxPresignExpiry {
				t.Fatalf("expires %v accepted", p.expires)
			}
			if p.signature == "" || p.cred.accessKey == "" || !signsHeader(p.signedHeaders, "host") {
				t.Fatalf("accepted incomplete %+v", p)
			}
			if p.time.Format(iso8601) != p.amzDate {
				t.Fatalf("X-Amz-Date %q parsed as %v", p.amzDate, p.time)
			}
		} else if !isCode(err, string(s3err.AuthorizationQueryParametersError)) && !isCode(err, string(s3err.NotImplemented)) &&
			!isCode(err, string(s3err.AccessDenied)) { // X-Amz-Expires=0: expired on arrival
			t.Fatalf("parse error %v", err)
		}

		// Canonicalization must be total: any query encodes, and the
		// two orders contain the same parameters.
		a, b := canonicalQuery(q, "", false), canonicalQuery(q, "", true)
		if len(a) != len(b) {
			t.Fatalf("canonical query orders differ in length: %q vs %q", a, b)
		}

		res, err := v.Verify(fuzzRequest(rawQuery, http.Header{}))
		if !errors.Is(err, ErrAnonymous) {
			checkVerifyOutcome(t, res, err)
		}
	})
}

// The presigned example must keep verifying at every point of its lifetime
// and not a second beyond; a sanity check for the fuzz seed.
func TestFuzzSeedVerifies(t *testing.T) {
	v := &Verifier{Secrets: staticSecrets(s3Key, s3Secret), Now: fixedNow(s3Date)}
	const doc = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	for _, d := range []time.Duration{-15 * time.Minute, 0, 12 * time.Hour, 24 * time.Hour} {
		v.Now = func() time.Time { return time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC).Add(d) }
		if _, err := v.Verify(fuzzRequest(doc, http.Header{})); err != nil {
			t.Errorf("at %v: %v", d, err)
		}
	}
}

// FuzzSignedHeaderSet adds one header to a request signed with and without
// it in SignedHeaders: an x-amz-* header must be signed to pass, any other
// header may ride along unsigned, and one occurrence of any header is never
// a repeated header.
func FuzzSignedHeaderSet(f *testing.F) {
	for _, name := range []string{"X-Amz-Acl", "x-amz-meta-a", "X-AMZ-COPY-SOURCE", "x-amz-", "X-Amz-Checksum-Crc32",
		"Content-Type", "Range", "X-Amzn-Trace-Id", "x_amz_acl", "X-Amz-Meta-Ü", "Content-MD5"} {
		f.Add(name, "v  a", true)
		f.Add(name, "", false)
	}
	v := &Verifier{Secrets: staticSecrets(s3Key, s3Secret), Now: fixedNow(s3Date)}
	f.Fuzz(func(t *testing.T, name, value string, listed bool) {
		lower := strings.ToLower(name)
		switch lower {
		case "host", "authorization", "x-amz-date", "x-amz-content-sha256", "content-length", "transfer-encoding", "expect":
			return // the request's own headers, covered elsewhere
		}
		if !isToken(name) || !isFieldValue(value) {
			return // net/http would not deliver it
		}
		h := http.Header{"X-Amz-Date": {s3Date}}
		h.Set(name, value)
		if err := CheckSingleValuedHeaders(h); err != nil {
			t.Fatalf("%s once: %v", name, err)
		}
		signed := "host;x-amz-date"
		if listed {
			signed += ";" + lower
		}
		r := fuzzRequest("", h)
		signTestRequest(r, s3Key, s3Secret, "us-east-1", s3Date, signed, EmptySHA256)
		res, err := v.Verify(r)
		checkVerifyOutcome(t, res, err)
		switch {
		case hasAmzPrefix(name) && !listed:
			if !isCodeMsg(err, "AccessDenied", "There were headers present in the request which were not signed") {
				t.Fatalf("unsigned %s: %v", name, err)
			}
		case err != nil:
			t.Fatalf("%s (listed %v): %v", name, listed, err)
		}
	})
}
