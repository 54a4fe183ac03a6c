package postpolicy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

// wantClientError fails t unless err is an S3 error with a 4xx status:
// malformed input must never look like a server fault.
func wantClientError(t *testing.T, what string, err error) {
	t.Helper()
	var e *s3err.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v is not an S3 error", what, err)
	}
	if s := e.Code.Status(); s < 400 || s >= 500 {
		if e.Code != s3err.NotImplemented {
			t.Fatalf("%s: %v has status %d", what, err, s)
		}
	}
}

func FuzzReadForm(f *testing.F) {
	f.Add([]byte(rawForm("b",
		"Content-Disposition: form-data; name=\"key\"\r\n\r\nuser/${filename}",
		"Content-Disposition: form-data; name=\"tagging\"\r\n\r\n<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
		"Content-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\n1",
		"Content-Disposition: form-data; name=\"success_action_redirect\"\r\n\r\nhttp://h/",
		"Content-Disposition: form-data; name=\"file\"; filename=\"../f.txt\"\r\nContent-Type: text/plain\r\n\r\ndata",
	) + "--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--b"))
	f.Add([]byte("preamble\r\n--b\r\nContent-Disposition: form-data; name=key\r\n\r\nk\r\n--b\r\n" +
		"Content-Disposition: form-data; name=\"FILE\"; filename*=UTF-8''%e2%82%ac.txt\r\n\r\nx\r\n--b--"))
	for _, c := range fixtureForms(f) {
		body, _ := formBody(f, c, "f.jpg", []byte("content"))
		raw, _ := io.ReadAll(body)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Seeds built by formBody carry their own random boundary; reuse
		// it so the corpus reaches past the first part.
		boundary := "b"
		if line, _, ok := bytes.Cut(data, []byte("\r\n")); ok && bytes.HasPrefix(line, []byte("--")) && len(line) > 2 && len(line) <= 72 {
			boundary = string(line[2:])
		}
		if checkBoundary(boundary) != nil {
			boundary = "b"
		}
		form, err := ReadForm(bytes.NewReader(data), boundary)
		if err != nil {
			wantClientError(t, "ReadForm", err)
			return
		}
		if len(form.names) > MaxFields {
			t.Fatalf("%d fields kept", len(form.names))
		}
		total := 0
		for _, name := range form.names {
			total += len(name) + len(form.values[name])
			if name != strings.ToLower(name) || strings.HasPrefix(name, ignorePrefix) || name == fileField {
				t.Fatalf("field name %q kept", name)
			}
		}
		if total > MaxPreFileBytes {
			t.Fatalf("%d bytes of fields kept", total)
		}
		if u, err := Verify(form, testBucket, testSecrets, inPolicy); err != nil {
			wantClientError(t, "Verify", err)
		} else {
			if u.Key == "" || len(u.Key) > maxKeyBytes || u.Header == nil || u.Body == nil {
				t.Fatalf("upload %+v", u)
			}
			for name, values := range u.Header {
				for _, v := range values {
					if !validHeaderValue(v) || !isToken(name) {
						t.Fatalf("header %q: %q", name, v)
					}
				}
			}
		}
		// The file's content starts exactly at ContentOffset and ends at a
		// delimiter (mime/multipart also ends a part that starts with one).
		content, err := io.ReadAll(form.File)
		if err != nil {
			wantClientError(t, "reading the file", err)
			return
		}
		off := form.ContentOffset
		if off < 0 || off+int64(len(content)) > int64(len(data)) || !bytes.Equal(data[off:off+int64(len(content))], content) ||
			!bytes.HasPrefix(data[off+int64(len(content)):], []byte("\r\n--"+boundary)) &&
				!(len(content) == 0 && bytes.HasPrefix(data[off:], []byte("--"+boundary))) {
			t.Fatalf("ContentOffset %d does not locate the %d-byte file", off, len(content))
		}
	})
}

// fixtureForms returns the boto3 fixture forms' fields, for seeds.
func fixtureForms(tb testing.TB) [][]field {
	var out [][]field
	for _, c := range loadBoto3(tb) {
		out = append(out, c.Fields)
	}
	return out
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"expiration": "2007-12-01T12:00:00.000Z", "conditions": [{"acl": "private", "bucket": "b"},
		["starts-with", "$key", "user/\$eric\\\v\ud83d\ude00/"], ["eq", "$x-amz-meta-a", "1"], ["content-length-range", 1, 10]]}`))
	f.Add([]byte(`{"conditions":[["content-length-range","0","9223372036854775807"]],"expiration":"2030-01-01T00:00:00+02:00"}`))
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": "\u003c\u0026\u003e"}, {}]}`))
	for _, c := range fixtureForms(f) {
		for _, fl := range c {
			if fl.name == "policy" {
				doc, err := base64.StdEncoding.DecodeString(fl.value)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(doc)
			}
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		pol, err := ParsePolicy(doc)
		if err != nil {
			if !s3err.Is(err, s3err.InvalidPolicyDocument) {
				t.Fatalf("error %v is not InvalidPolicyDocument", err)
			}
			return
		}
		// Nothing encoding/json calls invalid may pass, AWS's two extra
		// escapes aside.
		if !json.Valid(doc) && !bytes.Contains(doc, []byte(`\$`)) && !bytes.Contains(doc, []byte(`\v`)) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		for _, c := range pol.Conditions {
			if c.Op != OpEq && c.Op != OpStartsWith || c.Field != strings.ToLower(c.Field) {
				t.Fatalf("condition %+v", c)
			}
		}
		if pol.Length.Set && (pol.Length.Min < 0 || pol.Length.Min > pol.Length.Max) {
			t.Fatalf("length %+v", pol.Length)
		}
		// Written back out as plain JSON, the policy must read the same.
		again, err := ParsePolicy(encodePolicy(t, pol))
		if err != nil {
			t.Fatalf("re-encoded policy refused: %v", err)
		}
		if !again.Expiration.Equal(pol.Expiration) || again.Length != pol.Length || len(again.Conditions) != len(pol.Conditions) {
			t.Fatalf("round trip changed %+v into %+v", pol, again)
		}
		for i := range pol.Conditions {
			if again.Conditions[i] != pol.Conditions[i] {
				t.Fatalf("round trip changed %+v into %+v", pol.Conditions[i], again.Conditions[i])
			}
		}
	})
}

func encodePolicy(t *testing.T, pol *Policy) []byte {
	conds := make([]any, 0, len(pol.Conditions)+1)
	for _, c := range pol.Conditions {
		conds = append(conds, []string{c.Op, "$" + c.Field, c.Value})
	}
	if pol.Length.Set {
		conds = append(conds, []any{"content-length-range", pol.Length.Min, pol.Length.Max})
	}
	out, err := json.Marshal(map[string]any{"expiration": pol.Expiration.Format(time.RFC3339Nano), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
