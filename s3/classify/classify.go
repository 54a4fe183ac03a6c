// Package classify names the S3 operation an HTTP request asks for.
//
// photogate forwards every operation it can name and refuses the rest with
// NotImplemented: a request it misreads could overwrite a photo or delete a
// bucket (gofakes3 did both when it treated `PUT ?tagging` as PutObject), so
// an unknown sub-resource or query parameter is never guessed at.
package classify

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// Op is an S3 operation name as AWS documents it (e.g. "PutObject").
type Op string

// Action is the kind of access an operation needs; policy grants actions.
type Action string

const (
	ActionRead   Action = "read"   // read object data or metadata
	ActionWrite  Action = "write"  // create or change objects
	ActionDelete Action = "delete" // remove objects
	ActionList   Action = "list"   // list buckets, objects, uploads
	ActionAdmin  Action = "admin"  // create/delete buckets, bucket configuration
)

// Operations photogate intercepts by name; the rest are forwarded as named.
const (
	ListBuckets             Op = "ListBuckets"
	CreateBucket            Op = "CreateBucket"
	DeleteBucket            Op = "DeleteBucket"
	HeadBucket              Op = "HeadBucket"
	ListObjects             Op = "ListObjects"
	ListObjectsV2           Op = "ListObjectsV2"
	ListObjectVersions      Op = "ListObjectVersions"
	ListMultipartUploads    Op = "ListMultipartUploads"
	DeleteObjects           Op = "DeleteObjects"
	GetObject               Op = "GetObject"
	HeadObject              Op = "HeadObject"
	PutObject               Op = "PutObject"
	CopyObject              Op = "CopyObject"
	DeleteObject            Op = "DeleteObject"
	CreateMultipartUpload   Op = "CreateMultipartUpload"
	UploadPart              Op = "UploadPart"
	UploadPartCopy          Op = "UploadPartCopy"
	CompleteMultipartUpload Op = "CompleteMultipartUpload"
	AbortMultipartUpload    Op = "AbortMultipartUpload"
	ListParts               Op = "ListParts"
	GetObjectTagging        Op = "GetObjectTagging"
	PutObjectTagging        Op = "PutObjectTagging"
	DeleteObjectTagging     Op = "DeleteObjectTagging"
	SelectObjectContent     Op = "SelectObjectContent"
)

// Action returns the access op needs.
func (o Op) Action() Action {
	switch o {
	case ListBuckets, ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads, ListParts, HeadBucket:
		return ActionList
	case DeleteObject, DeleteObjects, AbortMultipartUpload, DeleteObjectTagging:
		return ActionDelete
	case PutObject, CopyObject, CreateMultipartUpload, UploadPart, UploadPartCopy,
		CompleteMultipartUpload, PutObjectTagging, "PutObjectRetention", "PutObjectLegalHold", "PutObjectAcl", "RestoreObject":
		return ActionWrite
	case GetObject, HeadObject, GetObjectTagging, SelectObjectContent,
		"GetObjectAcl", "GetObjectRetention", "GetObjectLegalHold", "GetObjectAttributes":
		return ActionRead
	}
	// Bucket creation, deletion and every bucket configuration sub-resource.
	return ActionAdmin
}

// Mutates reports whether a successful op changes which objects exist or
// what they contain or are tagged with: the operations the index follows.
func (o Op) Mutates() bool {
	switch o {
	case PutObject, CopyObject, CompleteMultipartUpload, DeleteObject, DeleteObjects,
		PutObjectTagging, DeleteObjectTagging, CreateBucket, DeleteBucket:
		return true
	}
	return false
}

