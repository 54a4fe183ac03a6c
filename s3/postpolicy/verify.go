// Package postpolicy implements S3 browser-based uploads: POST Object with
// a multipart/form-data body whose fields carry a signed POST policy. It
// reads the form fields under fixed bounds (ReadForm), authenticates the
// policy's SigV4 or SigV2 signature, checks the policy's conditions
// against the fields (Verify), and yields what a streaming PutObject
// needs, with the file's content still unread.
//
// Only the fields listed in Verify are accepted; any other field is
// refused rather than silently dropped, so a client never believes an
// option (encryption, storage class, ACL) took effect when it did not.
package postpolicy

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// Upload is a verified POST upload: who sent it and the PutObject it asks
// for.
type Upload struct {
	// AccessKey is the authenticated access key; "" for an anonymous form
	// (no policy, no signature), which the caller must authorise as such.
	AccessKey string
	// SignatureVersion is 4 or 2, or 0 for an anonymous form.
	SignatureVersion int
	// Region is the SigV4 credential scope's region ("" for V2 and
	// anonymous forms). Like sigv4.Verifier, Verify does not check it.
	Region string

	Bucket string
	// Key is the object key, ${filename} already replaced by the file
	// part's filename.
	Key string
	// Header holds the PutObject request headers the form asks for, in
	// canonical form: Content-Type, Cache-Control, Content-Disposition,
	// Content-Encoding, Expires, Content-Md5, X-Amz-Meta-*,
	// X-Amz-Checksum-{Crc32,Crc32c,Crc64nvme,Sha1,Sha256}, and
	// X-Amz-Tagging (the form's XML tagging field in the header's
	// URL-query form).
	Header http.Header

	// Expiration is the policy's expiration (zero for an anonymous form).
	Expiration time.Time
	// Length is the policy's content-length-range; Body enforces it.
	Length LengthRange

	// SuccessActionStatus is the status to answer with when there is no
	// redirect: 200, 201 or 204 (the default, also for invalid values, as
	// in S3).
	SuccessActionStatus int
	// SuccessActionRedirect is the success_action_redirect (or legacy
	// redirect) URL, "" when absent or not an absolute http(s) URL, which
	// S3 treats as absent. See RedirectURL.
	SuccessActionRedirect string

	// FileName and FileContentType are the file part's, as in Form.
	FileName        string
	FileContentType string
	// Body streams the file's content, failing with EntityTooLarge or
	// EntityTooSmall when it breaks Length.
	Body io.Reader
}

// RedirectURL is where to send the client after a successful upload that
// asked for a redirect: SuccessActionRedirect with bucket, key and etag
// added to its query, as S3 does. It is "" when no redirect was asked for.
func (u *Upload) RedirectURL(etag string) string {
	if u.SuccessActionRedirect == "" {
		return ""
	}
	target, err := url.Parse(u.SuccessActionRedirect)
	if err != nil {
		return ""
	}
	q := target.Query()
	q.Set("bucket", u.Bucket)
	q.Set("key", u.Key)
	q.Set("etag", etag)
	target.RawQuery = q.Encode()
	return target.String()
}

// Field names with a meaning of their own.
const (
	fieldPolicy        = "policy"
	fieldKey           = "key"
	fieldBucket        = "bucket"
	fieldACL           = "acl"
	fieldTagging       = "tagging"
	fieldStatus        = "success_action_status"
	fieldRedirect      = "success_action_redirect"
	fieldLegacyRedir   = "redirect"
	fieldAlgorithm     = "x-amz-algorithm"
	fieldCredential    = "x-amz-credential"
	fieldDate          = "x-amz-date"
	fieldSignature     = "x-amz-signature"
	fieldSecurityToken = "x-amz-security-token"
	fieldV2AccessKey   = "awsaccesskeyid"
	fieldV2Signature   = "signature"
	ignorePrefix       = "x-ignore-"
	metaPrefix         = "x-amz-meta-"
	filenameVariable   = "${filename}"
	maxKeyBytes        = 1024
	iso8601Basic       = "20060102T150405Z"
)

// headerFields are the fields that become PutObject headers as they are.
var headerFields = map[string]bool{
	"content-type": true, "cache-control": true, "content-disposition": true,
	"content-encoding": true, "expires": true, "content-md5": true,
	"x-amz-checksum-crc32": true, "x-amz-checksum-crc32c": true, "x-amz-checksum-crc64nvme": true,
	"x-amz-checksum-sha1": true, "x-amz-checksum-sha256": true,
}

