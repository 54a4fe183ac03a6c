package embedded

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/photogate/photogate/s3/s3req"
)

// handler sits in front of gofakes3. It answers multipart uploads and
// copies itself, prepares PUT bodies (aws-chunked decoding, checksums) and
// GET/HEAD responses (multipart ETags, conditional requests) around
// gofakes3, refuses subresources gofakes3 would misread as plain object or
// bucket operations, and passes everything else through unchanged.
type handler struct {
	fake  http.Handler
	store *store
	mp    *multipart
	log   *slog.Logger

	reqBase uint64
	reqSeq  atomic.Uint64

	// A CompleteMultipartUpload taking longer than keepaliveAfter commits to
	// 200 and then sends a space every keepaliveEvery until the result, as
	// S3 does, so that photogate's response-header timeout does not fire
	// while a large object is assembled.
	keepaliveAfter time.Duration
	keepaliveEvery time.Duration
}

func newHandler(fake http.Handler, st *store, mp *multipart, log *slog.Logger, reqBase uint64, tune tuning) *handler {
	return &handler{
		fake: fake, store: st, mp: mp, log: log, reqBase: reqBase,
		keepaliveAfter: tune.keepaliveAfter,
		keepaliveEvery: tune.keepaliveEvery,
	}
}

// unsupportedSubresource reports query parameters naming S3 subresources
// gofakes3 does not implement. Its router ignores unknown parameters, so
// without this check "PUT /b/k?tagging" would overwrite the object with the
// tagging XML, "DELETE /b/k?tagging" would delete the object, and
// "DELETE /b?policy" would delete an empty bucket.
func unsupportedSubresource(q url.Values) string {
	for k := range q {
		switch k {
		case "acl", "attributes", "policy", "policyStatus", "lifecycle", "cors", "tagging",
			"encryption", "object-lock", "notification", "replication", "website",
			"logging", "accelerate", "requestPayment", "analytics", "metrics",
			"inventory", "intelligent-tiering", "ownershipControls", "publicAccessBlock",
			"retention", "legal-hold", "torrent", "restore", "select", "append":
			return k
		}
	}
	return ""
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()

	if sub := unsupportedSubresource(q); sub != "" && bucket != "" {
		h.writeError(w, r, errNotImplemented("the ?"+sub+" subresource"))
		return
	}
	// Multipart routes first, with gofakes3's precedence: uploadId, then
	// uploads. None of them may reach gofakes3's in-memory uploader.
	if _, ok := q["uploadId"]; ok && bucket != "" {
		id := q.Get("uploadId")
		switch {
		case key == "":
			h.writeError(w, r, errNoSuchUpload())
		case r.Method == http.MethodPut:
			h.uploadPart(w, r, bucket, key, id)
		case r.Method == http.MethodPost:
			h.completeUpload(w, r, bucket, key, id)
		case r.Method == http.MethodDelete:
			h.abortUpload(w, r, bucket, key, id)
		case r.Method == http.MethodGet:
			h.listParts(w, r, bucket, key, id)
		default:
			h.writeError(w, r, gofakes3.ErrMethodNotAllowed)
		}
		return
	}
	if _, ok := q["uploads"]; ok && bucket != "" {
		switch {
		case r.Method == http.MethodPost && key != "":
			h.createUpload(w, r, bucket, key)
		case r.Method == http.MethodGet && key == "":
			h.listUploads(w, r, bucket)
		default:
			h.writeError(w, r, gofakes3.ErrMethodNotAllowed)
		}
		return
	}
	_, versioning := q["versioning"]
	_, versions := q["versions"]
	versionID := q.Get("versionId")
	plainObject := key != "" && !versioning && !versions && (versionID == "" || versionID == "null")
	if plainObject {
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				h.copyObject(w, r, bucket, key)
			} else {
				h.putObject(w, r, bucket, key)
			}
			return
		case http.MethodGet, http.MethodHead:
			h.getObject(w, r)
			return
		}
	}
	h.fake.ServeHTTP(w, r)
}

// ---- plain objects, around gofakes3 ----