// bucketSubresources maps a bucket configuration sub-resource to the
// operation names for GET, PUT and DELETE ("" where S3 has none).
var bucketSubresources = map[string][3]Op{
	"accelerate":          {"GetBucketAccelerateConfiguration", "PutBucketAccelerateConfiguration", ""},
	"acl":                 {"GetBucketAcl", "PutBucketAcl", ""},
	"analytics":           {"GetBucketAnalyticsConfiguration", "PutBucketAnalyticsConfiguration", "DeleteBucketAnalyticsConfiguration"},
	"cors":                {"GetBucketCors", "PutBucketCors", "DeleteBucketCors"},
	"encryption":          {"GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"},
	"intelligent-tiering": {"GetBucketIntelligentTieringConfiguration", "PutBucketIntelligentTieringConfiguration", "DeleteBucketIntelligentTieringConfiguration"},
	"inventory":           {"GetBucketInventoryConfiguration", "PutBucketInventoryConfiguration", "DeleteBucketInventoryConfiguration"},
	"lifecycle":           {"GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"},
	"location":            {"GetBucketLocation", "", ""},
	"logging":             {"GetBucketLogging", "PutBucketLogging", ""},
	"metrics":             {"GetBucketMetricsConfiguration", "PutBucketMetricsConfiguration", "DeleteBucketMetricsConfiguration"},
	"notification":        {"GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration", ""},
	"object-lock":         {"GetObjectLockConfiguration", "PutObjectLockConfiguration", ""},
	"ownershipControls":   {"GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"},
	"policy":              {"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"},
	"policyStatus":        {"GetBucketPolicyStatus", "", ""},
	"publicAccessBlock":   {"GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"},
	"replication":         {"GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication"},
	"requestPayment":      {"GetBucketRequestPayment", "PutBucketRequestPayment", ""},
	"tagging":             {"GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"},
	"versioning":          {"GetBucketVersioning", "PutBucketVersioning", ""},
	"website":             {"GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"},
}

// objectSubresources is the same for object sub-resources.
var objectSubresources = map[string][3]Op{
	"acl":        {"GetObjectAcl", "PutObjectAcl", ""},
	"tagging":    {GetObjectTagging, PutObjectTagging, DeleteObjectTagging},
	"retention":  {"GetObjectRetention", "PutObjectRetention", ""},
	"legal-hold": {"GetObjectLegalHold", "PutObjectLegalHold", ""},
	"attributes": {"GetObjectAttributes", "", ""},
}

// plainParams are query parameters that select nothing: they modify an
// operation (listing bounds, response overrides, versions, the SDKs' x-id
// hint) and may accompany any operation that takes them.
var plainParams = map[string]bool{
	"prefix": true, "delimiter": true, "marker": true, "max-keys": true,
	"encoding-type": true, "continuation-token": true, "fetch-owner": true,
	"start-after": true, "key-marker": true, "version-id-marker": true,
	"upload-id-marker": true, "max-uploads": true, "max-parts": true,
	"part-number-marker": true, "versionId": true, "partNumber": true,
	"x-id": true, "list-type": true, "allow-unordered": true, "metadata": true,
	"max-buckets": true, "bucket-region": true, "select-type": true,
	"response-content-type": true, "response-content-language": true,
	"response-expires": true, "response-cache-control": true,
	"response-content-disposition": true, "response-content-encoding": true,
}

// Classify names the operation. query must not contain presigned-URL
// authentication parameters (X-Amz-*); the caller strips them first.
func Classify(method, bucket, key string, query url.Values, header http.Header) (Op, error) {
	sub, err := subresource(query)
	if err != nil {
		return "", err
	}
	switch {
	case bucket == "":
		if method == http.MethodGet && sub == "" {
			return ListBuckets, nil
		}
	case key == "":
		if op := bucketOp(method, sub, query); op != "" {
			return op, nil
		}
	default:
		if op := objectOp(method, sub, query, header); op != "" {
			return op, nil
		}
	}
	what := method + " " + describe(bucket, key)
	if sub != "" {
		what += "?" + sub
	}
	return "", s3err.New(s3err.NotImplemented, "photogate does not support "+what)
}

// subresource returns the one query key that selects a sub-resource, or ""
// for none. Two selectors in one request are ambiguous and refused.
func subresource(query url.Values) (string, error) {
	sub := ""
	for k := range query {
		if plainParams[k] {
			continue
		}
		if sub != "" {
			return "", s3err.New(s3err.NotImplemented, "ambiguous sub-resources ?"+sub+" and ?"+k)
		}
		sub = k
	}
	return sub, nil
}

