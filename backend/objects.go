package backend

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3xml"
	"github.com/photogate/photogate/s3/sigv4"
)

// The typed read calls below are plain S3 requests sent through Do, so that
// the index's reads share the proxy's connection pool, breaker, retries and
// metrics (each labelled with its S3 operation name): a backend the index
// finds failing opens the same breaker the proxy's clients see.

// Limits on the XML documents the typed calls read, far above what S3 sends
// (a ListObjectsV2 page is 1000 keys of at most 1024 bytes, URL-encoded).
const (
	maxListingBytes = 16 << 20
	maxErrorBytes   = 64 << 10
	listPageSize    = "1000"
)

// Object is what the backend says about one object.
type Object struct {
	Key          string
	Size         int64
	ETag         string // without quotes
	VersionID    string
	ContentType  string
	LastModified time.Time // UTC
	UserMeta     map[string]string
}

// Stat asks the backend about an object (HeadObject); ok is false when it
// or its bucket does not exist. UserMeta keys are lower case, without the
// x-amz-meta- prefix.
func (b *Backend) Stat(ctx context.Context, bucket, key string) (obj Object, ok bool, err error) {
	return b.StatVersion(ctx, bucket, key, "")
}

// StatVersion is Stat of one version of an object ("": the current one);
// a version that is a delete marker does not exist either.
func (b *Backend) StatVersion(ctx context.Context, bucket, key, versionID string) (obj Object, ok bool, err error) {
	resp, err := b.send(ctx, classify.HeadObject, http.MethodHead, objectPath(bucket, key), versionQuery(versionID), nil)
	if err != nil {
		return Object{}, false, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound,
		resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("X-Amz-Delete-Marker") == "true":
		return Object{}, false, nil
	default:
		return Object{}, false, fmt.Errorf("stat %s/%s: %w", bucket, key, answerErr(classify.HeadObject, resp))
	}
	obj, err = objectFromHeader(key, resp)
	if err != nil {
		return Object{}, false, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	return obj, true, nil
}

// versionQuery is the query that names a version, nil for the current one.
func versionQuery(versionID string) url.Values {
	if versionID == "" {
		return nil
	}
	return url.Values{"versionId": {versionID}}
}

func objectFromHeader(key string, resp *http.Response) (Object, error) {
	h := resp.Header
	obj := Object{
		Key:         key,
		Size:        resp.ContentLength,
		ETag:        strings.Trim(h.Get("ETag"), `"`),
		VersionID:   h.Get("X-Amz-Version-Id"),
		ContentType: h.Get("Content-Type"),
	}
	if obj.Size < 0 {
		return Object{}, errors.New("answer without Content-Length")
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		t, err := http.ParseTime(lm)
		if err != nil {
			return Object{}, fmt.Errorf("Last-Modified %q: %w", lm, err)
		}
		obj.LastModified = t.UTC()
	}
	for name, values := range h {
		meta, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-")
		if !ok || len(values) == 0 {
			continue
		}
		if obj.UserMeta == nil {
			obj.UserMeta = map[string]string{}
		}
		obj.UserMeta[meta] = values[0]
	}
	return obj, nil
}

// Head reads the first n bytes of an object (fewer when it is shorter; none
// when it is empty).
func (b *Backend) Head(ctx context.Context, bucket, key string, n int64) ([]byte, error) {
	return b.ReadVersion(ctx, bucket, key, "", 0, n)
}

// ReadVersion reads up to n bytes from offset of one version of an object
// ("": the current one): fewer when it ends sooner, none from offset on.
func (b *Backend) ReadVersion(ctx context.Context, bucket, key, versionID string, offset, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	data, err := b.readRange(ctx, bucket, key, versionID, offset, n, "")
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return data, nil
}

// readRange reads up to n bytes of an object version from off, with a
// ranged GetObject; etag, when not "", must still be the object's. An
// offset at or past the end reads nothing.
func (b *Backend) readRange(ctx context.Context, bucket, key, versionID string, off, n int64, etag string) ([]byte, error) {
	header := http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, off+n-1)}}
	if etag != "" {
		header.Set("If-Match", `"`+etag+`"`)
	}
	resp, err := b.send(ctx, classify.GetObject, http.MethodGet, objectPath(bucket, key), versionQuery(versionID), header)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		// A backend that ignores Range sends the whole object: skip to off.
		if _, err := io.CopyN(io.Discard, resp.Body, off); errors.Is(err, io.EOF) {
			return nil, nil // off is past the end
		} else if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return nil, nil
	case http.StatusPreconditionFailed:
		return nil, fmt.Errorf("object changed while being read (ETag no longer %s)", etag)
	default:
		return nil, answerErr(classify.GetObject, resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, n))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return data, nil
}