func (h *handler) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if err := checkKey(key); err != nil {
		h.writeError(w, r, err)
		return
	}
	if s3req.MetadataBytes(r.Header) > s3req.MaxUserMetadata {
		h.writeError(w, r, gofakes3.ErrMetadataTooLarge)
		return
	}
	// gofakes3 checks Content-MD5 itself (on the decoded body, which is
	// what it covers).
	body, err := decodeBody(r, false)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rewriteDecodedHeaders(r, body)
	carryHeaders(r.Header)
	h.fake.ServeHTTP(w, r)
}

// getObject serves GET/HEAD through gofakes3 but owns the conditional
// headers: gofakes3 compares If-None-Match only with the hex MD5 ETag and
// ignores If-Match and If-Unmodified-Since. The conditions are evaluated
// against the headers of the very response gofakes3 produces, so they
// describe exactly the version being sent.
func (h *handler) getObject(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if pn := q.Get("partNumber"); pn != "" {
		// Part boundaries of completed uploads are not kept, so every object
		// reads as a single part: part 1 is the whole object (what S3 does
		// for objects uploaded in one piece) and there is no part 2.
		if n, err := strconv.Atoi(pn); err != nil || n < 1 || n > maxPartNumber {
			h.writeError(w, r, gofakes3.ErrorInvalidArgument("partNumber", pn, "Part number must be an integer between 1 and 10000, inclusive"))
			return
		} else if n > 1 {
			h.writeError(w, r, errInvalidPartNumber())
			return
		}
		q.Del("partNumber")
		r.URL.RawQuery = q.Encode()
	}
	cw := &condWriter{w: w, r: r, h: h,
		ifMatch:     r.Header.Get("If-Match"),
		ifNoneMatch: r.Header.Get("If-None-Match"),
	}
	if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil {
		cw.ifModifiedSince = t
	}
	if t, err := http.ParseTime(r.Header.Get("If-Unmodified-Since")); err == nil {
		cw.ifUnmodifiedSince = t
	}
	for _, name := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		r.Header.Del(name)
	}
	h.fake.ServeHTTP(cw, r)
	cw.finish()
}

// condWriter decides, when gofakes3 starts its response, whether the
// request's preconditions let it through, and fixes the ETag header.
type condWriter struct {
	w http.ResponseWriter
	r *http.Request
	h *handler

	ifMatch, ifNoneMatch               string
	ifModifiedSince, ifUnmodifiedSince time.Time

	decided  bool
	suppress bool // the response was replaced; drop gofakes3's
}

// suppressedError stops gofakes3 copying a body nobody will receive.
type suppressedError struct{}

func (suppressedError) Error() string { return "response replaced by a precondition result" }

func (c *condWriter) Header() http.Header { return c.w.Header() }

func (c *condWriter) WriteHeader(code int) {
	if !c.decided {
		c.decide(code)
		return
	}
	if !c.suppress {
		c.w.WriteHeader(code)
	}
}

func (c *condWriter) Write(p []byte) (int, error) {
	if !c.decided {
		c.decide(http.StatusOK)
	}
	if c.suppress {
		return 0, suppressedError{}
	}
	return c.w.Write(p)
}

// Unwrap gives http.ResponseController access to the connection.
func (c *condWriter) Unwrap() http.ResponseWriter { return c.w }

// finish handles a response gofakes3 never started (HEAD: headers only).
func (c *condWriter) finish() {
	if !c.decided {
		c.decide(http.StatusOK)
	}
}

