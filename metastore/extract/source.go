package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// errNeedMore aborts a parse that needs bytes beyond the prefix. It is
// returned by regionReader so that imagemeta stops at once instead of
// treating the end of the prefix as the end of the data (its streams allow
// one silent EOF and carry on with zero values).
var errNeedMore = errors.New("extract: data lies beyond the prefix")

// errReadBudget is returned when FromReaderAt would exceed its read bounds.
var errReadBudget = errors.New("extract: ranged-read budget exhausted")

// windowSize is how much FromReaderAt fetches per ranged read beyond the
// head: enough for a JPEG segment, a run of box headers or an EXIF IFD with
// its values, so that neighbouring small reads share one GET.
const windowSize = 64 << 10

// source gives bounded, context-aware random access to an object that is
// either known only through its first bytes (upload path: ra == nil) or
// fully addressable through an io.ReaderAt (background job).
//
// Reads never fail loudly: they return nil and record why, in needMore (the
// bytes are beyond the prefix but the object may hold them), truncated (the
// bytes are beyond the object's end) or err (I/O, budget, context). Parsers
// stop at the first nil and the final status is derived from these flags.
type source struct {
	ctx  context.Context
	head []byte      // object bytes [0, len(head))
	ra   io.ReaderAt // nil in prefix mode
	size int64       // object size; -1 if unknown (prefix mode only)

	win    []byte // read-through window for reads beyond head (ReaderAt mode)
	winOff int64

	calls int   // ReadAt calls beyond the head read
	bytes int64 // bytes fetched beyond the head

	needMore  bool
	truncated bool
	err       error
}

// mayHaveMore reports whether the object may extend beyond head.
func (s *source) mayHaveMore() bool {
	return s.size < 0 || s.size > int64(len(s.head))
}

func (s *source) setErr(err error) {
	if s.err == nil {
		s.err = err
	}
}

// loadHead reads the head of the object in one ReadAt (ReaderAt mode). It is
// one window, not PrefixSize: FromReaderAt runs when the prefix was not
// enough, so the metadata is usually far from the start (a trailing Exif
// item, a TIFF IFD after the strips) and is fetched by its own ranged read.
func (s *source) loadHead() bool {
	n := min(s.size, windowSize)
	if err := s.ctx.Err(); err != nil {
		s.setErr(err)
		return false
	}
	buf := make([]byte, n)
	got, err := s.ra.ReadAt(buf, 0)
	if got < len(buf) {
		if err == nil || err == io.EOF {
			// The object is shorter than the caller said.
			s.truncated = true
			s.size = int64(got)
		} else {
			s.setErr(fmt.Errorf("extract: reading head: %w", err))
			return false
		}
	}
	s.head = buf[:got]
	return true
}

// inHead reports whether [off, off+n) is already in memory, for optional
// lookups that must neither cost a ranged read nor ask for a full read.
func (s *source) inHead(off int64, n int) bool {
	return off >= 0 && n >= 0 && off <= int64(len(s.head))-int64(n)
}

// at returns exactly n bytes at off, or nil (with the reason recorded). The
// slice is only valid until the next call on s and must not be modified.
func (s *source) at(off int64, n int) []byte {
	return s.read(off, n, false)
}

// upTo returns between 1 and n bytes at off, or nil if none is available.
func (s *source) upTo(off int64, n int) []byte {
	return s.read(off, n, true)
}

func (s *source) read(off int64, n int, partial bool) []byte {
	if s.err != nil {
		return nil
	}
	if off < 0 || n < 0 || off > math.MaxInt64-int64(n) {
		s.truncated = true
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	end := off + int64(n)
	if s.size >= 0 && end > s.size {
		if !partial || off >= s.size {
			s.truncated = true
			return nil
		}
		end = s.size
		n = int(end - off)
	}
	hl := int64(len(s.head))
	if end <= hl {
		return s.head[off:end:end]
	}
	if s.ra == nil {
		if partial && off < hl {
			return s.head[off:hl:hl]
		}
		s.needMore = true
		return nil
	}
	if off < hl && partial {
		return s.head[off:hl:hl]
	}
	if err := s.ctx.Err(); err != nil {
		s.setErr(err)
		return nil
	}
	if s.win != nil && off >= s.winOff && end <= s.winOff+int64(len(s.win)) {
		i := off - s.winOff
		return s.win[i : i+int64(n) : i+int64(n)]
	}
	if n > windowSize {
		// A large region (HEIF meta box): read it exactly, once.
		buf := s.fetch(make([]byte, n), off)
		if buf == nil || len(buf) < n && !partial {
			return nil // fetch recorded why
		}
		return buf
	}
	wn := int64(windowSize)
	if s.size >= 0 {
		wn = min(wn, s.size-off)
	}
	if s.win == nil {
		s.win = make([]byte, windowSize)
	}
	buf := s.fetch(s.win[:wn], off)
	if buf == nil {
		s.win, s.winOff = s.win[:0], 0
		return nil
	}
	s.win, s.winOff = buf, off
	if int64(len(buf)) < int64(n) {
		if !partial {
			s.truncated = true
			return nil
		}
		n = len(buf)
	}
	return buf[:n:n]
}

// fetch issues one ranged read, within the budget.
func (s *source) fetch(buf []byte, off int64) []byte {
	if s.calls >= maxReadCalls || s.bytes+int64(len(buf)) > maxReadBytes {
		s.setErr(errReadBudget)
		return nil
	}
	s.calls++
	s.bytes += int64(len(buf))
	got, err := s.ra.ReadAt(buf, off)
	if got < len(buf) {
		if err != nil && err != io.EOF {
			s.setErr(fmt.Errorf("extract: ranged read at %d: %w", off, err))
			return nil
		}
		// Shorter than the declared size: the object ends here.
		s.truncated = true
		s.size = off + int64(got)
		if got == 0 {
			return nil
		}
	}
	return buf[:got]
}

// readChunk is the most regionReader returns per Read.
const readChunk = 256

// regionReader exposes the region [base, base+n) of a source as an
// io.ReadSeeker for imagemeta, checking the context on every call. Offsets
// inside EXIF are relative to the TIFF header, which is where base points.
type regionReader struct {
	s       *source
	base, n int64
	pos     int64
	pastEnd bool // a read was attempted beyond the region
}

func (r *regionReader) Read(p []byte) (int, error) {
	if err := r.s.ctx.Err(); err != nil {
		r.s.setErr(err)
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.n {
		r.pastEnd = true
		return 0, io.EOF
	}
	// Hand out small chunks: imagemeta reads through a 4 KiB bufio.Reader
	// that it resets on every Seek (about one per IFD entry), so a full
	// refill per entry would copy 4 KiB to use 12 bytes.
	want := int(min(int64(len(p)), r.n-r.pos, readChunk))
	b := r.s.upTo(r.base+r.pos, want)
	if len(b) == 0 {
		switch {
		case r.s.err != nil:
			return 0, r.s.err
		case r.s.needMore:
			return 0, errNeedMore
		}
		r.pastEnd = true
		return 0, io.EOF
	}
	n := copy(p, b)
	r.pos += int64(n)
	return n, nil
}

func (r *regionReader) Seek(offset int64, whence int) (int64, error) {
	if err := r.s.ctx.Err(); err != nil {
		r.s.setErr(err)
		return 0, err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.n + offset
	default:
		return 0, errors.New("extract: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("extract: negative position")
	}
	r.pos = abs
	return abs, nil
}