// controlFields are the other fields Verify understands.
var controlFields = map[string]bool{
	fieldPolicy: true, fieldKey: true, fieldBucket: true, fieldACL: true, fieldTagging: true,
	fieldStatus: true, fieldRedirect: true, fieldLegacyRedir: true,
	fieldAlgorithm: true, fieldCredential: true, fieldDate: true, fieldSignature: true,
	fieldSecurityToken: true, fieldV2AccessKey: true, fieldV2Signature: true,
}

// exactOnly are the fields whose conditions AWS allows only as exact
// matches. success_action_status is one, though MinIO lets it start-with.
var exactOnly = map[string]bool{
	fieldBucket: true, fieldStatus: true, fieldAlgorithm: true, fieldCredential: true,
	fieldDate: true, fieldSecurityToken: true, fieldTagging: true,
}

// Verify authenticates form and checks it against its policy for an upload
// to bucket at time now. secrets resolves access keys.
//
// A form with neither policy nor signature fields is anonymous: no
// conditions apply, and the caller decides whether anonymous uploads are
// allowed. Otherwise the form must carry a policy and either SigV4 fields
// (x-amz-algorithm AWS4-HMAC-SHA256, x-amz-credential, x-amz-date,
// x-amz-signature) or SigV2 fields (AWSAccessKeyId, signature); the
// policy must not have expired; every field but policy, x-amz-signature,
// file, x-ignore-* (and for SigV2 AWSAccessKeyId and signature) must be
// named by a condition, and every condition must hold, those on bucket and
// key (after ${filename} substitution) included.
//
// Accepted fields: those above, key, bucket (must equal bucket), acl (only
// "private", the default), tagging, success_action_status,
// success_action_redirect, redirect, x-amz-security-token (checked only
// by the policy, as sigv4 does), and the header fields listed at
// Upload.Header. Any other field is NotImplemented.
//
// Errors are s3err errors: InvalidAccessKeyId, SignatureDoesNotMatch,
// AccessDenied ("Invalid according to Policy: ..."), InvalidPolicyDocument,
// InvalidArgument, InvalidTag, MalformedXML, KeyTooLongError and
// NotImplemented.
func Verify(form *Form, bucket string, secrets sigv4.SecretLookup, now time.Time) (*Upload, error) {
	if err := checkFieldNames(form); err != nil {
		return nil, err
	}
	u := &Upload{Bucket: bucket, FileName: form.FileName, FileContentType: form.FileContentType}
	if b, ok := form.Get(fieldBucket); ok && b != bucket {
		// The policy was signed for the form's bucket: posted to another
		// one, its bucket condition fails, which S3 answers 403.
		return nil, s3err.New(s3err.AccessDenied, "Invalid according to Policy: the form's bucket field names "+
			strconv.Quote(b)+", not the bucket it was posted to.")
	}
	key, ok := form.Get(fieldKey)
	if !ok {
		return nil, s3err.New(s3err.InvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	if form.FileName != "" {
		key = strings.ReplaceAll(key, filenameVariable, form.FileName)
	}
	if key == "" {
		return nil, s3err.New(s3err.InvalidArgument, "User key must have a length greater than 0.")
	}
	if len(key) > maxKeyBytes {
		return nil, s3err.New(s3err.KeyTooLongError, "")
	}
	u.Key = key

	if err := authenticate(form, secrets, u); err != nil {
		return nil, err
	}
	if u.SignatureVersion != 0 {
		pol, err := DecodePolicy(mustGet(form, fieldPolicy))
		if err != nil {
			return nil, err
		}
		if err := checkPolicy(pol, form, u, now); err != nil {
			return nil, err
		}
		u.Expiration, u.Length = pol.Expiration, pol.Length
	}
	if err := fillUpload(form, u); err != nil {
		return nil, err
	}
	u.Body = u.Length.Reader(form.File)
	return u, nil
}

func mustGet(form *Form, name string) string {
	v, _ := form.Get(name)
	return v
}

func checkFieldNames(form *Form) error {
	for _, name := range form.names {
		if controlFields[name] || headerFields[name] {
			continue
		}
		if meta, ok := strings.CutPrefix(name, metaPrefix); ok && isToken(meta) {
			continue
		}
		return s3err.New(s3err.NotImplemented, fmt.Sprintf("The POST form field %q is not supported.", name))
	}
	return nil
}

// authenticate verifies the form's signature and records who signed it.
func authenticate(form *Form, secrets sigv4.SecretLookup, u *Upload) error {
	_, hasPolicy := form.Get(fieldPolicy)
	_, hasV4 := form.Get(fieldSignature)
	_, hasV2 := form.Get(fieldV2Signature)
	_, hasV2Key := form.Get(fieldV2AccessKey)
	_, hasCred := form.Get(fieldCredential)
	switch {
	case !hasPolicy && !hasV4 && !hasV2 && !hasV2Key && !hasCred:
		return nil
	case !hasPolicy:
		return missingField(fieldPolicy)
	case hasV4 && (hasV2 || hasV2Key):
		return s3err.New(s3err.InvalidArgument, "The form carries both a SigV4 and a SigV2 signature.")
	case hasV2 || hasV2Key:
		return verifyV2(form, secrets, u)
	default:
		return verifyV4(form, secrets, u)
	}
}

func missingField(name string) error {
	return s3err.New(s3err.InvalidArgument, fmt.Sprintf("Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", name))
}

func requireFields(form *Form, names ...string) error {
	for _, n := range names {
		if _, ok := form.Get(n); !ok {
			return missingField(n)
		}
	}
	return nil
}

func verifyV4(form *Form, secrets sigv4.SecretLookup, u *Upload) error {
	if err := requireFields(form, fieldAlgorithm, fieldCredential, fieldDate, fieldSignature); err != nil {
		return err
	}
	if alg := mustGet(form, fieldAlgorithm); alg != sigv4.Algorithm {
		return s3err.New(s3err.InvalidArgument, fmt.Sprintf("The x-amz-algorithm %q is not supported; expecting %s.", alg, sigv4.Algorithm))
	}
	if _, err := time.Parse(iso8601Basic, mustGet(form, fieldDate)); err != nil {
		return s3err.Wrap(s3err.InvalidArgument, "The x-amz-date field is not in ISO 8601 basic format (20060102T150405Z).", err)
	}
	accessKey, date, region, err := parseCredential(mustGet(form, fieldCredential))
	if err != nil {
		return err
	}
	secret, ok := secrets(accessKey)
	if !ok {
		return s3err.New(s3err.InvalidAccessKeyID, "")
	}
	got, err := hex.DecodeString(mustGet(form, fieldSignature))
	if err != nil || len(got) != sha256.Size {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "s3")
	key = hmacSHA256(key, "aws4_request")
	if !hmac.Equal(hmacSHA256(key, mustGet(form, fieldPolicy)), got) {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	u.AccessKey, u.SignatureVersion, u.Region = accessKey, 4, region
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// parseCredential splits <key>/<yyyymmdd>/<region>/s3/aws4_request. The
// key is everything before the last four elements: MinIO allows '/' in
// access keys.
func parseCredential(cred string) (accessKey, date, region string, err error) {
	parts := strings.Split(cred, "/")
	n := len(parts)
	if n < 5 || parts[n-1] != "aws4_request" || parts[n-2] != "s3" || parts[n-3] == "" {
		return "", "", "", s3err.New(s3err.InvalidArgument,
			"The x-amz-credential field is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request\".")
	}
	date = parts[n-4]
	if _, perr := time.Parse("20060102", date); perr != nil || len(date) != 8 {
		return "", "", "", s3err.New(s3err.InvalidArgument, "The x-amz-credential field has an invalid date; expecting YYYYMMDD.")
	}
	accessKey = strings.Join(parts[:n-4], "/")
	if accessKey == "" {
		return "", "", "", s3err.New(s3err.InvalidArgument, "The x-amz-credential field has no access key.")
	}
	return accessKey, date, parts[n-3], nil
}

func verifyV2(form *Form, secrets sigv4.SecretLookup, u *Upload) error {
	if err := requireFields(form, fieldV2AccessKey, fieldV2Signature); err != nil {
		return err
	}
	accessKey := mustGet(form, fieldV2AccessKey)
	secret, ok := secrets(accessKey)
	if !ok {
		return s3err.New(s3err.InvalidAccessKeyID, "")
	}
	got, err := base64.StdEncoding.DecodeString(mustGet(form, fieldV2Signature))
	if err != nil || len(got) != sha1.Size {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(mustGet(form, fieldPolicy)))
	if !hmac.Equal(m.Sum(nil), got) {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	u.AccessKey, u.SignatureVersion = accessKey, 2
	return nil
}

// checkPolicy applies the policy's expiration and conditions to the form.
func checkPolicy(pol *Policy, form *Form, u *Upload, now time.Time) error {
	if !now.Before(pol.Expiration) {
		return s3err.New(s3err.AccessDenied, "Invalid according to Policy: Policy expired.")
	}
	covered := make(map[string]bool, len(pol.Conditions))
	for _, c := range pol.Conditions {
		var value string
		switch c.Field {
		case fieldBucket:
			value = u.Bucket
		case fieldKey:
			value = u.Key
		default:
			value = mustGet(form, c.Field)
		}
		if !c.holds(value) {
			return s3err.New(s3err.AccessDenied, "Invalid according to Policy: Policy Condition failed: "+c.String())
		}
		covered[c.Field] = true
	}
	var extra []string
	for _, name := range form.names {
		if covered[name] || name == fieldPolicy || name == fieldSignature {
			continue
		}
		if u.SignatureVersion == 2 && (name == fieldV2AccessKey || name == fieldV2Signature) {
			continue
		}
		extra = append(extra, name)
	}
	if len(extra) > 0 {
		return s3err.New(s3err.AccessDenied, "Invalid according to Policy: Extra input fields: "+strings.Join(extra, ", "))
	}
	return nil
}

// holds reports whether value meets c. A starts-with condition on
// Content-Type applies to each element of a comma-separated list, as AWS
// documents; fields AWS allows only exact matches for fail starts-with.
func (c Condition) holds(value string) bool {
	switch c.Op {
	case OpEq:
		return value == c.Value
	case OpStartsWith:
		if exactOnly[c.Field] {
			return false
		}
		if c.Field != "content-type" {
			return strings.HasPrefix(value, c.Value)
		}
		for v := range strings.SplitSeq(value, ",") {
			if !strings.HasPrefix(v, c.Value) {
				return false
			}
		}
		return true
	}
	return false
}

// fillUpload turns the form's remaining fields into the PutObject's.
func fillUpload(form *Form, u *Upload) error {
	u.Header = make(http.Header)
	for _, name := range form.names {
		value := mustGet(form, name)
		if !headerFields[name] && !strings.HasPrefix(name, metaPrefix) {
			continue
		}
		if !validHeaderValue(value) {
			return s3err.New(s3err.InvalidArgument, fmt.Sprintf("The value of field %q cannot be sent as an HTTP header.", name))
		}
		u.Header.Set(name, value)
	}
	if acl, ok := form.Get(fieldACL); ok && acl != "private" {
		return s3err.New(s3err.NotImplemented, "Only the acl value \"private\" is supported.")
	}
	if xmlTags, ok := form.Get(fieldTagging); ok {
		tags, err := parseTagging(xmlTags)
		if err != nil {
			return err
		}
		if tags != "" {
			u.Header.Set("X-Amz-Tagging", tags)
		}
	}
	u.SuccessActionStatus = http.StatusNoContent
	switch mustGet(form, fieldStatus) {
	case "200":
		u.SuccessActionStatus = http.StatusOK
	case "201":
		u.SuccessActionStatus = http.StatusCreated
	}
	redirect, ok := form.Get(fieldRedirect)
	if !ok {
		redirect = mustGet(form, fieldLegacyRedir)
	}
	if target, err := url.Parse(redirect); err == nil && (target.Scheme == "http" || target.Scheme == "https") && target.Host != "" {
		u.SuccessActionRedirect = redirect
	}
	return nil
}

// Tag limits S3 applies to object tags.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

type taggingXML struct {
	XMLName xml.Name `xml:"Tagging"`
	Tags    []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"TagSet>Tag"`
}

// parseTagging converts the tagging field's XML to the x-amz-tagging
// header's query form.
func parseTagging(doc string) (string, error) {
	var t taggingXML
	if err := xml.Unmarshal([]byte(doc), &t); err != nil {
		return "", s3err.Wrap(s3err.MalformedXML, "", fmt.Errorf("postpolicy: tagging field: %w", err))
	}
	if len(t.Tags) > maxTags {
		return "", s3err.New(s3err.InvalidTag, "Object tags cannot be greater than 10.")
	}
	q := make(url.Values, len(t.Tags))
	for _, tag := range t.Tags {
		if n := utf8.RuneCountInString(tag.Key); n == 0 || n > maxTagKeyLen || !validTagText(tag.Key) {
			return "", s3err.New(s3err.InvalidTag, "The TagKey you have provided is invalid.")
		}
		if utf8.RuneCountInString(tag.Value) > maxTagValueLen || !validTagText(tag.Value) {
			return "", s3err.New(s3err.InvalidTag, "The TagValue you have provided is invalid.")
		}
		if q.Has(tag.Key) {
			return "", s3err.New(s3err.InvalidTag, "Cannot provide multiple Tags with the same key.")
		}
		q.Set(tag.Key, tag.Value)
	}
	return q.Encode(), nil
}

// validTagText reports whether s uses only the characters AWS allows in
// tags: letters, digits, white space and + - = . _ : / @.
func validTagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("+-=._:/@", r) {
			return false
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token, as a header
// name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters but tab (a CR or LF would otherwise end the header).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