func (c *condWriter) decide(code int) {
	c.decided = true
	hdr := c.w.Header()
	// gofakes3 echoes stored metadata as headers, then sets ETag from the
	// MD5 it has; a multipart object's real ETag rides in the metadata.
	if v := hdr.Get(metaMultipartETag); v != "" {
		hdr.Set("ETag", v)
	}
	hdr.Del(metaMultipartETag)
	if code != http.StatusOK && code != http.StatusPartialContent {
		c.w.WriteHeader(code)
		return
	}
	etag := hdr.Get("ETag")
	lastMod, lmErr := http.ParseTime(hdr.Get("Last-Modified"))
	// RFC 9110 section 13.2.2 order: If-Match (else If-Unmodified-Since),
	// then If-None-Match (else If-Modified-Since).
	failed := false
	if c.ifMatch != "" {
		failed = !etagMatches(c.ifMatch, etag)
	} else if !c.ifUnmodifiedSince.IsZero() && lmErr == nil {
		failed = lastMod.After(c.ifUnmodifiedSince)
	}
	if failed {
		c.suppress = true
		for k := range hdr {
			if k != "X-Amz-Request-Id" && k != "X-Amz-Id-2" && k != "Server" {
				delete(hdr, k)
			}
		}
		c.h.writeError(c.w, c.r, gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed,
			"At least one of the pre-conditions you specified did not hold"))
		return
	}
	notModified := false
	if c.ifNoneMatch != "" {
		notModified = etagMatches(c.ifNoneMatch, etag)
	} else if !c.ifModifiedSince.IsZero() && lmErr == nil {
		notModified = !lastMod.After(c.ifModifiedSince)
	}
	if notModified {
		c.suppress = true
		hdr.Del("Content-Length")
		hdr.Del("Content-Range")
		c.w.WriteHeader(http.StatusNotModified)
		return
	}
	c.w.WriteHeader(code)
}

// copyObject implements CopyObject on the store. gofakes3's own copy always
// merges the source's metadata into the request's (ignoring
// x-amz-metadata-directive) and, over s3afero, empties an object copied
// onto itself.
func (h *handler) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if err := checkKey(key); err != nil {
		h.writeError(w, r, err)
		return
	}
	srcBucket, srcKey, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	directive := strings.ToUpper(r.Header.Get("X-Amz-Metadata-Directive"))
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		h.writeError(w, r, gofakes3.ErrorInvalidArgument("x-amz-metadata-directive", directive, "Unknown metadata directive."))
		return
	}
	if directive == "REPLACE" && s3req.MetadataBytes(r.Header) > s3req.MaxUserMetadata {
		h.writeError(w, r, gofakes3.ErrMetadataTooLarge)
		return
	}
	if srcBucket == bucket && srcKey == key && directive != "REPLACE" {
		h.writeError(w, r, errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."))
		return
	}
	src, err := h.store.GetObject(srcBucket, srcKey, nil)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer src.Contents.Close()
	if err := checkCopySourceConditions(r.Header, src); err != nil {
		h.writeError(w, r, err)
		return
	}
	meta := src.Metadata
	if directive == "REPLACE" {
		meta = requestMetadata(r.Header)
	}
	res, err := h.store.put(r.Context(), bucket, key, meta, src.Contents, src.Size, putConditions(r.Header), nil)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeXML(w, r, http.StatusOK, copyResult{
		XMLName: xml.Name{Local: "CopyObjectResult"}, Xmlns: s3Namespace,
		ETag: res.etag, LastModified: s3Time(res.modTime),
	})
}

// copySource reads x-amz-copy-source the way the proxy does. The embedded
// backend keeps no versions: only the current ("null") one can be named.
func copySource(v string) (bucket, key string, err error) {
	src, err := s3req.ParseCopySource(v)
	if err != nil {
		return "", "", gofakesError(err)
	}
	if src.VersionID != "" && src.VersionID != "null" {
		return "", "", gofakes3.ErrorMessage(gofakes3.ErrNoSuchVersion, "The embedded backend keeps no object versions.")
	}
	return src.Bucket, src.Key, nil
}

// objectETag is the ETag S3 would report for obj.
func objectETag(obj *gofakes3.Object) string {
	if v := obj.Metadata[metaMultipartETag]; v != "" {
		return v
	}
	return gofakes3.FormatETag(obj.Hash)
}

func checkCopySourceConditions(hdr http.Header, src *gofakes3.Object) error {
	etag := objectETag(src)
	lastMod, lmErr := http.ParseTime(src.Metadata["Last-Modified"])
	fail := gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	if v := hdr.Get("X-Amz-Copy-Source-If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return fail
		}
	} else if t, err := http.ParseTime(hdr.Get("X-Amz-Copy-Source-If-Unmodified-Since")); err == nil && lmErr == nil && lastMod.After(t) {
		return fail
	}
	if v := hdr.Get("X-Amz-Copy-Source-If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return fail
		}
	} else if t, err := http.ParseTime(hdr.Get("X-Amz-Copy-Source-If-Modified-Since")); err == nil && lmErr == nil && !lastMod.After(t) {
		return fail
	}
	return nil
}

