package postpolicy

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

// rawForm builds a body by hand, for shapes mime/multipart.Writer will not
// produce.
func rawForm(boundary string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
	}
	return b.String()
}

func TestReadFormFields(t *testing.T) {
	body := rawForm("XyZ",
		"Content-Disposition: form-data; name=\"KEY\"\r\n\r\nuser/a",
		"Content-Disposition: form-data; name=\"x-ignore-a\"\r\n\r\n1",
		"Content-Disposition: form-data; name=\"x-ignore-A\"\r\n\r\n2",
		"Content-Disposition: form-data; name=\"Content-Type\"\r\n\r\nimage/png",
		"Content-Disposition: form-data; name=\"File\"; filename=\"C/dir/p.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA",
		// After the file: ignored, never read.
		"Content-Disposition: form-data; name=\"key\"\r\n\r\nsecond",
	) + "--XyZ--\r\n"
	// Transport padding after a delimiter is allowed (RFC 2046).
	body = strings.Replace(body, "--XyZ\r\n", "--XyZ \t\r\n", 1)
	form, err := ReadForm(strings.NewReader(body), "XyZ")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := form.Get("Key"); v != "user/a" {
		t.Fatalf("key %q", v)
	}
	if _, ok := form.Get("x-ignore-a"); ok {
		t.Fatal("x-ignore field kept")
	}
	if got := fmt.Sprint(form.Names()); got != "[key content-type]" {
		t.Fatalf("names %s", got)
	}
	if form.FileName != "p.png" || form.FileContentType != "image/png" {
		t.Fatalf("file %q %q", form.FileName, form.FileContentType)
	}
	data, err := io.ReadAll(form.File)
	if err != nil || string(data) != "PNGDATA" {
		t.Fatalf("file %q, %v", data, err)
	}
}

func TestReadFormRefusals(t *testing.T) {
	field := func(name, value string) string {
		return "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value
	}
	file := "Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\ndata"
	many := make([]string, MaxFields+1)
	for i := range many {
		many[i] = field(fmt.Sprintf("x-amz-meta-%d", i), "v")
	}
	tests := []struct {
		name string
		body string
		code s3err.Code
	}{
		{"no file", rawForm("b", field("key", "k")) + "--b--\r\n", s3err.MalformedPOSTRequest},
		{"empty body", "", s3err.MalformedPOSTRequest},
		{"not multipart", "key=k&file=x", s3err.MalformedPOSTRequest},
		{"duplicate field", rawForm("b", field("key", "a"), field("Key", "b"), file), s3err.MalformedPOSTRequest},
		{"part without name", rawForm("b", "Content-Disposition: attachment\r\n\r\nx", file), s3err.MalformedPOSTRequest},
		{"part without disposition", rawForm("b", "Content-Type: text/plain\r\n\r\nx", file), s3err.MalformedPOSTRequest},
		{"quoted-printable", rawForm("b", "Content-Disposition: form-data; name=\"key\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db", file), s3err.MalformedPOSTRequest},
		{"too many fields", rawForm("b", append(many, file)...), s3err.MaxPostPreDataLengthExceededError},
		{"value too long", rawForm("b", field("policy", strings.Repeat("a", MaxFieldValueBytes+1)), file), s3err.MaxPostPreDataLengthExceededError},
		{"name too long", rawForm("b", field(strings.Repeat("n", MaxFieldNameBytes+1), "v"), file), s3err.MaxPostPreDataLengthExceededError},
		{"fields too large in total", rawForm("b", field("a", strings.Repeat("a", 30<<10)), field("b", strings.Repeat("b", 30<<10)),
			field("c", strings.Repeat("c", 30<<10)), file), s3err.MaxPostPreDataLengthExceededError},
		{"huge part header", rawForm("b", "Content-Disposition: form-data; name=\"key\"\r\nX-Pad: "+strings.Repeat("p", 1<<20)+"\r\n\r\nk", file),
			s3err.MaxPostPreDataLengthExceededError},
		{"LF-only lines", strings.ReplaceAll(rawForm("b", field("key", "k"), file), "\r\n", "\n"), s3err.MalformedPOSTRequest},
		{"closed before the file", rawForm("b", field("key", "k")) + "--b--\r\n" + rawForm("b", file), s3err.MalformedPOSTRequest},
		{"huge preamble", strings.Repeat("junk\r\n", 20<<10) + rawForm("b", file), s3err.MaxPostPreDataLengthExceededError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadForm(strings.NewReader(tc.body), "b")
			wantCode(t, err, tc.code, "")
		})
	}
}

// TestReadFormTruncatedFile: a body that ends inside the file part must
// fail the read, or a cut-off upload would be stored as complete. (A body
// that ends right after the full delimiter "\r\n--b" is whole: mime/multipart
// takes the delimiter at EOF as the end of the part.)
func TestReadFormTruncatedFile(t *testing.T) {
	for _, tail := range []string{"", "\r", "\r\n", "\r\n-", "\r\n--"} {
		body := rawForm("b", "Content-Disposition: form-data; name=\"key\"\r\n\r\nk") +
			"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\npartial data" + tail
		form, err := ReadForm(strings.NewReader(body), "b")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(form.File)
		if !s3err.Is(err, s3err.IncompleteBody) {
			t.Errorf("tail %q: %v, want IncompleteBody", tail, err)
		}
	}
}