func bucketOp(method, sub string, query url.Values) Op {
	switch sub {
	case "":
		switch method {
		case http.MethodGet:
			if query.Get("list-type") == "2" {
				return ListObjectsV2
			}
			if query.Has("list-type") {
				return ""
			}
			return ListObjects
		case http.MethodHead:
			return HeadBucket
		case http.MethodPut:
			return CreateBucket
		case http.MethodDelete:
			return DeleteBucket
		}
		return ""
	case "uploads":
		return onlyFor(method, http.MethodGet, ListMultipartUploads)
	case "versions":
		return onlyFor(method, http.MethodGet, ListObjectVersions)
	case "delete":
		return onlyFor(method, http.MethodPost, DeleteObjects)
	}
	return byMethod(bucketSubresources, sub, method)
}

func objectOp(method, sub string, query url.Values, header http.Header) Op {
	copySource := header.Get("X-Amz-Copy-Source") != ""
	switch sub {
	case "":
		switch method {
		case http.MethodGet:
			return GetObject
		case http.MethodHead:
			return HeadObject
		case http.MethodPut:
			if query.Has("partNumber") {
				return "" // a part number without an upload id names nothing
			}
			if copySource {
				return CopyObject
			}
			return PutObject
		case http.MethodDelete:
			return DeleteObject
		}
		return ""
	case "uploads":
		return onlyFor(method, http.MethodPost, CreateMultipartUpload)
	case "uploadId":
		switch method {
		case http.MethodPut:
			if !query.Has("partNumber") {
				return ""
			}
			if copySource {
				return UploadPartCopy
			}
			return UploadPart
		case http.MethodPost:
			return CompleteMultipartUpload
		case http.MethodDelete:
			return AbortMultipartUpload
		case http.MethodGet:
			return ListParts
		}
		return ""
	case "select":
		if method == http.MethodPost && query.Get("select-type") == "2" {
			return SelectObjectContent
		}
		return ""
	case "restore":
		return onlyFor(method, http.MethodPost, "RestoreObject")
	}
	return byMethod(objectSubresources, sub, method)
}

func onlyFor(method, want string, op Op) Op {
	if method == want {
		return op
	}
	return ""
}

func byMethod(table map[string][3]Op, sub, method string) Op {
	ops, ok := table[sub]
	if !ok {
		return ""
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return ops[0]
	case http.MethodPut:
		return ops[1]
	case http.MethodDelete:
		return ops[2]
	}
	return ""
}

func describe(bucket, key string) string {
	switch {
	case bucket == "":
		return "/"
	case key == "":
		return "bucket"
	}
	return "object"
}

// Target is where a request points: bucket and key, both possibly empty.
type Target struct {
	Bucket string
	Key    string
}

// maxKeyBytes is S3's limit on object key length.
const maxKeyBytes = 1024

// Resolve finds the bucket and key of a request. host is the Host header;
// when it is a subdomain of one of baseDomains, the request is virtual-host
// style and the subdomain is the bucket. path is the decoded URL path.
func Resolve(host, path string, baseDomains []string) (Target, error) {
	hostname := host
	if i := strings.LastIndexByte(hostname, ':'); i >= 0 && !strings.Contains(hostname[i:], "]") {
		hostname = hostname[:i]
	}
	hostname = strings.ToLower(hostname)
	var t Target
	rest := strings.TrimPrefix(path, "/")
	virtual := false
	for _, d := range baseDomains {
		if b, ok := strings.CutSuffix(hostname, "."+strings.ToLower(d)); ok && b != "" {
			t.Bucket, t.Key, virtual = b, rest, true
			break
		}
	}
	if !virtual {
		t.Bucket, t.Key, _ = strings.Cut(rest, "/")
	}
	if t.Bucket != "" && !validBucket(t.Bucket) {
		return Target{}, s3err.New(s3err.InvalidBucketName, "The specified bucket is not valid: "+t.Bucket)
	}
	if len(t.Key) > maxKeyBytes {
		return Target{}, s3err.New(s3err.KeyTooLongError, "")
	}
	return t, nil
}

// validBucket accepts the legacy S3 bucket alphabet (the backend enforces
// the stricter modern rules); it exists so that nothing path-like or
// control characters ever reach the index or the backend URL as a bucket.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 255 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return b != "." && b != ".."
}