// putConditions are the conditional-write headers of PutObject, CopyObject
// and CompleteMultipartUpload.
func putConditions(hdr http.Header) *gofakes3.PutConditions {
	var c gofakes3.PutConditions
	if v := hdr.Get("If-Match"); v != "" {
		c.IfMatch = &v
	}
	if v := hdr.Get("If-None-Match"); v != "" {
		c.IfNoneMatch = &v
	}
	if c.IfMatch == nil && c.IfNoneMatch == nil {
		return nil
	}
	return &c
}

// ---- multipart uploads ----

func (h *handler) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if s3req.MetadataBytes(r.Header) > s3req.MaxUserMetadata {
		h.writeError(w, r, gofakes3.ErrMetadataTooLarge)
		return
	}
	id, err := h.mp.create(bucket, key, requestMetadata(r.Header))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeXML(w, r, http.StatusOK, initiateMultipartUploadResult{
		Xmlns: s3Namespace, Bucket: bucket, Key: key, UploadID: id,
	})
}

func (h *handler) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	pn := r.URL.Query().Get("partNumber")
	n, err := strconv.Atoi(pn)
	if err != nil || n < 1 || n > maxPartNumber {
		h.writeError(w, r, gofakes3.ErrorInvalidArgument("partNumber", pn, "Part number must be an integer between 1 and 10000, inclusive"))
		return
	}
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		h.uploadPartCopy(w, r, bucket, key, id, n)
		return
	}
	body, err := decodeBody(r, true)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if body.Size < 0 {
		h.writeError(w, r, gofakes3.ErrMissingContentLength)
		return
	}
	pi, err := h.mp.uploadPart(r.Context(), bucket, key, id, n, body, body.Size)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", pi.ETag)
	h.setRequestID(w)
	w.WriteHeader(http.StatusOK)
}

func (h *handler) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key, id string, n int) {
	// Check the upload before reading a possibly large source.
	if _, err := h.mp.load(bucket, key, id); err != nil {
		h.writeError(w, r, err)
		return
	}
	srcBucket, srcKey, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var rng *gofakes3.ObjectRangeRequest
	if v := r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if rng, err = copyRange(v); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	src, err := h.store.GetObject(srcBucket, srcKey, rng)
	if errors.Is(err, gofakes3.ErrInvalidRange) {
		// S3 names the source size in this error.
		if head, herr := h.store.HeadObject(srcBucket, srcKey); herr == nil {
			head.Contents.Close()
			err = errCopyRange(head.Size)
		}
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer src.Contents.Close()
	length := src.Size
	if rng != nil {
		// gofakes3 clips a range running past the end; S3 refuses it.
		if src.Range == nil || rng.End >= src.Size {
			h.writeError(w, r, errCopyRange(src.Size))
			return
		}
		length = src.Range.Length
	}
	if err := checkCopySourceConditions(r.Header, src); err != nil {
		h.writeError(w, r, err)
		return
	}
	pi, err := h.mp.uploadPart(r.Context(), bucket, key, id, n, src.Contents, length)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeXML(w, r, http.StatusOK, copyResult{
		XMLName: xml.Name{Local: "CopyPartResult"}, Xmlns: s3Namespace,
		ETag: pi.ETag, LastModified: s3Time(pi.LastModified),
	})
}

func errCopyRange(size int64) error {
	return gofakes3.ErrorInvalidArgument("x-amz-copy-source-range", "",
		fmt.Sprintf("Range specified is not valid for source object of size: %d", size))
}

// copyRange reads x-amz-copy-source-range the way the proxy does.
func copyRange(v string) (*gofakes3.ObjectRangeRequest, error) {
	first, last, err := s3req.ParseCopyRange(v)
	if err != nil {
		return nil, gofakesError(err)
	}
	return &gofakes3.ObjectRangeRequest{Start: first, End: last}, nil
}

// maxCompleteBody bounds the CompleteMultipartUpload XML: 10000 parts of
// ~120 bytes each, with room for whitespace and checksum elements.
const maxCompleteBody = 4 << 20

func (h *handler) completeUpload(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
	if err != nil {
		h.writeError(w, r, bodyError(err, "read CompleteMultipartUpload body"))
		return
	}
	var req completeMultipartUpload
	if len(raw) > maxCompleteBody {
		err = errors.New("body too large")
	} else {
		err = xml.Unmarshal(raw, &req)
	}
	if err != nil {
		h.writeError(w, r, gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, gofakes3.ErrMalformedXML.Message()))
		return
	}
	cond := putConditions(r.Header)
	// Like S3, finish an assembly the client stopped waiting for: the parts
	// are verified and the work is local, so abandoning it midway would
	// only make the client's retry redo it.
	ctx := context.WithoutCancel(r.Context())
	type result struct {
		etag  string
		mtime time.Time
		err   error
	}
	done := make(chan result, 1)
	go func() {
		etag, mtime, err := h.mp.complete(ctx, bucket, key, id, req.Parts, cond)
		done <- result{etag, mtime, err}
	}()
	location := (&url.URL{Scheme: "http", Host: r.Host, Path: "/" + bucket + "/" + key}).String()
	success := func(etag string) completeMultipartUploadResult {
		return completeMultipartUploadResult{Xmlns: s3Namespace, Location: location, Bucket: bucket, Key: key, ETag: etag}
	}

	timer := time.NewTimer(h.keepaliveAfter)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.err != nil {
			h.writeError(w, r, res.err)
		} else {
			h.writeXML(w, r, http.StatusOK, success(res.etag))
		}
		return
	case <-timer.C:
	}

	// Still assembling: commit to 200 and keep the connection busy. S3
	// clients know that this response may still turn out to be an error.
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/xml")
	h.setRequestID(w)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, xml.Header)
	_ = rc.Flush()
	tick := time.NewTicker(h.keepaliveEvery)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			var v any = success(res.etag)
			if res.err != nil {
				_, eb := h.errorBody(r, res.err)
				eb.RequestID = w.Header().Get("X-Amz-Request-Id")
				v = eb
			}
			if b, err := xml.Marshal(v); err == nil {
				_, _ = w.Write(b)
			}
			return
		case <-tick.C:
			// Write errors mean the client left; keep waiting for the result
			// anyway so shutdown does not race the assembly.
			_, _ = w.Write([]byte(" "))
			_ = rc.Flush()
		}
	}
}

