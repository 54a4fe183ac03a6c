package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// awsV2Subresources is every sub-resource AWS, MinIO or botocore puts in the
// V2 CanonicalizedResource.
var awsV2Subresources = []string{
	"acl", "accelerate", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
	"ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication",
	"requestPayment", "restore", "retention", "select", "select-type", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website", "response-cache-control",
	"response-content-disposition", "response-content-encoding", "response-content-language",
	"response-content-type", "response-expires",
}

// presignV2For presigns GET /bucket/key for the given sub-resource string
// ("" or "?name" or "?name=value"), as the V2 specification computes it.
func presignV2For(method, subresource string, expires int64) string {
	exp := strconv.FormatInt(expires, 10)
	mac := hmac.New(sha1.New, []byte(rtSecret))
	mac.Write([]byte(method + "\n\n\n" + exp + "\n/bucket/key" + subresource))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return "AWSAccessKeyId=" + rtKey + "&Expires=" + exp + "&Signature=" + url.QueryEscape(sig)
}

// TestV2SubresourcesAreSigned: a V2 URL presigned for one sub-resource (or
// for none) cannot be pointed at another by editing its query.
func TestV2SubresourcesAreSigned(t *testing.T) {
	for _, name := range awsV2Subresources {
		if v2Subresources[name] != v2Required {
			t.Errorf("%s is not a required V2 sub-resource", name)
		}
	}
	v := rtVerifier()
	exp := time.Now().Add(time.Hour).Unix()
	verify := func(method, query string) error {
		_, err := v.Verify(httptest.NewRequest(method, "http://gw/bucket/key?"+query, nil))
		return err
	}
	plain := presignV2For(http.MethodPut, "", exp)
	if err := verify(http.MethodPut, plain); err != nil {
		t.Fatalf("plain presigned PUT: %v", err)
	}
	for i, name := range awsV2Subresources {
		withValue := name + "=1"
		signed := presignV2For(http.MethodPut, "?"+withValue, exp)
		if err := verify(http.MethodPut, signed+"&"+withValue); err != nil {
			t.Errorf("presigned for ?%s: %v", withValue, err)
		}
		if err := verify(http.MethodPut, plain+"&"+name); !isCode(err, "SignatureDoesNotMatch") {
			t.Errorf("?%s appended to a plain presigned URL: %v, want SignatureDoesNotMatch", name, err)
		}
		other := awsV2Subresources[(i+1)%len(awsV2Subresources)]
		if err := verify(http.MethodPut, signed+"&"+other+"=1"); !isCode(err, "SignatureDoesNotMatch") {
			t.Errorf("URL for ?%s re-aimed at ?%s: %v, want SignatureDoesNotMatch", name, other, err)
		}
		if err := verify(http.MethodPut, signed+"&"+name+"=2"); !isCode(err, "SignatureDoesNotMatch") {
			t.Errorf("URL for ?%s with its value changed: %v, want SignatureDoesNotMatch", withValue, err)
		}
	}
	// Parameters that select nothing in S3 and are signed by some clients
	// only are accepted either way.
	for _, name := range []string{"storageClass", "defaultObjectAcl"} {
		if err := verify(http.MethodPut, plain+"&"+name+"=x"); err != nil {
			t.Errorf("unsigned %s: %v", name, err)
		}
		if err := verify(http.MethodPut, presignV2For(http.MethodPut, "?"+name+"=x", exp)+"&"+name+"=x"); err != nil {
			t.Errorf("signed %s: %v", name, err)
		}
	}
}