func TestBoundary(t *testing.T) {
	if b, err := Boundary(`multipart/form-data; boundary="----WebKitFormBoundary7MA4YWxk"`); err != nil || b != "----WebKitFormBoundary7MA4YWxk" {
		t.Fatalf("%q %v", b, err)
	}
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/mixed; boundary=x",
		"multipart/form-data; boundary=" + strings.Repeat("b", 71)} {
		_, err := Boundary(ct)
		wantCode(t, err, s3err.MalformedPOSTRequest, "")
	}
}

func TestLengthRangeReader(t *testing.T) {
	tests := []struct {
		lr   LengthRange
		size int
		want s3err.Code // "" for success
	}{
		{LengthRange{}, 10, ""},
		{LengthRange{0, 0, true}, 0, ""},
		{LengthRange{0, 0, true}, 1, s3err.EntityTooLarge},
		{LengthRange{1, 10, true}, 0, s3err.EntityTooSmall},
		{LengthRange{1, 10, true}, 10, ""},
		{LengthRange{1, 10, true}, 11, s3err.EntityTooLarge},
		{LengthRange{10, 10, true}, 9, s3err.EntityTooSmall},
		{LengthRange{0, 1<<63 - 1, true}, 100, ""},
	}
	for _, tc := range tests {
		src := bytes.Repeat([]byte("z"), tc.size)
		// One byte at a time, and all at once: the limit must not depend
		// on how the reads fall.
		for _, chunk := range []int{1, 1 << 16} {
			r := tc.lr.Reader(bytes.NewReader(src))
			var got []byte
			buf := make([]byte, chunk)
			var err error
			for {
				var n int
				n, err = r.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if tc.want == "" {
				if err != io.EOF || len(got) != tc.size {
					t.Errorf("%+v size %d chunk %d: read %d, %v", tc.lr, tc.size, chunk, len(got), err)
				}
				continue
			}
			wantCode(t, err, tc.want, "")
			if tc.lr.Set && int64(len(got)) > tc.lr.Max {
				t.Errorf("%+v: %d bytes passed", tc.lr, len(got))
			}
		}
	}
}

// TestStreams100MB sends a 100 MB file through ReadForm, Verify and the
// length limit, and checks that the bytes arrive intact while the heap
// allocated along the way stays a tiny fraction of the file.
func TestStreams100MB(t *testing.T) {
	const size = 100 << 20
	doc := policyDoc(`{"key": "big.bin"}`, `["content-length-range", 1, 104857600]`)
	prefix, boundary := formPrefix(t, v4Form(doc, signedAt, field{"key", "big.bin"}), "big.bin", "application/octet-stream")
	src := rand.NewChaCha8([32]byte{1})
	want := sha256.New()
	content := io.TeeReader(io.LimitReader(src, size), want)
	body := io.MultiReader(bytes.NewReader(prefix), content, strings.NewReader("\r\n--"+boundary+"--\r\n"))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	form, err := ReadForm(body, boundary)
	if err != nil {
		t.Fatal(err)
	}
	u, err := Verify(form, testBucket, testSecrets, inPolicy)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, u.Body)
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("copied %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the file changed on its way through")
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to stream %d MiB", allocated>>10, size>>20)
	if allocated > 4<<20 {
		t.Fatalf("allocated %d bytes to stream %d: the file is being buffered", allocated, size)
	}

	// One byte over the range fails, with the maximum delivered at most.
	over := io.MultiReader(bytes.NewReader(prefix), io.LimitReader(src, size+1), strings.NewReader("\r\n--"+boundary+"--\r\n"))
	form, err = ReadForm(over, boundary)
	if err != nil {
		t.Fatal(err)
	}
	u, err = Verify(form, testBucket, testSecrets, inPolicy)
	if err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, u.Body)
	wantCode(t, err, s3err.EntityTooLarge, "")
	if n != size {
		t.Fatalf("%d bytes passed before the limit", n)
	}
}

func TestReadFormAtTheBounds(t *testing.T) {
	parts := make([]string, MaxFields, MaxFields+1)
	for i := range parts {
		parts[i] = fmt.Sprintf("Content-Disposition: form-data; name=\"x-amz-meta-%d\"\r\n\r\nv", i)
	}
	parts[0] = "Content-Disposition: form-data; name=\"policy\"\r\n\r\n" + strings.Repeat("p", MaxFieldValueBytes)
	parts = append(parts, "Content-Disposition: form-data; name=\"file\"\r\n\r\nx")
	form, err := ReadForm(strings.NewReader(rawForm("b", parts...)), "b")
	if err != nil {
		t.Fatalf("%d fields and a %d-byte value refused: %v", MaxFields, MaxFieldValueBytes, err)
	}
	if len(form.Names()) != MaxFields {
		t.Fatalf("%d fields", len(form.Names()))
	}
}
