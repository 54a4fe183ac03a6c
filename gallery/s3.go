package gallery

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/s3/classify"
)

// The gallery's writes are S3 requests signed with the user's own key and
// handed to the S3 handler in this process: the same authentication,
// policy, checks on bytes and index updates as for any client, and no
// path around them.

// presignedGet is a short-lived URL that downloads the original from the
// S3 listener, signed with the user's key.
func (h *handler) presignedGet(r *http.Request, u *user, bucket, key string) (string, error) {
	base, err := h.s3Base(r)
	if err != nil {
		return "", err
	}
	path := "/" + bucket + "/" + key
	target := *base
	target.Path, target.RawPath = path, s3utils.EncodePath(path)
	name := key[strings.LastIndexByte(key, '/')+1:]
	target.RawQuery = url.Values{"response-content-disposition": {contentDisposition(name)}}.Encode()
	req, err := http.NewRequest(http.MethodGet, target.String(), nil)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", path, err)
	}
	signed := signer.PreSignV4(*req, u.session.accessKey, u.secret, "", h.cfg.Region, int64(downloadTTL/time.Second))
	return signed.URL.String(), nil
}

// contentDisposition names the download; RFC 6266's filename* carries any
// key, the plain filename an ASCII fallback.
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, url.PathEscape(name))
}

// s3Do hands one signed request to the S3 handler and returns its answer.
// path is the unescaped "/bucket/key": it is set on the URL as it is, never
// parsed, so a key holding '?', '#' or '%' names that key.
func (h *handler) s3Do(r *http.Request, u *user, method, path, rawQuery string, body []byte) *http.Response {
	target := &url.URL{Scheme: "http", Host: h.cfg.S3Host, Path: path, RawPath: s3utils.EncodePath(path), RawQuery: rawQuery}
	req := (&http.Request{
		Method: method, URL: target, Host: target.Host, Header: http.Header{},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		RemoteAddr: r.RemoteAddr, RequestURI: target.RequestURI(),
	}).WithContext(r.Context())
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if len(body) > 0 {
		md := md5.Sum(body)
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(md[:]))
		req.Header.Set("Content-Type", "application/xml")
	}
	signed := signer.SignV4(*req, u.session.accessKey, u.secret, "", h.cfg.Region)
	signed.RequestURI = req.RequestURI
	answer := &bufferedAnswer{header: http.Header{}}
	h.cfg.S3.ServeHTTP(answer, signed)
	return &http.Response{StatusCode: answer.statusCode(), Header: answer.header, Body: io.NopCloser(&answer.body)}
}

// bufferedAnswer keeps what the S3 handler answers an in-process request.
// Those answers (tagging, bucket creation, a user's bucket list) are
// small; the body is bounded anyway.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

const maxBufferedAnswer = 8 << 20

func (a *bufferedAnswer) Header() http.Header { return a.header }

func (a *bufferedAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *bufferedAnswer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if a.body.Len()+len(p) > maxBufferedAnswer {
		return 0, errors.New("gallery: the S3 handler's answer is too large")
	}
	return a.body.Write(p)
}

func (a *bufferedAnswer) statusCode() int { return cmp.Or(a.status, http.StatusOK) }

// s3Error is the part of an S3 error document the page shows.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// s3Refusal is the S3 handler's refusal of an in-process request (a
// SlowDown, say), to be answered to the page as it is.
type s3Refusal struct {
	status        int
	code, message string
}

func (e *s3Refusal) Error() string { return fmt.Sprintf("S3 %d %s: %s", e.status, e.code, e.message) }

func refusalOf(resp *http.Response) *s3Refusal {
	var e s3Error
	_ = xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	if e.Code == "" {
		e.Code, e.Message = http.StatusText(resp.StatusCode), "the S3 handler refused the request"
	}
	return &s3Refusal{status: resp.StatusCode, code: e.Code, message: e.Message}
}

// relayS3Error answers with the S3 handler's refusal, as the JSON error
// the page reads.
func relayS3Error(w http.ResponseWriter, resp *http.Response) {
	e := refusalOf(resp)
	writeError(w, e.status, e.code, e.message)
}

// listBuckets asks the S3 handler for the user's ListBuckets (which leaves
// photogate's own buckets out).
func (h *handler) listBuckets(r *http.Request, u *user) ([]string, error) {
	resp := h.s3Do(r, u, http.MethodGet, "/", "", nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, refusalOf(resp)
	}
	var doc struct {
		Names []string `xml:"Buckets>Bucket>Name"`
	}
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return doc.Names, nil
}

// createBucket makes a bucket through CreateBucket, so a new user of the
// gallery has somewhere to upload to.
func (h *handler) createBucket(w http.ResponseWriter, r *http.Request, u *user) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil || in.Name == "" || strings.ContainsAny(in.Name, "/?#") {
		writeError(w, http.StatusBadRequest, "InvalidBucketName", "want a JSON body with the bucket's name")
		return
	}
	resp := h.s3Do(r, u, http.MethodPut, "/"+in.Name, "", nil)
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		relayS3Error(w, resp)
		return
	}
	h.whoAmI(w, r, u)
}

