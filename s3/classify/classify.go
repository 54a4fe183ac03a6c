// Package classify names the S3 operation an HTTP request asks for, and
// holds the table of what photogate knows about each operation (ops.go).
//
// photogate forwards every operation it can name and refuses the rest with
// NotImplemented: a request it misreads could overwrite a photo or delete a
// bucket (gofakes3 did both when it treated `PUT ?tagging` as PutObject), so
// an unknown sub-resource or query parameter is never guessed at.
package classify

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

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

	// Privileged actions: object lock can make data undeletable, or delete
	// what was meant to be kept, so each needs a grant of its own on top of
	// the operation's action.
	ActionBypassGovernance Action = "bypass_governance" // x-amz-bypass-governance-retention
	ActionRetention        Action = "retention"         // set or change an object's retention
	ActionLegalHold        Action = "legal_hold"        // set or clear an object's legal hold
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
	// PostObject is a browser upload: POST /bucket with a multipart form
	// and a signed POST policy (s3/postpolicy).
	PostObject Op = "PostObject"
)

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
	"x-id": true, "list-type": true, "allow-unordered": true,
	"max-buckets": true, "bucket-region": true, "select-type": true,
	"response-content-type": true, "response-content-language": true,
	"response-expires": true, "response-cache-control": true,
	"response-content-disposition": true, "response-content-encoding": true,
}

// takesVersionID reports the operations S3 defines a versionId parameter
// for: they read or change one version of an object. MinIO gives it a
// meaning of its own elsewhere: on PutObject, CopyObject and the multipart
// operations it writes that version in place, replacing its data whatever
// its governance retention, which no write grant may do.
func takesVersionID(op Op) bool {
	switch op {
	case GetObject, HeadObject, DeleteObject, GetObjectTagging, PutObjectTagging, DeleteObjectTagging,
		"GetObjectAcl", "PutObjectAcl", "GetObjectRetention", "PutObjectRetention",
		"GetObjectLegalHold", "PutObjectLegalHold", "GetObjectAttributes", "RestoreObject":
		return true
	}
	return false
}

// Classify names the operation. query must not contain presigned-URL
// authentication parameters (X-Amz-*); the caller strips them first.
func Classify(method, bucket, key string, query url.Values, header http.Header) (Op, error) {
	sub, err := subresource(query)
	if err != nil {
		return "", err
	}
	var op Op
	switch {
	case bucket == "":
		if method == http.MethodGet && sub == "" {
			op = ListBuckets
		}
	case key == "":
		op = bucketOp(method, sub, query)
	default:
		op = objectOp(method, sub, query, header)
	}
	if op != "" {
		if query.Has("versionId") && !takesVersionID(op) {
			return "", s3err.New(s3err.InvalidArgument, "versionId is not a parameter of "+string(op)+".")
		}
		return op, nil
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
		case http.MethodPost:
			return PostObject
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

// reservedBuckets are names the backend keeps for itself: MinIO serves its
// admin, health and metrics APIs under /minio/, so a "bucket" named minio
// would reach them re-signed with photogate's backend credential.
var reservedBuckets = map[string]bool{"minio": true}

// Resolve finds the bucket and key of a request. host is the Host header;
// when it is a subdomain of one of baseDomains, the request is virtual-host
// style and the subdomain is the bucket. path is the decoded URL path.
//
// Only S3 paths resolve: a bucket must be a valid S3 bucket name that is
// not reserved by the backend, and a key must be one the backend stores
// under exactly that name (see ValidKey).
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
	if t.Bucket != "" {
		if err := ValidBucket(t.Bucket); err != nil {
			return Target{}, err
		}
	} else if t.Key != "" {
		return Target{}, s3err.New(s3err.InvalidBucketName, "The specified bucket is not valid: a key needs a bucket.")
	}
	if t.Key != "" {
		if err := ValidKey(t.Key); err != nil {
			return Target{}, err
		}
	}
	return t, nil
}

// ValidBucket accepts the S3 bucket naming rules MinIO enforces: 3 to 63
// characters, lower-case letters, digits, dots and hyphens, each
// dot-separated label starting and ending with a letter or digit, and not
// an IP address. Names the backend reserves are refused too.
func ValidBucket(b string) error {
	invalid := func(why string) error {
		return s3err.New(s3err.InvalidBucketName, "The specified bucket is not valid: "+strconv.Quote(b)+" "+why+".")
	}
	if len(b) < 3 || len(b) > 63 {
		return invalid("must be 3 to 63 characters long")
	}
	for _, label := range strings.Split(b, ".") {
		if label == "" {
			return invalid("has an empty label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return invalid("has a label starting or ending with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return invalid("may hold only lower-case letters, digits, dots and hyphens")
			}
		}
	}
	if net.ParseIP(b) != nil {
		return invalid("is formatted as an IP address")
	}
	if reservedBuckets[b] {
		return invalid("is reserved by the storage backend")
	}
	return nil
}

// ValidKey accepts keys the backend stores under exactly that name: at most
// 1024 bytes of valid UTF-8, with no NUL byte, no leading slash, and no
// empty, "." or ".." path segment (MinIO would store "a//b" as "a/b" and
// refuses "."/".."; the index would then name an object that does not
// exist). A trailing slash is allowed: it names a folder marker.
func ValidKey(k string) error {
	if len(k) > maxKeyBytes {
		return s3err.New(s3err.KeyTooLongError, "")
	}
	if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
		return s3err.New(s3err.XMinioInvalidObjectName, "Object name is not valid UTF-8 or contains a NUL byte.")
	}
	segments := strings.Split(strings.TrimSuffix(k, "/"), "/")
	for _, seg := range segments {
		switch seg {
		case "":
			return s3err.New(s3err.XMinioInvalidObjectName, "Object name contains an empty path segment (a leading \"/\" or \"//\").")
		case ".", "..":
			return s3err.New(s3err.XMinioInvalidObjectName, "Object name contains a \".\" or \"..\" path segment.")
		}
	}
	return nil
}
