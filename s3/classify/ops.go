package classify

import (
	"net/http"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// Spec is everything photogate knows about one operation it forwards. The
// proxy, policy and the index read it instead of branching on operation
// names: an operation that is not in the table is not forwarded, and a
// header that is not allowed for it is not forwarded either.
type Spec struct {
	// Action is the grant the operation needs.
	Action Action
	// Privileged is a further grant the operation itself always needs
	// (changing retention, legal holds); "" for none.
	Privileged Action
	// Public operations may be performed by unsigned callers on buckets
	// whose rule says public_read.
	Public bool
	// Headers are the groups of request headers the operation may carry to
	// the backend; every other header is dropped before re-signing.
	Headers Headers
	// Bytes says whether and how the operation puts bytes into an object,
	// so that size, type and quota rules apply to it.
	Bytes Bytes
	// Part marks the operations that add one part to a multipart upload.
	Part bool
	// Aborts marks the operation that discards a multipart upload and its
	// parts.
	Aborts bool
	// FormAuth: the request is authenticated by the signed policy in its
	// form body, not by its own signature (browser POST uploads).
	FormAuth bool
	// Index is what the index does once the backend accepted it.
	Index Effect
}

// Bytes is how an operation puts bytes into an object.
type Bytes uint8

const (
	NoBytes Bytes = iota
	// BodyBytes: the request body is the object, or one part of it.
	BodyBytes
	// CopiedBytes: an existing object version (x-amz-copy-source) is.
	CopiedBytes
	// PartBytes: the parts uploaded earlier become the object. Its
	// x-amz-checksum-* headers are the whole object's checksum, not the
	// request body's.
	PartBytes
	// DeclaredObject: no bytes yet, but the object's type and metadata are
	// declared now (CreateMultipartUpload).
	DeclaredObject
)

// UploadKind is how an operation changes what size rules and quotas count.
type UploadKind uint8

const (
	NotUpload       UploadKind = iota
	WholeObject                // one request writes one object (PUT, POST, copy)
	StartsUpload               // a multipart upload is declared
	AddsPart                   // a part is added to one
	CompletesUpload            // its parts become the object
	AbortsUpload               // it is discarded with its parts
)

// Upload derives the operation's UploadKind from its row.
func (s Spec) Upload() UploadKind {
	switch {
	case s.Aborts:
		return AbortsUpload
	case s.Part:
		return AddsPart
	case s.Bytes == PartBytes:
		return CompletesUpload
	case s.Bytes == DeclaredObject:
		return StartsUpload
	case s.Bytes == BodyBytes, s.Bytes == CopiedBytes:
		return WholeObject
	}
	return NotUpload
}

// Effect is what a successful operation changes in the index.
type Effect uint8

const (
	NoEffect Effect = iota
	// Streamed: the object was written from the body photogate streamed,
	// so it can be indexed from what passed through.
	Streamed
	// Composed: the backend composed the object (a copy, a completed
	// upload); its answer can carry an error inside a 200 and the object
	// is read back.
	Composed
	// Deleted: the key's current version is gone (or, for a version
	// delete, whatever is current now is read back).
	Deleted
	// DeletedMany: the keys listed in the body, per the backend's report.
	DeletedMany
	// Tagged and Untagged replace the key's tag set.
	Tagged
	Untagged
	// BucketGone: every record of the bucket goes.
	BucketGone
	// BucketMade: nothing to index until objects arrive, but the request
	// is audited as a change.
	BucketMade
)

// Headers is a set of header groups.
type Headers uint32

const (
	// HeaderPayload: Content-MD5 and the x-amz-checksum-* family, which
	// describe the body sent.
	HeaderPayload Headers = 1 << iota
	// HeaderConditionalRead: Range and If-* preconditions of reads.
	HeaderConditionalRead
	// HeaderConditionalWrite: If-Match / If-None-Match on writes.
	HeaderConditionalWrite
	// HeaderObject: what is stored with an object: content headers, user
	// metadata, tags, storage class and server-side encryption.
	HeaderObject
	// HeaderSSEC: server-side encryption with a customer key.
	HeaderSSEC
	// HeaderCopy: the copy source and its preconditions.
	HeaderCopy
	// HeaderCopyDirectives: whether a copy keeps or replaces metadata/tags.
	HeaderCopyDirectives
	// HeaderCopyRange: the byte range of an UploadPartCopy.
	HeaderCopyRange
	// HeaderMultipartChecksum: the checksum algorithm and type declared at
	// CreateMultipartUpload, and the object size at completion.
	HeaderMultipartChecksum
	// HeaderObjectLock: retention and legal hold set with an upload
	// (privileged: see PrivilegedHeaders).
	HeaderObjectLock
	// HeaderBypassGovernance: x-amz-bypass-governance-retention
	// (privileged).
	HeaderBypassGovernance
	// HeaderBucketCreate: object lock at bucket creation.
	HeaderBucketCreate
	// HeaderContentType: the type of a request body (XML, JSON).
	HeaderContentType
	// HeaderAttributes: which attributes GetObjectAttributes returns.
	HeaderAttributes
	// HeaderCannedACL: x-amz-acl on PutBucketAcl and PutObjectAcl, where
	// only "private" is taken (CheckHeaders), as MinIO takes only it.
	HeaderCannedACL
)

const (
	objectWrite = HeaderPayload | HeaderConditionalWrite | HeaderObject | HeaderSSEC | HeaderObjectLock | HeaderContentType
	objectRead  = HeaderConditionalRead | HeaderSSEC
	config      = HeaderPayload | HeaderContentType
)

// operations is the table of every operation photogate forwards.
var operations = map[Op]Spec{
	ListBuckets:          {Action: ActionList},
	HeadBucket:           {Action: ActionList, Public: true},
	ListObjects:          {Action: ActionList, Public: true},
	ListObjectsV2:        {Action: ActionList, Public: true},
	ListObjectVersions:   {Action: ActionList},
	ListMultipartUploads: {Action: ActionList},
	ListParts:            {Action: ActionList, Headers: HeaderSSEC},
	CreateBucket:         {Action: ActionAdmin, Headers: config | HeaderBucketCreate, Index: BucketMade},
	DeleteBucket:         {Action: ActionAdmin, Index: BucketGone},

	GetObject:  {Action: ActionRead, Public: true, Headers: objectRead},
	HeadObject: {Action: ActionRead, Public: true, Headers: objectRead},
	PutObject:  {Action: ActionWrite, Headers: objectWrite, Bytes: BodyBytes, Index: Streamed},
	// A browser upload is forwarded as a PutObject whose headers come from
	// the form's fields.
	PostObject: {Action: ActionWrite, Headers: objectWrite, Bytes: BodyBytes, Index: Streamed, FormAuth: true},
	CopyObject: {Action: ActionWrite, Headers: objectWrite | HeaderCopy | HeaderCopyDirectives,
		Bytes: CopiedBytes, Index: Composed},
	DeleteObject: {Action: ActionDelete, Headers: HeaderBypassGovernance, Index: Deleted},
	DeleteObjects: {Action: ActionDelete, Headers: HeaderPayload | HeaderContentType | HeaderBypassGovernance,
		Index: DeletedMany},

	CreateMultipartUpload: {Action: ActionWrite, Headers: objectWrite | HeaderMultipartChecksum, Bytes: DeclaredObject},
	UploadPart:            {Action: ActionWrite, Headers: HeaderPayload | HeaderSSEC, Bytes: BodyBytes, Part: true},
	UploadPartCopy: {Action: ActionWrite, Headers: HeaderSSEC | HeaderCopy | HeaderCopyRange,
		Bytes: CopiedBytes, Part: true},
	CompleteMultipartUpload: {Action: ActionWrite,
		Headers: HeaderPayload | HeaderContentType | HeaderConditionalWrite | HeaderMultipartChecksum | HeaderSSEC,
		Bytes:   PartBytes, Index: Composed},
	// Aborting frees storage and adds nothing, so the uploader may always
	// do it: a write grant suffices (an upload refused for its size must
	// not be left behind for want of a delete grant).
	AbortMultipartUpload: {Action: ActionWrite, Aborts: true},

	GetObjectTagging:    {Action: ActionRead},
	PutObjectTagging:    {Action: ActionWrite, Headers: config, Index: Tagged},
	DeleteObjectTagging: {Action: ActionDelete, Index: Untagged},
	SelectObjectContent: {Action: ActionRead, Headers: config | HeaderSSEC},

	"GetObjectAttributes": {Action: ActionRead, Headers: HeaderSSEC | HeaderAttributes},
	"GetObjectAcl":        {Action: ActionRead},
	"PutObjectAcl":        {Action: ActionWrite, Headers: config | HeaderCannedACL},
	"GetObjectRetention":  {Action: ActionRead},
	"PutObjectRetention":  {Action: ActionWrite, Privileged: ActionRetention, Headers: config | HeaderBypassGovernance},
	"GetObjectLegalHold":  {Action: ActionRead},
	"PutObjectLegalHold":  {Action: ActionWrite, Privileged: ActionLegalHold, Headers: config},
	"RestoreObject":       {Action: ActionWrite, Headers: config},
}

func init() {
	// Bucket configuration is administration; its bodies are XML or JSON
	// documents and nothing else.
	for _, ops := range bucketSubresources {
		for _, op := range ops {
			if op != "" {
				operations[op] = Spec{Action: ActionAdmin, Headers: config}
			}
		}
	}
	// Object lock can make data undeletable for years: configuring it is
	// administration and a retention decision at once.
	lock := operations["PutObjectLockConfiguration"]
	lock.Privileged = ActionRetention
	operations["PutObjectLockConfiguration"] = lock
	acl := operations["PutBucketAcl"]
	acl.Headers |= HeaderCannedACL
	operations["PutBucketAcl"] = acl
}

// Spec returns what the table says of o. Classify only names operations
// that are in the table; the zero Spec of an unknown name needs the admin
// grant and may carry no headers.
func (o Op) Spec() Spec {
	if s, ok := operations[o]; ok {
		return s
	}
	return Spec{Action: ActionAdmin}
}

// Action returns the access o needs.
func (o Op) Action() Action { return o.Spec().Action }

// Mutates reports whether a successful o changes which objects or buckets
// exist or what objects contain or are tagged with.
func (o Op) Mutates() bool { return o.Spec().Index != NoEffect }

// Operations lists the table, for documentation and tests.
func Operations() map[Op]Spec {
	out := make(map[Op]Spec, len(operations))
	for k, v := range operations {
		out[k] = v
	}
	return out
}

// headerGroups maps canonical header names to their group. Prefix groups
// (x-amz-meta-*, x-amz-checksum-*, ...) are in headerPrefixes.
var headerGroups = map[string]Headers{
	"Content-Md5":                  HeaderPayload,
	"X-Amz-Sdk-Checksum-Algorithm": HeaderPayload,

	"Range":               HeaderConditionalRead,
	"If-Match":            HeaderConditionalRead | HeaderConditionalWrite,
	"If-None-Match":       HeaderConditionalRead | HeaderConditionalWrite,
	"If-Modified-Since":   HeaderConditionalRead,
	"If-Unmodified-Since": HeaderConditionalRead,
	"X-Amz-Checksum-Mode": HeaderConditionalRead,

	"Content-Type":        HeaderObject | HeaderContentType,
	"Content-Encoding":    HeaderObject,
	"Content-Disposition": HeaderObject,
	"Content-Language":    HeaderObject,
	"Cache-Control":       HeaderObject,
	"Expires":             HeaderObject,
	"X-Amz-Tagging":       HeaderObject,
	"X-Amz-Storage-Class": HeaderObject,

	"X-Amz-Server-Side-Encryption":                    HeaderObject,
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id":     HeaderObject,
	"X-Amz-Server-Side-Encryption-Context":            HeaderObject,
	"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled": HeaderObject,

	"X-Amz-Server-Side-Encryption-Customer-Algorithm": HeaderSSEC,
	"X-Amz-Server-Side-Encryption-Customer-Key":       HeaderSSEC,
	"X-Amz-Server-Side-Encryption-Customer-Key-Md5":   HeaderSSEC,

	"X-Amz-Copy-Source":                                           HeaderCopy,
	"X-Amz-Copy-Source-If-Match":                                  HeaderCopy,
	"X-Amz-Copy-Source-If-None-Match":                             HeaderCopy,
	"X-Amz-Copy-Source-If-Modified-Since":                         HeaderCopy,
	"X-Amz-Copy-Source-If-Unmodified-Since":                       HeaderCopy,
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm": HeaderCopy,
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key":       HeaderCopy,
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5":   HeaderCopy,
	"X-Amz-Metadata-Directive":                                    HeaderCopyDirectives,
	"X-Amz-Tagging-Directive":                                     HeaderCopyDirectives,
	"X-Amz-Copy-Source-Range":                                     HeaderCopyRange,

	"X-Amz-Checksum-Algorithm": HeaderMultipartChecksum,
	"X-Amz-Checksum-Type":      HeaderMultipartChecksum | HeaderPayload,
	"X-Amz-Mp-Object-Size":     HeaderMultipartChecksum,

	"X-Amz-Object-Lock-Mode":              HeaderObjectLock,
	"X-Amz-Object-Lock-Retain-Until-Date": HeaderObjectLock,
	"X-Amz-Object-Lock-Legal-Hold":        HeaderObjectLock,

	"X-Amz-Bypass-Governance-Retention": HeaderBypassGovernance,

	"X-Amz-Bucket-Object-Lock-Enabled": HeaderBucketCreate,

	"X-Amz-Acl": HeaderCannedACL,

	"X-Amz-Object-Attributes":  HeaderAttributes,
	"X-Amz-Max-Parts":          HeaderAttributes,
	"X-Amz-Part-Number-Marker": HeaderAttributes,
}

// headerPrefixes are header families; the checksum values describe a
// body (or, at completion, the whole object).
var headerPrefixes = []struct {
	prefix string
	group  Headers
}{
	{"X-Amz-Meta-", HeaderObject},
	{"X-Amz-Checksum-", HeaderPayload},
}

// neutralHeaders carry nothing the backend acts on differently per caller;
// they pass with every operation.
var neutralHeaders = map[string]bool{
	"User-Agent": true, "Accept": true,
}

// HeaderAllowed reports whether a request header named name (canonical
// form) may be forwarded with o. Framing and authentication headers are
// not the table's business: the proxy consumes and rewrites those.
func (o Op) HeaderAllowed(name string) bool {
	if neutralHeaders[name] {
		return true
	}
	allowed := o.Spec().Headers
	if g, ok := headerGroups[name]; ok {
		return allowed&g != 0
	}
	for _, p := range headerPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return allowed&p.group != 0
		}
	}
	return false
}

