package postpolicy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"path/filepath"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// Bounds on what ReadForm holds in memory. AWS itself refuses more than
// 20 KB of fields before the file (MaxPostPreDataLengthExceededError); 64 KiB
// leaves room for long policies while keeping a request's cost small and
// fixed.
const (
	// MaxPreFileBytes bounds every byte of the body before the file's
	// content: preamble, boundaries, part headers and field values.
	MaxPreFileBytes = 64 << 10
	// MaxFields bounds the number of parts before the file part.
	MaxFields = 100
	// MaxFieldNameBytes bounds one field name.
	MaxFieldNameBytes = 256
	// MaxFieldValueBytes bounds one field value (the policy is the largest).
	MaxFieldValueBytes = 32 << 10
	// maxBoundaryBytes is RFC 2046's limit on a multipart boundary.
	maxBoundaryBytes = 70
)

// fileField is the name of the part that carries the upload.
const fileField = "file"

// Form is a POST upload form read up to the start of the file's content.
type Form struct {
	// values maps each lowercased field name to its value. x-ignore-*
	// fields are counted against the bounds but not kept.
	values map[string]string
	// names lists the lowercased field names in the order they came.
	names []string

	// FileName is the file part's filename parameter, reduced to its last
	// path element as mime/multipart does ("" when absent).
	FileName string
	// FileContentType is the file part's own Content-Type header. S3 does
	// not store it (the object's type comes from the Content-Type field);
	// it is here for callers that want to sniff or log it.
	FileContentType string
	// ContentOffset is exactly how many bytes of the body come before the
	// file's content. With the body's length it gives the file's length,
	// provided the body ends as clients end it ("\r\n--boundary--\r\n");
	// a caller relying on that must check the length File actually yields.
	ContentOffset int64
	// File streams the file's content, ending with io.EOF at the part's
	// closing boundary. Anything after the file part is never read. A body
	// that ends before the boundary fails with IncompleteBody.
	File io.Reader
}

// Get returns the value of the field named name (any case).
func (f *Form) Get(name string) (string, bool) {
	v, ok := f.values[strings.ToLower(name)]
	return v, ok
}

// Names lists the form's field names, lowercased, in the order sent, the
// file and x-ignore-* fields excluded.
func (f *Form) Names() []string { return append([]string(nil), f.names...) }

// Boundary returns the boundary of a multipart/form-data Content-Type.
func Boundary(contentType string) (string, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", s3err.Wrap(s3err.MalformedPOSTRequest, "", fmt.Errorf("postpolicy: content type %q: %w", contentType, err))
	}
	if mediaType != "multipart/form-data" {
		return "", s3err.New(s3err.MalformedPOSTRequest, "The body of your POST request is not multipart/form-data.")
	}
	b := params["boundary"]
	if err := checkBoundary(b); err != nil {
		return "", err
	}
	return b, nil
}

func checkBoundary(b string) error {
	if b == "" || len(b) > maxBoundaryBytes || strings.ContainsAny(b, "\r\n") {
		return s3err.New(s3err.MalformedPOSTRequest, "The multipart boundary is missing or invalid.")
	}
	return nil
}

// errPreFileTooLarge marks the budget running out before the file part.
var errPreFileTooLarge = errors.New("postpolicy: form fields before the file exceed the limit")

// budgetReader fails once more than the budget is read, until lifted.
type budgetReader struct {
	r         io.Reader
	remaining int64
	lifted    bool
	read      int64 // bytes read from r
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if !b.lifted {
		if b.remaining <= 0 {
			return 0, errPreFileTooLarge
		}
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
	}
	n, err := b.r.Read(p)
	b.remaining -= int64(n)
	b.read += int64(n)
	return n, err
}

// ReadForm reads a multipart/form-data POST upload body up to the file
// part and returns its fields with a reader for the file's content. The
// fields are bounded (MaxPreFileBytes, MaxFields, MaxFieldNameBytes,
// MaxFieldValueBytes); the file is not read. Field names are
// case-insensitive and may not repeat; the file must be the last part, and
// anything after it is ignored, as in S3. Lines must end in CRLF, as
// RFC 7578 requires. Failures are s3err errors: MalformedPOSTRequest, or
// MaxPostPreDataLengthExceededError when the fields are too large.
//
// The fields are parsed here rather than by mime/multipart because its
// reader buffers ahead out of sight, and ContentOffset must be exact; the
// file's content, whose end only a boundary marks, is still left to
// mime/multipart.
func ReadForm(body io.Reader, boundary string) (*Form, error) {
	if err := checkBoundary(boundary); err != nil {
		return nil, err
	}
	budget := &budgetReader{r: body, remaining: MaxPreFileBytes}
	br := bufio.NewReader(budget)
	delim := "--" + boundary
	if err := skipPreamble(br, delim); err != nil {
		return nil, err
	}
	f := &Form{values: make(map[string]string)}
	for parts := 0; ; parts++ {
		header, err := textproto.NewReader(br).ReadMIMEHeader()
		if err != nil {
			return nil, formError("reading part header", err)
		}
		name, fileName, err := partName(header)
		if err != nil {
			return nil, err
		}
		if name == fileField {
			f.FileName = fileName
			f.FileContentType = header.Get("Content-Type")
			f.ContentOffset = budget.read - int64(br.Buffered())
			budget.lifted = true
			// Re-open the part on the rest of the body behind a synthetic
			// delimiter and empty header, so mime/multipart finds its end.
			mr := multipart.NewReader(io.MultiReader(strings.NewReader(delim+"\r\n\r\n"), br), boundary)
			part, err := mr.NextRawPart()
			if err != nil {
				return nil, formError("opening the file part", err)
			}
			f.File = &fileReader{part: part}
			return f, nil
		}
		if parts >= MaxFields {
			return nil, s3err.New(s3err.MaxPostPreDataLengthExceededError,
				fmt.Sprintf("Your POST request has more than %d fields before the file.", MaxFields))
		}
		value, closed, err := readValue(br, delim)
		if err != nil {
			return nil, formError("reading field "+name, err)
		}
		if closed {
			return nil, errNoFile()
		}
		if strings.HasPrefix(name, ignorePrefix) {
			continue
		}
		if _, dup := f.values[name]; dup {
			return nil, s3err.New(s3err.MalformedPOSTRequest, fmt.Sprintf("The field %q appears more than once.", name))
		}
		f.values[name] = string(value)
		f.names = append(f.names, name)
	}
}

