package gateway_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// postForm sends a browser-style POST upload: the signed form fields, then
// the file.
func postForm(t *testing.T, url string, fields map[string]string, file []byte) *http.Response {
	t.Helper()
	body, contentType := formBody(t, fields, file, nil)
	return postBody(t, url, contentType, body)
}

// formBody writes a multipart form: fields, the file, then afterFile.
func formBody(t *testing.T, fields map[string]string, file []byte, afterFile map[string]string) ([]byte, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "upload.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		t.Fatal(err)
	}
	for k, v := range afterFile {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return body.Bytes(), mw.FormDataContentType()
}

func postBody(t *testing.T, url, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPostPolicyUpload: a browser upload signed with a POST policy stores
// exactly the file, and one outside the policy's conditions stores nothing.
func TestPostPolicyUpload(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "posts")
		p := minio.NewPostPolicy()
		for _, err := range []error{
			p.SetBucket("posts"), p.SetKey("web/upload.jpg"),
			p.SetExpires(time.Now().UTC().Add(time.Hour)), p.SetContentLengthRange(1, 100<<10),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		url, fields, err := s.client(t).PresignedPostPolicy(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		data := harness.RandomBytes(50<<10 + 3)
		resp := postForm(t, url.String(), fields, data)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST upload: %d %s", resp.StatusCode, s3Code(t, resp))
		}
		resp.Body.Close()
		if got, ok := s.stored(t, "posts", "web/upload.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("the backend holds %d bytes, want the %d posted", len(got), len(data))
		}

		fields["key"] = "web/elsewhere.jpg" // not the key the policy names
		if resp := postForm(t, url.String(), fields, data); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("POST to a key outside the policy: %d %s, want 403", resp.StatusCode, s3Code(t, resp))
		}
		fields["key"] = "web/upload.jpg"
		if resp := postForm(t, url.String(), fields, harness.RandomBytes(100<<10+1)); resp.StatusCode/100 == 2 {
			t.Fatalf("POST of a file over the policy's length range: %d", resp.StatusCode)
		}
		if got, ok := s.stored(t, "posts", "web/upload.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("a refused POST changed the object (%d bytes)", len(got))
		}
		if _, ok := s.stored(t, "posts", "web/elsewhere.jpg"); ok {
			t.Fatal("a refused POST was stored")
		}

		// S3 ignores what follows the file. photogate streams the file
		// with a length it takes from the body's, so it cannot, and says
		// so rather than storing the wrong bytes.
		fieldAfter, fieldAfterType := formBody(t, fields, harness.RandomBytes(1000), map[string]string{"x-ignore-note": "after the file"})
		epilogue, epilogueType := formBody(t, fields, harness.RandomBytes(1000), nil)
		for _, tc := range []struct {
			name, contentType string
			body              []byte
		}{
			{"a field after the file", fieldAfterType, fieldAfter},
			{"bytes after the closing boundary", epilogueType, append(epilogue, "tail\r\n"...)},
			// RFC 2046 makes the CRLF after the closing delimiter optional;
			// without it the file runs 2 bytes past the length forwarded.
			{"no CRLF after the closing delimiter", epilogueType, bytes.TrimSuffix(epilogue, []byte("\r\n"))},
		} {
			resp := postBody(t, url.String(), tc.contentType, tc.body)
			if code := s3Code(t, resp); resp.StatusCode != http.StatusBadRequest || code != "MalformedPOSTRequest" {
				t.Errorf("%s: %d %s, want 400 MalformedPOSTRequest", tc.name, resp.StatusCode, code)
			}
		}
		if got, ok := s.stored(t, "posts", "web/upload.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("a refused POST changed the object (%d bytes)", len(got))
		}
	})
}

// TestPostOfAnEmptyFile: an empty file is stored as an empty object, and a
// form whose length says "empty" while its file is not stores nothing (the
// body of an empty upload is never read on its way to the backend).
func TestPostOfAnEmptyFile(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "posts")
		for _, tc := range []struct {
			key        string
			file       []byte
			trimCRLF   bool
			wantStored bool
		}{
			{"web/empty.jpg", nil, false, true},
			{"web/two-bytes.jpg", []byte("ab"), true, false}, // the length leaves 0 bytes for it
		} {
			p := minio.NewPostPolicy()
			for _, err := range []error{p.SetBucket("posts"), p.SetKey(tc.key), p.SetExpires(time.Now().UTC().Add(time.Hour))} {
				if err != nil {
					t.Fatal(err)
				}
			}
			url, fields, err := s.client(t).PresignedPostPolicy(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			body, contentType := formBody(t, fields, tc.file, nil)
			if tc.trimCRLF {
				body = bytes.TrimSuffix(body, []byte("\r\n"))
			}
			resp := postBody(t, url.String(), contentType, body)
			got, stored := s.stored(t, "posts", tc.key)
			if code := s3Code(t, resp); tc.wantStored && (resp.StatusCode/100 != 2 || !stored || len(got) != 0) {
				t.Errorf("%s: %d %s, stored %v (%d bytes), want an empty object", tc.key, resp.StatusCode, code, stored, len(got))
			} else if !tc.wantStored && (resp.StatusCode != http.StatusBadRequest || code != "MalformedPOSTRequest" || stored) {
				t.Errorf("%s: %d %s, stored %v (%d bytes), want 400 MalformedPOSTRequest and nothing stored", tc.key, resp.StatusCode, code, stored, len(got))
			}
		}
	})
}