// cannedACLs are S3's canned ACL names: one of them that photogate does not
// take is NotImplemented, anything else is a bad request.
var cannedACLs = map[string]bool{
	"private": true, "public-read": true, "public-read-write": true, "aws-exec-read": true,
	"authenticated-read": true, "bucket-owner-read": true, "bucket-owner-full-control": true,
	"log-delivery-write": true,
}

// backendControlMeta reports the user-metadata names MinIO acts on rather
// than stores. With x-amz-meta-snowball-auto-extract: true MinIO unpacks a
// PUT's body as a tar archive into objects named by the archive, past
// every key grant, type rule, quota and index photogate keeps, and it
// checks the body's Content-MD5 and checksum only after it has stored
// them. x-amz-meta-minio-* are MinIO's other controls (the snowball
// options, object-perf's bypass of a service freeze).
func backendControlMeta(name string) bool {
	// Every PUT's headers pass here: compare without lower-casing copies.
	const meta = "x-amz-meta-"
	if len(name) < len(meta) || !strings.EqualFold(name[:len(meta)], meta) {
		return false
	}
	rest := name[len(meta):]
	return len(rest) >= len("minio-") && strings.EqualFold(rest[:len("minio-")], "minio-") ||
		containsFold(rest, "snowball")
}

// containsFold reports whether s contains the lower-case ASCII word sub in
// any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// CheckHeaders refuses headers an operation cannot honour, where dropping
// them would quietly do something else than the client asked:
//   - on operations that take object metadata, the metadata names the
//     backend acts on (backendControlMeta): S3 would store them, MinIO
//     would unpack archives or lift limits;
//   - on PutBucketAcl and PutObjectAcl, a canned ACL other than "private" or
//     an x-amz-grant-* header: photogate grants access by its own policy,
//     and MinIO implements no other ACL. Elsewhere ACL headers are dropped,
//     as MinIO ignores them;
//   - on GetObject and HeadObject, the SSE-S3/SSE-KMS headers of an
//     upload: a read cannot choose how an object is encrypted, and S3 and
//     MinIO answer 400.
func (o Op) CheckHeaders(h http.Header) error {
	if o.Spec().Headers&HeaderObject != 0 {
		for name := range h {
			if backendControlMeta(name) {
				return s3err.New(s3err.NotImplemented, strings.ToLower(name)+
					" is not supported: the storage backend acts on this metadata name instead of storing it.")
			}
		}
	}
	switch {
	case o.Spec().Headers&HeaderCannedACL != 0:
		if acl, ok := h["X-Amz-Acl"]; ok && (len(acl) != 1 || acl[0] != "private") {
			if len(acl) != 1 || !cannedACLs[acl[0]] {
				return s3err.New(s3err.InvalidArgument, "x-amz-acl is not a canned ACL.")
			}
			return s3err.New(s3err.NotImplemented, "Only the canned ACL \"private\" is supported.")
		}
		for name := range h {
			if strings.HasPrefix(name, "X-Amz-Grant-") {
				return s3err.New(s3err.NotImplemented, "Access control grants ("+strings.ToLower(name)+") are not supported; photogate's policy grants access.")
			}
		}
	case o == GetObject || o == HeadObject:
		for name := range h {
			if strings.HasPrefix(name, "X-Amz-Server-Side-Encryption") && headerGroups[name] == HeaderObject {
				return s3err.New(s3err.InvalidArgument, strings.ToLower(name)+" is not supported for reads: an object's encryption is chosen when it is written.")
			}
		}
	}
	return nil
}

// PrivilegedActions lists the grants the request's headers need beyond the
// operation's own: bypassing governance retention, setting retention, or a
// legal hold. Only headers the operation may carry are considered; the
// others are dropped anyway.
func (o Op) PrivilegedActions(h http.Header) []Action {
	var need []Action
	if p := o.Spec().Privileged; p != "" {
		need = append(need, p)
	}
	allowed := o.Spec().Headers
	if allowed&HeaderBypassGovernance != 0 && strings.EqualFold(strings.TrimSpace(h.Get("X-Amz-Bypass-Governance-Retention")), "true") {
		need = append(need, ActionBypassGovernance)
	}
	if allowed&HeaderObjectLock != 0 {
		if h.Get("X-Amz-Object-Lock-Mode") != "" || h.Get("X-Amz-Object-Lock-Retain-Until-Date") != "" {
			need = append(need, ActionRetention)
		}
		if h.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
			need = append(need, ActionLegalHold)
		}
	}
	return need
}
