package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSetElement(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<Error><Code>NoSuchKey</Code><RequestId>abc</RequestId></Error>`, `<Error><Code>NoSuchKey</Code><RequestId>ID&amp;1</RequestId></Error>`},
		{`<Error><Code>NoSuchKey</Code></Error>`, `<Error><Code>NoSuchKey</Code><RequestId>ID&amp;1</RequestId></Error>`},
		{`<?xml version="1.0"?><Error><Code>X</Code></Error>` + "\n", `<?xml version="1.0"?><Error><Code>X</Code><RequestId>ID&amp;1</RequestId></Error>` + "\n"},
		{`not xml`, `not xml`},
		{`<Error><RequestId>unterminated</Error>`, `<Error><RequestId>unterminated</Error>`},
	}
	for _, c := range cases {
		if got := string(setElement([]byte(c.doc), "RequestId", "ID&1")); got != c.want {
			t.Errorf("setElement(%q) = %q, want %q", c.doc, got, c.want)
		}
	}
}

// TestBackendServerErrorKeepsItsDetailInTheLog: MinIO puts its internal
// error (drive paths, node addresses) into some 5xx messages; the client
// gets S3's message for the code, the log gets MinIO's.
func TestBackendServerErrorKeepsItsDetailInTheLog(t *testing.T) {
	var logs strings.Builder
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil)), hostID: "h"}
	for _, tc := range []struct{ code, want string }{
		{"InternalError", "We encountered an internal error, please try again."},
		{"XMinioBackendDown", "The storage backend could not complete the request."},
	} {
		logs.Reset()
		doc := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>` + tc.code +
			`</Code><Message>drive /mnt/disk3/minio: i/o error on node 10.0.4.7:9000</Message><RequestId>backend</RequestId></Error>`
		resp := &http.Response{StatusCode: http.StatusInternalServerError, ContentLength: int64(len(doc)),
			Header: http.Header{"X-Minio-Error-Desc": {"drive /mnt/disk3/minio: i/o error"}}, Body: io.NopCloser(strings.NewReader(doc))}
		rec := httptest.NewRecorder()
		w := &responseRecorder{ResponseWriter: rec}
		w.Header().Set("X-Amz-Request-Id", "ours")
		if err := s.copyResponse(w, httptest.NewRequest(http.MethodGet, "/b/k", nil), resp, nil); err != nil {
			t.Fatal(err)
		}
		body := rec.Body.String()
		if strings.Contains(body, "disk3") || strings.Contains(rec.Header().Get("X-Minio-Error-Desc"), "disk3") {
			t.Errorf("%s: the backend's detail reached the client: %q %q", tc.code, body, rec.Header())
		}
		if elementText([]byte(body), "Message") != tc.want || elementText([]byte(body), "Code") != tc.code ||
			elementText([]byte(body), "RequestId") != "ours" {
			t.Errorf("%s: the client got %q", tc.code, body)
		}
		if !strings.Contains(logs.String(), "disk3") {
			t.Errorf("%s: the log lacks the backend's message: %s", tc.code, logs.String())
		}
	}
}
