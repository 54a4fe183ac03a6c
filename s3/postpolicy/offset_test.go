package postpolicy

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

// ContentOffset must be exact: the gateway derives the file's length from
// it and the body's Content-Length.
func TestContentOffsetLocatesTheFile(t *testing.T) {
	for _, fieldSize := range []int{0, 10, 4000, 5000, 20000} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("key", "photos/${filename}")
		_ = mw.WriteField("x-amz-meta-note", strings.Repeat("n", fieldSize))
		fw, _ := mw.CreateFormFile("file", "a.jpg")
		file := bytes.Repeat([]byte("0123456789"), 1000)
		_, _ = fw.Write(file)
		_ = mw.Close()
		raw := body.Bytes()

		form, err := ReadForm(bytes.NewReader(raw), mw.Boundary())
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(bytes.Index(raw, file)); form.ContentOffset != want {
			t.Errorf("fields of %d bytes: ContentOffset = %d, want %d", fieldSize, form.ContentOffset, want)
		}
		got, err := io.ReadAll(form.File)
		if err != nil || !bytes.Equal(got, file) {
			t.Fatalf("file: %d bytes, %v", len(got), err)
		}
		if n := int64(len(raw)) - form.ContentOffset - int64(len("\r\n--"+mw.Boundary()+"--\r\n")); n != int64(len(file)) {
			t.Errorf("length from the offset = %d, want %d", n, len(file))
		}
	}
}