// tagsRequest is the body of PUT /gallery/api/tags.
type tagsRequest struct {
	Bucket string            `json:"bucket"`
	Key    string            `json:"key"`
	Tags   map[string]string `json:"tags"`
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Tags    []tag    `xml:"TagSet>Tag"`
}

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// putTags replaces a photo's tags through PutObjectTagging, so the policy
// decides and the index follows as for any client; the answer is the
// photo as the index now has it.
func (h *handler) putTags(w http.ResponseWriter, r *http.Request, u *user) {
	var in tagsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil || in.Bucket == "" || in.Key == "" {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "want a JSON body with bucket, key and tags")
		return
	}
	if !u.canRead(in.Bucket) {
		h.forbidden(w, in.Bucket)
		return
	}
	doc := tagging{Tags: []tag{}}
	for _, k := range slices.Sorted(maps.Keys(in.Tags)) {
		doc.Tags = append(doc.Tags, tag{Key: k, Value: in.Tags[k]})
	}
	body, err := xml.Marshal(doc)
	if err != nil {
		h.fail(w, r, "tags", err)
		return
	}
	method, query := http.MethodPut, "tagging="
	if len(doc.Tags) == 0 {
		method, body = http.MethodDelete, nil
	}
	resp := h.s3Do(r, u, method, "/"+in.Bucket+"/"+in.Key, query, body)
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		relayS3Error(w, resp)
		return
	}
	rec, found, err := h.cfg.Index.Get(r.Context(), in.Bucket, in.Key)
	if err != nil || !found {
		h.fail(w, r, "tags", cmp.Or(err, errors.New("the photo left the index after its tags were written")))
		return
	}
	writeJSON(w, http.StatusOK, api.ItemFromRecord(&rec))
}

// uploadFormRequest is the body of POST /gallery/api/upload-form.
type uploadFormRequest struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
}

// uploadForm is a browser POST-policy upload form for the user: the
// fields to send with each file, signed with the user's key.
type uploadForm struct {
	URL     string            `json:"url"`
	Prefix  string            `json:"prefix"` // every key must start with it
	Fields  map[string]string `json:"fields"`
	Expires time.Time         `json:"expires"`
}

// uploadFormTTL bounds how long a page may keep uploading with one form.
const uploadFormTTL = 30 * time.Minute

// maxUploadSize is S3's largest single POST; photogate's size policy may
// set a lower one, which the S3 handler enforces.
const maxUploadSize = 5 << 30

func (h *handler) uploadForm(w http.ResponseWriter, r *http.Request, u *user) {
	var in uploadFormRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil || in.Bucket == "" {
		writeError(w, http.StatusBadRequest, "MalformedRequest", "want a JSON body with bucket and prefix")
		return
	}
	if !u.canRead(in.Bucket) || u.caller.Authorize(classify.PutObject, in.Bucket, "") != nil {
		writeError(w, http.StatusForbidden, "AccessDenied", "you have no grant to upload into bucket "+strconv.Quote(in.Bucket))
		return
	}
	now := h.cfg.Now().UTC()
	expires := now.Add(uploadFormTTL)
	amzDate := now.Format("20060102T150405Z")
	credential := u.session.accessKey + "/" + now.Format("20060102") + "/" + h.cfg.Region + "/s3/aws4_request"
	policy := map[string]any{
		"expiration": expires.Format("2006-01-02T15:04:05.000Z"),
		"conditions": []any{
			map[string]string{"bucket": in.Bucket},
			[]any{"starts-with", "$key", in.Prefix},
			[]any{"starts-with", "$Content-Type", ""},
			[]any{"content-length-range", 1, maxUploadSize},
			map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
			map[string]string{"x-amz-credential": credential},
			map[string]string{"x-amz-date": amzDate},
		},
	}
	doc, err := json.Marshal(policy)
	if err != nil {
		h.fail(w, r, "upload-form", err)
		return
	}
	encoded := base64.StdEncoding.EncodeToString(doc)
	writeJSON(w, http.StatusOK, uploadForm{
		URL:    Prefix + "upload/" + url.PathEscape(in.Bucket),
		Prefix: in.Prefix,
		Fields: map[string]string{
			"policy":           encoded,
			"x-amz-algorithm":  "AWS4-HMAC-SHA256",
			"x-amz-credential": credential,
			"x-amz-date":       amzDate,
			"x-amz-signature":  signer.PostPresignSignatureV4(encoded, now, u.secret, h.cfg.Region),
		},
		Expires: expires,
	})
}

// upload hands a browser's POST-policy upload to the S3 handler as the
// POST to the bucket it is: the form's policy and signature authenticate
// it there, and its answer (204, or an S3 error document) goes back to the
// page as is. The body streams through; nothing is buffered.
func (h *handler) upload(w http.ResponseWriter, r *http.Request, u *user) {
	bucket := r.PathValue("bucket")
	if !u.canRead(bucket) {
		h.forbidden(w, bucket)
		return
	}
	out := r.Clone(r.Context())
	out.Host = h.cfg.S3Host
	out.URL = &url.URL{Path: "/" + bucket, RawPath: s3utils.EncodePath("/" + bucket)}
	out.RequestURI = out.URL.RequestURI()
	// The session belongs to the gallery, not to the S3 request.
	out.Header.Del("Cookie")
	out.Header.Del("X-CSRF-Token")
	h.cfg.S3.ServeHTTP(w, out)
}