func (h *handler) abortUpload(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	if err := h.mp.abort(bucket, key, id); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.setRequestID(w)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) listParts(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	q := r.URL.Query()
	marker, err := queryInt(q, "part-number-marker", 0, 0, maxPartNumber)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	maxParts, err := queryInt(q, "max-parts", 1000, 0, 1000)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, err := h.mp.load(bucket, key, id); err != nil {
		h.writeError(w, r, err)
		return
	}
	parts, err := readParts(h.mp.dir(id))
	if err != nil {
		// Completed or aborted since load?
		if _, lerr := h.mp.load(bucket, key, id); lerr != nil {
			err = lerr
		}
		h.writeError(w, r, err)
		return
	}
	out := listPartsResult{
		Xmlns: s3Namespace, Bucket: bucket, Key: key, UploadID: id,
		Initiator: embeddedOwner(), Owner: embeddedOwner(), StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts,
	}
	for _, p := range parts {
		if p.PartNumber <= marker {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		out.Parts = append(out.Parts, partItem{
			PartNumber: p.PartNumber, LastModified: s3Time(p.LastModified), ETag: p.ETag, Size: p.Size,
		})
		out.NextPartNumberMarker = p.PartNumber
	}
	h.writeXML(w, r, http.StatusOK, out)
}

func (h *handler) listUploads(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	maxUploads, err := queryInt(q, "max-uploads", 1000, 0, 1000)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if ok, err := h.store.BucketExists(bucket); err != nil || !ok {
		if err == nil {
			err = gofakes3.BucketNotFound(bucket)
		}
		h.writeError(w, r, err)
		return
	}
	uploads, err := h.mp.list(bucket)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	out := listMultipartUploadsResult{
		Xmlns: s3Namespace, Bucket: bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker,
		Delimiter: delim, Prefix: prefix, MaxUploads: maxUploads,
	}
	count := 0
	lastPrefix := ""
	for _, u := range uploads {
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if keyMarker != "" {
			// Past the marker: later keys, or the marker key's later uploads
			// (IDs sort by initiation). A marker that is a common prefix
			// covers every key under it.
			after := u.Key > keyMarker || (u.Key == keyMarker && idMarker != "" && u.ID > idMarker)
			if !after || (delim != "" && strings.HasSuffix(keyMarker, delim) && strings.HasPrefix(u.Key, keyMarker)) {
				continue
			}
		}
		cp := ""
		if delim != "" {
			if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
				cp = u.Key[:len(prefix)+i+len(delim)]
			}
		}
		if cp != "" && cp == lastPrefix {
			continue
		}
		if count == maxUploads {
			out.IsTruncated = true
			break
		}
		count++
		if cp != "" {
			lastPrefix = cp
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: cp})
			out.NextKeyMarker, out.NextUploadIDMarker = cp, ""
			continue
		}
		out.Uploads = append(out.Uploads, uploadItem{
			Key: u.Key, UploadID: u.ID, Initiator: embeddedOwner(), Owner: embeddedOwner(),
			StorageClass: "STANDARD", Initiated: s3Time(u.Initiated),
		})
		out.NextKeyMarker, out.NextUploadIDMarker = u.Key, u.ID
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = "", ""
	}
	h.writeXML(w, r, http.StatusOK, out)
}

