package gateway

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/postpolicy"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/s3/sigv4"
)

// postObject serves a browser upload: POST /bucket with a multipart form
// whose signed policy authenticates it. The fields are read (bounded), the
// policy's signature and conditions verified, and the file then streams to
// the backend as a PutObject with the form's headers, through the same
// admission, policy and index path as any PUT. Nothing of the file is
// buffered.
func (s *Server) postObject(ctx context.Context, w *responseRecorder, r *http.Request, x *exchange, target classify.Target) error {
	if r.ContentLength < 0 {
		// The file's length is the body's less the fields around it; a body
		// of unknown length would have to be stored first and measured later.
		return s3err.New(s3err.MissingContentLength, "POST uploads must send Content-Length.")
	}
	boundary, err := postpolicy.Boundary(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	form, err := postpolicy.ReadForm(r.Body, boundary)
	if err != nil {
		return err
	}
	ip := clientIP(r)
	if err := s.policy.AuthAllowed(ip); err != nil {
		return err
	}
	up, err := postpolicy.Verify(form, target.Bucket, s.policy.Secret, time.Now())
	if s3err.Is(err, s3err.SignatureDoesNotMatch) || s3err.Is(err, s3err.InvalidAccessKeyID) {
		s.policy.AuthFailed(ip)
	}
	if err != nil {
		return err
	}
	if up.AccessKey == "" {
		return s3err.New(s3err.AccessDenied, "Anonymous POST uploads are not allowed; sign the POST policy with a photogate access key.")
	}
	if err := classify.ValidKey(up.Key); err != nil {
		return err
	}
	size := r.ContentLength - form.ContentOffset - int64(len(closingDelimiter(boundary)))
	if size < 0 {
		return s3err.New(s3err.MalformedPOSTRequest, "The body is shorter than its fields.")
	}
	if up.Length.Set && size > up.Length.Max {
		return s3err.New(s3err.EntityTooLarge, "Your proposed upload exceeds the maximum allowed size of the policy's content-length-range.")
	}
	if up.Length.Set && size < up.Length.Min {
		return s3err.New(s3err.EntityTooSmall, "Your proposed upload is smaller than the minimum allowed size of the policy's content-length-range.")
	}

	file := &fileOfLength{r: up.Body, left: size}
	if size == 0 {
		// An empty upload is forwarded without reading a body, so the
		// file is checked for being empty here.
		if _, err := io.Copy(io.Discard, file); err != nil {
			return err
		}
	}

	target.Key = up.Key
	x.target = target
	x.user = up.AccessKey
	put := &http.Request{
		Method:        http.MethodPut,
		URL:           &url.URL{Path: "/" + target.Bucket + "/" + target.Key},
		Host:          r.Host,
		Header:        up.Header,
		Body:          io.NopCloser(file),
		ContentLength: size,
		RemoteAddr:    r.RemoteAddr,
		TLS:           r.TLS, // the answer names the object with the scheme the form came by
	}
	auth := &sigv4.Result{AccessKey: up.AccessKey, Version: up.SignatureVersion, PayloadHash: sigv4.UnsignedPayload}
	respond := func(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte) error {
		return s.postResponse(w, r, resp, raw, up)
	}
	return s.forward(ctx, w, put.WithContext(ctx), x, auth, target, url.Values{}, classify.PostObject, respond)
}

// closingDelimiter is what follows the file in a form as browsers, curl,
// Python's requests and Go's mime/multipart write it. A body that ends
// otherwise has a file of another length than the one forwarded, and its
// upload fails rather than storing a different object.
func closingDelimiter(boundary string) string { return "\r\n--" + boundary + "--\r\n" }

// fileOfLength reads a form's file, which must be exactly the length the
// upload was forwarded with: the body's, less the fields before the file
// and the closing delimiter clients send after it. A file that ends early
// had something after it (a field, which S3 would ignore, or bytes after
// the closing boundary); one that runs on had a shorter closing delimiter
// ("--boundary--" without its CRLF). Either way the file's true length
// could only be known once it had all arrived, and photogate never holds a
// whole object, so such a form is refused before the backend can complete
// the upload.
type fileOfLength struct {
	r    io.Reader
	left int64
}

func (f *fileOfLength) Read(p []byte) (int, error) {
	if f.left == 0 {
		// Every byte the upload declared has been read: the file must end
		// here.
		var probe [1]byte
		for {
			n, err := f.r.Read(probe[:])
			switch {
			case n > 0:
				return 0, formNotEndingWithFile("The file is longer than the body leaves room for")
			case err != nil:
				return 0, err
			}
		}
	}
	p = p[:min(int64(len(p)), f.left)]
	n, err := f.r.Read(p)
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		return n, formNotEndingWithFile(fmt.Sprintf("The file ended %d bytes before the body", f.left))
	}
	if err == io.EOF {
		err = nil // the next Read confirms the end
	}
	return n, err
}

func formNotEndingWithFile(what string) error {
	return s3err.New(s3err.MalformedPOSTRequest, what+": photogate streams the file, so it must be the form's "+
		"last field, followed only by its closing delimiter \"\\r\\n--boundary--\\r\\n\".")
}

// postResult is S3's answer to a POST upload with success_action_status 201.
type postResult struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postResponse answers a POST upload as S3 does: the backend's error as it
// is; on success a 303 redirect to success_action_redirect, or the status
// success_action_status names (204 by default, 201 with a PostResponse
// document).
func (s *Server) postResponse(w *responseRecorder, r *http.Request, resp *http.Response, raw []byte, up *postpolicy.Upload) error {
	if resp.StatusCode >= 300 {
		return s.copyResponse(w, r, resp, raw)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	etag := resp.Header.Get("ETag")
	location := s.objectLocation(r, classify.Target{Bucket: up.Bucket, Key: up.Key})
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Location", location)
	if v := resp.Header.Get("X-Amz-Version-Id"); v != "" {
		h.Set("X-Amz-Version-Id", v)
	}
	if redirect := up.RedirectURL(strings.Trim(etag, `"`)); redirect != "" {
		h.Set("Location", redirect)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	if up.SuccessActionStatus != http.StatusCreated {
		w.WriteHeader(up.SuccessActionStatus)
		return nil
	}
	body, err := xml.Marshal(postResult{Location: location, Bucket: up.Bucket, Key: up.Key, ETag: etag})
	if err != nil {
		return err
	}
	body = append([]byte(xml.Header), body...)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusCreated)
	_, err = w.Write(body)
	return err
}
