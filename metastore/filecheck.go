package metastore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkLength refuses a bbolt file shorter than its own meta page says it
// is: what an interrupted copy or transfer of a backup leaves behind. bbolt
// would otherwise find the missing pages while it rebuilds the freelist on
// open (the store does not sync it), and it panics there in a goroutine of
// its own, which takes the whole process down.
//
// It reads bbolt's on-disk meta pages, a format bbolt has kept since 2014:
// a 16-byte page header, then magic, version, page size, flags (uint32
// each), root bucket (16 bytes), freelist, high-water page id, txid and an
// FNV-64a checksum of the fields before it (uint64 each), little-endian on
// every platform Go runs bbolt on that matters here. A file that is not
// bbolt at all, or is new, is left to bolt.Open.
func checkLength(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkMetaLength(f, fi.Size())
}

// checkMetaLength is checkLength over a file's contents r of size bytes.
func checkMetaLength(r io.ReaderAt, size int64) error {
	const (
		headerLen = 16
		metaLen   = 56 // magic … txid: what the checksum covers
		magic     = 0xED0CDAED
	)
	var best struct {
		pages, pageSize, txid uint64
		ok                    bool
	}
	buf := make([]byte, headerLen+metaLen+8)
	try := func(off int64) {
		clear(buf)
		if _, err := r.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return
		}
		m := buf[headerLen:]
		le := binary.LittleEndian
		h := fnv.New64a()
		_, _ = h.Write(m[:metaLen])
		if le.Uint32(m[0:]) != magic || h.Sum64() != le.Uint64(m[metaLen:]) {
			return
		}
		pageSize, pages, txid := uint64(le.Uint32(m[8:])), le.Uint64(m[40:]), le.Uint64(m[48:])
		if !best.ok || txid > best.txid {
			best.pages, best.pageSize, best.txid, best.ok = pages, pageSize, txid, true
		}
	}
	try(0)
	if best.ok {
		try(int64(best.pageSize)) // the second meta page, at the first one's page size
	}
	if !best.ok {
		return nil
	}
	if want := best.pages * best.pageSize; size < 0 || uint64(size) < want || best.pageSize != 0 && want/best.pageSize != best.pages {
		return fmt.Errorf("%w: the file is %d bytes, its meta page says %d pages of %d bytes: it was cut short, e.g. by an interrupted copy",
			ErrCorrupt, size, best.pages, best.pageSize)
	}
	return nil
}