// Open returns a reader over an object that fetches each ReadAt with a
// ranged GetObject, pinned to the object's current ETag so that a
// concurrent overwrite fails the read instead of mixing two versions.
// ctx bounds every read. An object that does not exist is an error.
func (b *Backend) Open(ctx context.Context, bucket, key string) (io.ReaderAt, error) {
	obj, ok, err := b.Stat(ctx, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("open %s/%s: no such object", bucket, key)
	}
	return b.OpenStatted(ctx, bucket, obj), nil
}

// OpenStatted is Open of an object the caller has just stat'ed: obj's Size
// and ETag, without asking again.
func (b *Backend) OpenStatted(ctx context.Context, bucket string, obj Object) io.ReaderAt {
	return &objectReader{b: b, ctx: ctx, bucket: bucket, key: obj.Key, size: obj.Size, etag: obj.ETag}
}

// objectReader is Open's io.ReaderAt. It keeps Open's context because
// io.ReaderAt has no place for one.
type objectReader struct {
	b           *Backend
	ctx         context.Context
	bucket, key string
	size        int64
	etag        string
}

func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s/%s: negative offset %d", r.bucket, r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	if want == 0 {
		return 0, nil
	}
	data, err := r.b.readRange(r.ctx, r.bucket, r.key, "", off, want, r.etag)
	if err != nil {
		return 0, fmt.Errorf("read %s/%s at %d: %w", r.bucket, r.key, off, err)
	}
	n := copy(p, data)
	if int64(n) < want {
		return n, fmt.Errorf("read %s/%s at %d: %w", r.bucket, r.key, off, io.ErrUnexpectedEOF)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Tags returns an object's tags (GetObjectTagging): none when the object
// is gone or the backend has no tagging (the embedded one).
func (b *Backend) Tags(ctx context.Context, bucket, key string) (map[string]string, error) {
	body, err := b.document(ctx, classify.GetObjectTagging, objectPath(bucket, key), url.Values{"tagging": {""}},
		http.StatusNotFound, http.StatusNotImplemented)
	if err != nil {
		return nil, fmt.Errorf("tags %s/%s: %w", bucket, key, err)
	}
	if body == nil {
		return nil, nil
	}
	tags, err := s3xml.ParseTagging(body)
	if err != nil {
		return nil, fmt.Errorf("tags %s/%s: %w", bucket, key, err)
	}
	return tags, nil
}

// BucketExists asks the backend whether bucket exists (HeadBucket).
func (b *Backend) BucketExists(ctx context.Context, bucket string) (bool, error) {
	resp, err := b.send(ctx, classify.HeadBucket, http.MethodHead, objectPath(bucket, ""), nil, nil)
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("bucket %s: %w", bucket, answerErr(classify.HeadBucket, resp))
}

// Buckets lists the names of the backend's buckets (ListBuckets).
func (b *Backend) Buckets(ctx context.Context) ([]string, error) {
	body, err := b.document(ctx, classify.ListBuckets, "/", nil)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	var result struct {
		Buckets []struct {
			Name string `xml:"Name"`
		} `xml:"Buckets>Bucket"`
	}
	if err := xml.Unmarshal(body, &result); err != nil {
		return nil, fmt.Errorf("list buckets: parse ListAllMyBucketsResult: %w", err)
	}
	names := make([]string, len(result.Buckets))
	for i, bucket := range result.Buckets {
		names[i] = bucket.Name
	}
	return names, nil
}

// listPage is one page of a ListObjectsV2 answer requested with
// encoding-type=url (keys may hold characters XML cannot carry).
type listPage struct {
	Contents []struct {
		Key          string    `xml:"Key"`
		Size         int64     `xml:"Size"`
		ETag         string    `xml:"ETag"`
		LastModified time.Time `xml:"LastModified"`
	} `xml:"Contents"`
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	EncodingType          string `xml:"EncodingType"`
}

// List calls fn for every object in bucket, in key order (ListObjectsV2,
// a page of 1000 at a time). An error from fn stops the listing and is
// returned as is.
func (b *Backend) List(ctx context.Context, bucket string, fn func(Object) error) error {
	return b.ListPrefix(ctx, bucket, "", fn)
}

// ListPrefix is List of the objects whose keys start with prefix.
func (b *Backend) ListPrefix(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "max-keys": {listPageSize}, "encoding-type": {"url"}}
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if token != "" {
			q.Set("continuation-token", token)
		}
		body, err := b.document(ctx, classify.ListObjectsV2, objectPath(bucket, ""), q)
		if err != nil {
			return fmt.Errorf("list %s: %w", bucket, err)
		}
		var page listPage
		if err := xml.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("list %s: parse ListBucketResult: %w", bucket, err)
		}
		for _, c := range page.Contents {
			key := c.Key
			if page.EncodingType == "url" {
				if key, err = url.QueryUnescape(c.Key); err != nil {
					return fmt.Errorf("list %s: key %q: %w", bucket, c.Key, err)
				}
			}
			obj := Object{Key: key, Size: c.Size, ETag: strings.Trim(c.ETag, `"`), LastModified: c.LastModified.UTC()}
			if err := fn(obj); err != nil {
				return err
			}
		}
		if !page.IsTruncated {
			return nil
		}
		if page.NextContinuationToken == "" || page.NextContinuationToken == token {
			return fmt.Errorf("list %s: truncated page without a new continuation token", bucket)
		}
		token = page.NextContinuationToken
	}
}

