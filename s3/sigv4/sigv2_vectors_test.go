package sigv4

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The examples of "Signing and authenticating REST requests (AWS signature
// version 2)" in the Amazon S3 documentation (awsdocs/amazon-s3-developer-
// guide, doc_source/RESTAuthentication.md).
//
// The current page names the example bucket "awsexamplebucket1" (and adds
// regions to the hosts), but its printed signatures were computed when the
// bucket was "johnsmith", as in earlier editions of the guide: with
// "/johnsmith/…" every printed StringToSign reproduces its printed signature,
// with "/awsexamplebucket1/…" none does (TestS3DocV2RenamedBucket). The
// requests below therefore use the original names.
const (
	v2DocKey    = "AKIAIOSFODNN7EXAMPLE"
	v2DocSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// docVirtualHost resolves buckets the way S3 did for these examples:
// <bucket>.s3.amazonaws.com is virtual-hosted, s3.amazonaws.com path-style,
// and any other host is a CNAME whose whole name is the bucket.
func docVirtualHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	switch {
	case host == "s3.amazonaws.com":
		return ""
	case strings.HasSuffix(host, ".s3.amazonaws.com"):
		return strings.TrimSuffix(host, ".s3.amazonaws.com")
	}
	return host
}

type v2DocVector struct {
	name string
	raw  string // the request, '\n' line ends
	sts  string // the printed StringToSign
	sig  string // the printed signature
	at   string // the request time (RFC 1123 with numeric zone)
}

var v2DocVectors = []v2DocVector{
	{
		name: "Object GET",
		raw: "GET /photos/puppy.jpg HTTP/1.1\nHost: johnsmith.s3.amazonaws.com\nDate: Tue, 27 Mar 2007 19:36:42 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
		sts: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
		sig: "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
		at:  "Tue, 27 Mar 2007 19:36:42 +0000",
	},
	{
		name: "Object PUT",
		raw: "PUT /photos/puppy.jpg HTTP/1.1\nContent-Type: image/jpeg\nContent-Length: 94328\n" +
			"Host: johnsmith.s3.amazonaws.com\nDate: Tue, 27 Mar 2007 21:15:45 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg=",
		sts: "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg",
		sig: "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
		at:  "Tue, 27 Mar 2007 21:15:45 +0000",
	},
	{
		name: "List",
		raw: "GET /?prefix=photos&max-keys=50&marker=puppy HTTP/1.1\nUser-Agent: Mozilla/5.0\n" +
			"Host: johnsmith.s3.amazonaws.com\nDate: Tue, 27 Mar 2007 19:42:41 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U=",
		sts: "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/",
		sig: "htDYFYduRNen8P9ZfE/s9SuKy0U=",
		at:  "Tue, 27 Mar 2007 19:42:41 +0000",
	},
	{
		name: "Fetch",
		raw: "GET /?acl HTTP/1.1\nHost: johnsmith.s3.amazonaws.com\nDate: Tue, 27 Mar 2007 19:44:46 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:c2WLPFtWHVgbEmeEG93a4cG37dM=",
		sts: "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl",
		sig: "c2WLPFtWHVgbEmeEG93a4cG37dM=",
		at:  "Tue, 27 Mar 2007 19:44:46 +0000",
	},
	{
		// The text says a request with x-amz-date signs an empty Date; the
		// example instead signs the x-amz-date value in the Date position and
		// leaves x-amz-date out of the amz headers. Both are accepted.
		name: "Delete",
		raw: "DELETE /johnsmith/photos/puppy.jpg HTTP/1.1\nUser-Agent: dotnet\nHost: s3.amazonaws.com\n" +
			"Date: Tue, 27 Mar 2007 21:20:27 +0000\nx-amz-date: Tue, 27 Mar 2007 21:20:26 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:lx3byBScXR6KzyMaifNkardMwNk=",
		sts: "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg",
		sig: "lx3byBScXR6KzyMaifNkardMwNk=",
		at:  "Tue, 27 Mar 2007 21:20:26 +0000",
	},
	{
		name: "Upload",
		raw: "PUT /db-backup.dat.gz HTTP/1.1\nUser-Agent: curl/7.15.5\nHost: static.johnsmith.net:8080\n" +
			"Date: Tue, 27 Mar 2007 21:06:08 +0000\nx-amz-acl: public-read\ncontent-type: application/x-download\n" +
			"Content-MD5: 4gJE4saaMU4BqNR0kLY+lw==\nX-Amz-Meta-ReviewedBy: joe@johnsmith.net\n" +
			"X-Amz-Meta-ReviewedBy: jane@johnsmith.net\nX-Amz-Meta-FileChecksum: 0x02661779\n" +
			"X-Amz-Meta-ChecksumAlgorithm: crc32\nContent-Disposition: attachment; filename=database.dat\n" +
			"Content-Encoding: gzip\nContent-Length: 5913339\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:ilyl83RwaSoYIEdixDQcA4OnAnc=",
		sts: "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
			"x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
			"x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz",
		sig: "ilyl83RwaSoYIEdixDQcA4OnAnc=",
		at:  "Tue, 27 Mar 2007 21:06:08 +0000",
	},
	{
		name: "List all my buckets",
		raw: "GET / HTTP/1.1\nHost: s3.amazonaws.com\nDate: Wed, 28 Mar 2007 01:29:59 +0000\n" +
			"Authorization: AWS AKIAIOSFODNN7EXAMPLE:qGdzdERIC03wnaRNKh6OqZehG9s=",
		sts: "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/",
		sig: "qGdzdERIC03wnaRNKh6OqZehG9s=",
		at:  "Wed, 28 Mar 2007 01:29:59 +0000",
	},
	{
		// Signed literally as sent, lower-case escapes included.
		name: "Unicode keys",
		raw: "GET /dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re HTTP/1.1\nHost: s3.amazonaws.com\n" +
			"Date: Wed, 28 Mar 2007 01:49:49 +0000\nAuthorization: AWS AKIAIOSFODNN7EXAMPLE:DNEZGsoieTZ92F3bUfSPQcbGmlM=",
		sts: "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
		sig: "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
		at:  "Wed, 28 Mar 2007 01:49:49 +0000",
	},
	{
		name: "Query string request authentication",
		raw: "GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D" +
			"&Expires=1175139620 HTTP/1.1\nHost: johnsmith.s3.amazonaws.com",
		sts: "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg",
		sig: "NpgCjnDzrM+WFzoENXmpNDUsSn8=",
		at:  "Wed, 28 Mar 2007 12:00:00 +0000",
	},
}