func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return 0, gofakes3.ErrorInvalidArgument(name, v, fmt.Sprintf("%s must be an integer of at least %d", name, lo))
	}
	return min(n, hi), nil
}

// ---- responses ----

func (h *handler) setRequestID(w http.ResponseWriter) {
	n := h.reqBase + h.reqSeq.Add(1)
	w.Header().Set("X-Amz-Request-Id", fmt.Sprintf("%016X", n))
}

func (h *handler) writeXML(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("encode %T: %w", v, err))
		return
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.Write(b)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	h.setRequestID(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorBody turns err into an S3 error document, logging internal errors
// (the client only learns that something failed).
func (h *handler) errorBody(r *http.Request, err error) (int, errorResponse) {
	code, status, msg := "InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again."
	var ae *apiError
	var ge gofakes3.Error
	switch {
	case errors.As(err, &ae):
		code, status, msg = ae.Code, ae.Status, ae.Message
	case errors.As(err, &ge):
		c := ge.ErrorCode()
		code, status = string(c), c.Status()
		msg = strings.TrimPrefix(strings.TrimPrefix(ge.Error(), string(c)), ": ")
		if msg == "" {
			msg = defaultMessage(c)
		}
	}
	if status >= 500 {
		lvl := slog.LevelError
		if errors.Is(err, context.Canceled) || status == http.StatusNotImplemented {
			// The client went away, or asked for a feature the embedded
			// backend lacks (photogate's indexer asks for ?tagging on
			// every upload): neither is a fault of this server.
			lvl = slog.LevelDebug
		}
		h.log.Log(r.Context(), lvl, "embedded backend request failed",
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return status, errorResponse{Code: code, Message: msg, Bucket: bucket, Key: key, Resource: r.URL.Path}
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := h.errorBody(r, err)
	h.setRequestID(w)
	body.RequestID = w.Header().Get("X-Amz-Request-Id")
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	b, merr := xml.Marshal(body)
	if merr != nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
}

// defaultMessage fills in S3's wording where a gofakes3 error has none.
func defaultMessage(c gofakes3.ErrorCode) string {
	switch c {
	case gofakes3.ErrNoSuchKey:
		return "The specified key does not exist."
	case gofakes3.ErrInvalidRange:
		return "The requested range is not satisfiable"
	case gofakes3.ErrMethodNotAllowed:
		return "The specified method is not allowed against this resource."
	case gofakes3.ErrMissingContentLength:
		return "You must provide the Content-Length HTTP header."
	case gofakes3.ErrMetadataTooLarge:
		return "Your metadata headers exceed the maximum allowed metadata size."
	case gofakes3.ErrInvalidDigest:
		return "The Content-MD5 you specified is not valid."
	case gofakes3.ErrBucketNotEmpty:
		return "The bucket you tried to delete is not empty."
	case gofakes3.ErrBucketAlreadyExists:
		return "The requested bucket name is not available."
	}
	if m := c.Message(); m != "" {
		return m
	}
	return string(c)
}