// send sends a bodiless request for op through Do. path is unescaped
// ("/bucket/key"); the caller closes the response body.
func (b *Backend) send(ctx context.Context, op classify.Op, method, path string, query url.Values, header http.Header) (*http.Response, error) {
	if header == nil {
		header = http.Header{}
	}
	// RawPath is S3's own encoding, the one the signer puts in the
	// canonical request, so that what is sent is what was signed.
	u := &url.URL{Path: path, RawPath: s3utils.EncodePath(path)}
	if query != nil {
		u.RawQuery = query.Encode() // the signer puts it in canonical order
	}
	req := &http.Request{Method: method, URL: u, Header: header}
	return b.Do(observe.WithOperation(ctx, string(op)), req, sigv4.EmptySHA256, nil, nil)
}

// document GETs a small XML document. An answer whose status is in absent
// comes back as a nil document; any other but 200 is an error.
func (b *Backend) document(ctx context.Context, op classify.Op, path string, query url.Values, absent ...int) ([]byte, error) {
	resp, err := b.send(ctx, op, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	for _, status := range absent {
		if resp.StatusCode == status {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
			return nil, nil
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, answerErr(op, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListingBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", op, err)
	}
	if len(body) > maxListingBytes {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", op, maxListingBytes)
	}
	return body, nil
}

// objectPath is the path-style path of an object, or of a bucket when key
// is "".
func objectPath(bucket, key string) string {
	if key == "" {
		return "/" + bucket
	}
	return "/" + bucket + "/" + key
}

// AnswerError is an answer of the backend that the typed calls do not
// expect: its status and, when it sent one, its S3 error code.
type AnswerError struct {
	Op      string // S3 operation, e.g. HeadObject
	Status  int
	Code    string // e.g. AccessDenied; "" for answers without a body (HEAD)
	Message string
}

func (e *AnswerError) Error() string {
	msg := "backend answered " + e.Op + " with " + strconv.Itoa(e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// answerErr reads the S3 error document of resp, if any, into an
// AnswerError.
func answerErr(op classify.Op, resp *http.Response) error {
	e := &AnswerError{Op: string(op), Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) == nil {
		e.Code, e.Message = doc.Code, doc.Message
	}
	return e
}