// v2Candidates lists every string to sign Verify would try for r.
func v2Candidates(t *testing.T, v *Verifier, r *http.Request) []string {
	t.Helper()
	query := parseQuery(r.URL.RawQuery)
	var variants []v2Variant
	if r.Header.Get("Authorization") != "" {
		variants = v2HeaderVariants(r.Header)
	} else {
		p, err := parsePresignedV2(query)
		if err != nil {
			t.Fatalf("parsePresignedV2: %v", err)
		}
		variants = v2PresignVariants(r.Header, query, p.expiresRaw)
	}
	var out []string
	for _, res := range v2Resources(r, query, v.VirtualHostBucket) {
		for _, vr := range variants {
			out = append(out, string(appendV2StringToSign(nil, r.Method, r.Header.Get("Content-Md5"),
				r.Header.Get("Content-Type"), vr.date, vr.amz, res)))
		}
	}
	return out
}

func TestS3DocV2Examples(t *testing.T) {
	for _, vec := range v2DocVectors {
		t.Run(vec.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC1123Z, vec.at)
			if err != nil {
				t.Fatal(err)
			}
			v := &Verifier{Secrets: staticSecrets(v2DocKey, v2DocSecret), VirtualHostBucket: docVirtualHost,
				Now: func() time.Time { return at }}
			r := readRawRequest(t, vec.raw)

			// The printed string to sign is one of the candidates, and the
			// printed signature is its HMAC.
			if got := b64(hmacSHA1(v2DocSecret, vec.sts)); got != vec.sig {
				t.Fatalf("printed StringToSign signs to %s, printed signature is %s", got, vec.sig)
			}
			cands := v2Candidates(t, v, r)
			if !slices.Contains(cands, vec.sts) {
				t.Errorf("StringToSign %q not among candidates %q", vec.sts, cands)
			}
			if vec.name != "Delete" && cands[0] != vec.sts {
				t.Errorf("first candidate %q, want %q", cands[0], vec.sts)
			}

			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			presigned := strings.Contains(vec.raw, "Signature=")
			wantTime := at
			if presigned {
				wantTime = time.Unix(1175139620, 0)
			}
			if res.Version != 2 || res.AccessKey != v2DocKey || res.Signature != vec.sig ||
				res.PayloadHash != UnsignedPayload || res.Presigned != presigned || res.Region != "" ||
				!res.Time.Equal(wantTime) {
				t.Errorf("result %+v", res)
			}

			// Any change to the signature, the secret or the bucket fails.
			tampered := strings.Replace(vec.raw, vec.sig[:4], "AAAA", 1)
			if vec.sig[:4] == "AAAA" {
				tampered = strings.Replace(vec.raw, vec.sig[:4], "BBBB", 1)
			}
			if _, err := v.Verify(readRawRequest(t, tampered)); !isCode(err, "SignatureDoesNotMatch") {
				t.Errorf("tampered signature: %v", err)
			}
			wrong := cloneVerifier(v)
			wrong.Secrets = staticSecrets(v2DocKey, strings.ToLower(v2DocSecret))
			if _, err := wrong.Verify(readRawRequest(t, vec.raw)); !isCode(err, "SignatureDoesNotMatch") {
				t.Errorf("wrong secret: %v", err)
			}
		})
	}

	t.Run("query string expiry boundary", func(t *testing.T) {
		raw := v2DocVectors[len(v2DocVectors)-1].raw
		v := &Verifier{Secrets: staticSecrets(v2DocKey, v2DocSecret), VirtualHostBucket: docVirtualHost}
		for _, tc := range []struct {
			at  time.Time
			err string
		}{
			{time.Unix(1175139620, 0), ""},
			{time.Unix(1175139620, 999_999_999), ""},
			{time.Unix(1175139621, 0), "AccessDenied"},
		} {
			v.Now = func() time.Time { return tc.at }
			_, err := v.Verify(readRawRequest(t, raw))
			if tc.err == "" && err != nil || tc.err != "" && !isCodeMsg(err, tc.err, "Request has expired") {
				t.Errorf("at %v: %v", tc.at, err)
			}
		}
	})

	t.Run("skew", func(t *testing.T) {
		vec := v2DocVectors[0]
		at, _ := time.Parse(time.RFC1123Z, vec.at)
		v := &Verifier{Secrets: staticSecrets(v2DocKey, v2DocSecret), VirtualHostBucket: docVirtualHost}
		for _, d := range []time.Duration{-15 * time.Minute, 15 * time.Minute} {
			v.Now = func() time.Time { return at.Add(d) }
			if _, err := v.Verify(readRawRequest(t, vec.raw)); err != nil {
				t.Errorf("skew %v: %v", d, err)
			}
		}
		for _, d := range []time.Duration{-15*time.Minute - time.Second, 15*time.Minute + time.Second, 24 * time.Hour} {
			v.Now = func() time.Time { return at.Add(d) }
			if _, err := v.Verify(readRawRequest(t, vec.raw)); !isCode(err, "RequestTimeTooSkewed") {
				t.Errorf("skew %v: %v", d, err)
			}
		}
	})
}