func errNoFile() error {
	return s3err.New(s3err.MalformedPOSTRequest, "POST requires exactly one file upload per request.")
}

// readLine reads one line, its "\n" included. A line may span bufio's
// buffer; the budget bounds it.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil {
		return line, nil
	}
	var long []byte
	for err == bufio.ErrBufferFull {
		long = append(long, line...)
		line, err = br.ReadSlice('\n')
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return append(long, line...), err
}

// delimiterLine classifies a line: a delimiter ("--boundary", then
// optional space or tab, then CRLF), a close delimiter ("--boundary--"), or
// neither. mime/multipart accepts the same padding.
func delimiterLine(line []byte, delim string) (isDelim, isClose bool) {
	rest, ok := bytes.CutPrefix(line, []byte(delim))
	if !ok {
		return false, false
	}
	rest, isClose = bytes.CutPrefix(rest, []byte("--"))
	rest, crlf := bytes.CutSuffix(rest, []byte("\r\n"))
	if !crlf && !isClose || len(bytes.TrimRight(rest, " \t")) != 0 {
		return false, false
	}
	return !isClose, isClose
}

// skipPreamble reads up to and including the first delimiter line.
func skipPreamble(br *bufio.Reader, delim string) error {
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && len(line) == 0 {
				return errNoFile()
			}
			return formError("looking for the first boundary", err)
		}
		isDelim, isClose := delimiterLine(line, delim)
		if isClose {
			return errNoFile()
		}
		if isDelim {
			return nil
		}
	}
}

// readValue reads a field's value up to and including the next delimiter
// line; closed reports a close delimiter. The delimiter starts a line and
// the CRLF before it belongs to it; a delimiter straight after the header
// (an empty value without that CRLF) is taken as mime/multipart takes it.
func readValue(br *bufio.Reader, delim string) (value []byte, closed bool, err error) {
	var buf []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, false, err
		}
		if len(buf) == 0 || bytes.HasSuffix(buf, []byte("\r\n")) {
			if isDelim, isClose := delimiterLine(line, delim); isDelim || isClose {
				return bytes.TrimSuffix(buf, []byte("\r\n")), isClose, nil
			}
		}
		buf = append(buf, line...)
		if len(buf) > MaxFieldValueBytes+len("\r\n") {
			return nil, false, s3err.New(s3err.MaxPostPreDataLengthExceededError,
				fmt.Sprintf("A field value is longer than %d bytes.", MaxFieldValueBytes))
		}
	}
}

// partName returns a part's lowercased form field name and filename
// parameter (its last path element, as mime/multipart gives it). Parts
// that are not form-data fields, or whose content is transfer-encoded
// (which S3 does not decode), are refused rather than skipped.
func partName(header textproto.MIMEHeader) (name, fileName string, err error) {
	disposition, params, err := mime.ParseMediaType(header.Get("Content-Disposition"))
	if err != nil || disposition != "form-data" || params["name"] == "" {
		return "", "", s3err.New(s3err.MalformedPOSTRequest, "A part of the form has no form-data name.")
	}
	name = params["name"]
	if len(name) > MaxFieldNameBytes {
		return "", "", s3err.New(s3err.MaxPostPreDataLengthExceededError,
			fmt.Sprintf("A field name is longer than %d bytes.", MaxFieldNameBytes))
	}
	switch strings.ToLower(header.Get("Content-Transfer-Encoding")) {
	case "", "binary", "7bit", "8bit":
	default:
		return "", "", s3err.New(s3err.MalformedPOSTRequest, fmt.Sprintf("The field %q has an unsupported Content-Transfer-Encoding.", name))
	}
	if fn := params["filename"]; fn != "" {
		fileName = filepath.Base(fn)
	}
	return strings.ToLower(name), fileName, nil
}

func formError(what string, err error) error {
	if errors.Is(err, errPreFileTooLarge) {
		return s3err.Wrap(s3err.MaxPostPreDataLengthExceededError, "", err)
	}
	var s3e *s3err.Error
	if errors.As(err, &s3e) {
		return err
	}
	return s3err.Wrap(s3err.MalformedPOSTRequest, "", fmt.Errorf("postpolicy: %s: %w", what, err))
}

// fileReader reads the file part. A body that ends inside the part (the
// client gave up, or lied) is IncompleteBody, so the caller's upload fails
// instead of storing a truncated object; other errors (the connection's)
// pass through wrapped.
type fileReader struct {
	part *multipart.Part
	err  error
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.part.Read(p)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case errors.Is(err, io.ErrUnexpectedEOF):
		r.err = s3err.Wrap(s3err.IncompleteBody, "The request body ended before the file part was closed.", err)
	default:
		r.err = fmt.Errorf("postpolicy: reading file part: %w", err)
	}
	return n, r.err
}
