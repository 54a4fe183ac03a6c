package postpolicy

import (
	"fmt"
	"io"

	"github.com/photogate/photogate/s3/s3err"
)

// Reader returns r bounded by the range: it fails with EntityTooLarge
// instead of yielding byte Max+1, and with EntityTooSmall instead of io.EOF
// when fewer than Min bytes came. With Set false it returns r unchanged.
func (lr LengthRange) Reader(r io.Reader) io.Reader {
	if !lr.Set {
		return r
	}
	return &rangeReader{r: r, lr: lr}
}

type rangeReader struct {
	r   io.Reader
	lr  LengthRange
	n   int64
	err error
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	// Ask for one byte past Max so an oversized file is seen as soon as
	// it is, not one read later.
	// (Written so that Max near MaxInt64 cannot overflow.)
	if left := rr.lr.Max - rr.n; left < int64(len(p)) {
		p = p[:left+1]
	}
	n, err := rr.r.Read(p)
	if rr.n+int64(n) > rr.lr.Max {
		n = int(rr.lr.Max - rr.n)
		rr.err = s3err.New(s3err.EntityTooLarge, fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of %d bytes.", rr.lr.Max))
	}
	rr.n += int64(n)
	switch {
	case rr.err != nil:
	case err == io.EOF && rr.n < rr.lr.Min:
		rr.err = s3err.New(s3err.EntityTooSmall, fmt.Sprintf("Your proposed upload is smaller than the minimum allowed size of %d bytes.", rr.lr.Min))
	case err != nil:
		rr.err = err
	}
	return n, rr.err
}