// TestS3DocV2RenamedBucket backs the claim above: the current page's
// "awsexamplebucket1" requests do not match their printed signatures, and
// a path-style request is not taken for a virtual-hosted one.
func TestS3DocV2RenamedBucket(t *testing.T) {
	v := &Verifier{Secrets: staticSecrets(v2DocKey, v2DocSecret), Now: fixedNow("20070328T120000Z"),
		VirtualHostBucket: func(host string) string {
			b, _, _ := strings.Cut(host, ".s3.")
			if b == host {
				return ""
			}
			return b
		}}
	for _, raw := range []string{
		"GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D" +
			"&Expires=1175139620 HTTP/1.1\nHost: awsexamplebucket1.s3.amazonaws.com",
		"GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D" +
			"&Expires=1175139620 HTTP/1.1\nHost: awsexamplebucket1.s3.us-west-1.amazonaws.com",
		// Path-style without the bucket in the path.
		"GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D" +
			"&Expires=1175139620 HTTP/1.1\nHost: s3amazonaws.com",
	} {
		if _, err := v.Verify(readRawRequest(t, raw)); !isCode(err, "SignatureDoesNotMatch") {
			t.Errorf("%s: %v", raw, err)
		}
	}
	// And the same URL does verify for johnsmith.
	raw := "GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D" +
		"&Expires=1175139620 HTTP/1.1\nHost: johnsmith.s3.amazonaws.com"
	if _, err := v.Verify(readRawRequest(t, raw)); err != nil {
		t.Errorf("johnsmith: %v", err)
	}
}
