package embedded

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Multipart uploads, staged on disk.
//
// gofakes3 v1.2.0 falls back to its in-memory uploader when the backend does
// not implement MultipartBackend (s3afero does not): UploadPart io.ReadAll's
// every part into memory, CompleteMultipartUpload concatenates them into one
// more buffer under the uploader's global mutex, small parts are never
// refused (no EntityTooSmall), and nothing survives a restart. The front
// handler therefore answers all multipart operations itself, with this
// stager:
//
//	<Dir>/multipart/<uploadID>/upload.json        bucket, key, metadata, initiation time
//	<Dir>/multipart/<uploadID>/part-00001.json    ETag, size, time, data file name
//	<Dir>/multipart/<uploadID>/00001-<rand>.data  the part's bytes
//
// Part bodies are spooled into <Dir>/tmp without any lock and renamed into
// the upload directory; the part JSON, replaced atomically, is the commit
// point, so a re-uploaded part never pairs one attempt's ETag with
// another's bytes. A per-upload mutex orders only those renames and
// completion/abort of that one upload; uploads never wait on each other.
type multipart struct {
	root  string // <Dir>/multipart
	tmp   string // <Dir>/tmp
	store *store
	log   *slog.Logger

	mu    sync.Mutex // guards locks
	locks map[string]*uploadLock
}

type uploadLock struct {
	sync.Mutex
	refs int
}

type uploadInfo struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Metadata  map[string]string `json:"metadata"`
	Initiated time.Time         `json:"initiated"`
}

type partInfo struct {
	PartNumber   int       `json:"partNumber"`
	ETag         string    `json:"etag"` // quoted hex MD5
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	File         string    `json:"file"`
}

// S3 limits.
const (
	minPartSize   = 5 << 20
	maxPartNumber = 10000
)

func newMultipart(root, tmp string, st *store, log *slog.Logger) *multipart {
	return &multipart{root: root, tmp: tmp, store: st, log: log, locks: map[string]*uploadLock{}}
}

// lock serialises commits, completion and abort of one upload.
func (m *multipart) lock(id string) (unlock func()) {
	m.mu.Lock()
	l := m.locks[id]
	if l == nil {
		l = &uploadLock{}
		m.locks[id] = l
	}
	l.refs++
	m.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.locks, id)
		}
		m.mu.Unlock()
	}
}

func errNoSuchUpload() error {
	return gofakes3.ErrorMessage(gofakes3.ErrNoSuchUpload,
		"The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
}

// newUploadID returns 16 hex digits of initiation time then 16 random ones,
// so that IDs sort like initiation times: ListMultipartUploads orders a
// key's uploads by initiation but pages through them by upload-id-marker.
func newUploadID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", fmt.Errorf("generate upload ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validUploadID keeps client-supplied IDs from naming anything but an
// upload directory.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (m *multipart) dir(id string) string { return filepath.Join(m.root, id) }

func partJSON(n int) string { return fmt.Sprintf("part-%05d.json", n) }

// load returns the upload's state, or NoSuchUpload if it does not exist or
// belongs to another object (S3 answers NoSuchUpload then, too).
func (m *multipart) load(bucket, key, id string) (*uploadInfo, error) {
	if !validUploadID(id) {
		return nil, errNoSuchUpload()
	}
	info, err := readUpload(m.dir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoSuchUpload()
	} else if err != nil {
		return nil, err
	}
	if info.Bucket != bucket || info.Key != key {
		return nil, errNoSuchUpload()
	}
	return info, nil
}

func readUpload(dir string) (*uploadInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, "upload.json"))
	if err != nil {
		return nil, err
	}
	var info uploadInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("decode %s: %w", dir, err)
	}
	return &info, nil
}

func (m *multipart) create(bucket, key string, meta map[string]string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if ok, err := m.store.BucketExists(bucket); err != nil {
		return "", fmt.Errorf("check bucket %s: %w", bucket, err)
	} else if !ok {
		return "", gofakes3.BucketNotFound(bucket)
	}
	now := time.Now().UTC()
	id, err := newUploadID(now)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(uploadInfo{Bucket: bucket, Key: key, Metadata: meta, Initiated: now})
	if err != nil {
		return "", fmt.Errorf("encode upload state: %w", err)
	}
	dir := m.dir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create upload directory: %w", err)
	}
	// upload.json appears atomically: a directory without it is not an
	// upload (yet, or any more) and is ignored by listings.
	if err := writeFileAtomic(m.tmp, dir, "upload.json", b); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if err := syncDir(m.root); err != nil {
		m.log.Warn("embedded backend: sync directory", "err", err)
	}
	return id, nil
}

// uploadPart stores body as part n. size, if not negative, is its exact
// length.
func (m *multipart) uploadPart(ctx context.Context, bucket, key, id string, n int, body io.Reader, size int64) (partInfo, error) {
	// Fail before reading a possibly large body.
	if _, err := m.load(bucket, key, id); err != nil {
		return partInfo{}, err
	}
	f, err := os.CreateTemp(m.tmp, "part-*")
	if err != nil {
		return partInfo{}, fmt.Errorf("create spool file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	copied, sum, err := m.store.spoolHashed(ctx, f, body)
	if err != nil {
		return partInfo{}, bodyError(err, "spool part")
	}
	if err := finishSpool(f, copied, size); err != nil {
		return partInfo{}, err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return partInfo{}, fmt.Errorf("name part file: %w", err)
	}
	pi := partInfo{
		PartNumber:   n,
		ETag:         gofakes3.FormatETag(sum),
		Size:         copied,
		LastModified: time.Now().UTC(),
		File:         fmt.Sprintf("%05d-%s.data", n, hex.EncodeToString(rnd[:])),
	}
	b, err := json.Marshal(pi)
	if err != nil {
		return partInfo{}, fmt.Errorf("encode part state: %w", err)
	}

	unlock := m.lock(id)
	defer unlock()
	// Aborted or completed while we were receiving?
	if _, err := m.load(bucket, key, id); err != nil {
		return partInfo{}, err
	}
	dir := m.dir(id)
	old, _ := readPart(dir, n)
	if err := os.Rename(tmp, filepath.Join(dir, pi.File)); err != nil {
		return partInfo{}, fmt.Errorf("move part into upload: %w", err)
	}
	tmp = ""
	if err := writeFileAtomic(m.tmp, dir, partJSON(n), b); err != nil {
		os.Remove(filepath.Join(dir, pi.File))
		return partInfo{}, err
	}
	if old != nil && old.File != pi.File {
		os.Remove(filepath.Join(dir, old.File)) // superseded; an orphan is harmless
	}
	if err := syncDir(dir); err != nil {
		m.log.Warn("embedded backend: sync directory", "err", err)
	}
	return pi, nil
}

func readPart(dir string, n int) (*partInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, partJSON(n)))
	if err != nil {
		return nil, err
	}
	var pi partInfo
	if err := json.Unmarshal(b, &pi); err != nil {
		return nil, fmt.Errorf("decode part %d: %w", n, err)
	}
	return &pi, nil
}

// readParts returns the upload's committed parts in part-number order.
func readParts(dir string) ([]partInfo, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read upload directory: %w", err)
	}
	var parts []partInfo
	for _, de := range des {
		num, ok1 := strings.CutPrefix(de.Name(), "part-")
		num, ok2 := strings.CutSuffix(num, ".json")
		if !ok1 || !ok2 {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		pi, err := readPart(dir, n)
		if err != nil {
			return nil, err
		}
		parts = append(parts, *pi)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	return parts, nil
}

type completedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

// complete validates the part list, streams the parts' concatenation into
// the store and deletes the staging directory. It returns the multipart
// ETag and the object's modification time.
func (m *multipart) complete(ctx context.Context, bucket, key, id string, req []completedPart, cond *gofakes3.PutConditions) (string, time.Time, error) {
	unlock := m.lock(id)
	defer unlock()
	info, err := m.load(bucket, key, id)
	if err != nil {
		return "", time.Time{}, err
	}
	dir := m.dir(id)
	have, err := readParts(dir)
	if err != nil {
		return "", time.Time{}, err
	}
	byNum := make(map[int]partInfo, len(have))
	for _, p := range have {
		byNum[p.PartNumber] = p
	}
	if len(req) == 0 {
		return "", time.Time{}, gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, "You must specify at least one part")
	}
	// Checked in this order: the list's shape, then that every part is the
	// one uploaded, then sizes.
	for i := 1; i < len(req); i++ {
		if req[i].PartNumber <= req[i-1].PartNumber {
			return "", time.Time{}, gofakes3.ErrorMessage(gofakes3.ErrInvalidPartOrder,
				"The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
	}
	use := make([]partInfo, 0, len(req))
	for _, rp := range req {
		p, ok := byNum[rp.PartNumber]
		if !ok || trimETag(rp.ETag) != trimETag(p.ETag) {
			return "", time.Time{}, gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart,
				"One or more of the specified parts could not be found (part %d). The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", rp.PartNumber)
		}
		use = append(use, p)
	}
	md5s := make([]byte, 0, len(use)*md5.Size)
	var total int64
	for i, p := range use {
		if i < len(use)-1 && p.Size < minPartSize {
			return "", time.Time{}, errEntityTooSmall(p.PartNumber, p.Size)
		}
		sum, err := hex.DecodeString(trimETag(p.ETag))
		if err != nil || len(sum) != md5.Size {
			return "", time.Time{}, fmt.Errorf("part %d has a corrupt ETag %q", p.PartNumber, p.ETag)
		}
		md5s = append(md5s, sum...)
		total += p.Size
	}
	sum := md5.Sum(md5s)
	etag := fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum[:]), len(use))
	pr := &partsReader{ctx: ctx, dir: dir, parts: use}
	defer pr.Close()
	res, err := m.store.put(ctx, bucket, key, info.Metadata, pr, total, cond, &assembled{hash: sum[:], etag: etag})
	if err != nil {
		return "", time.Time{}, err
	}
	// The object is stored. upload.json goes first, so that an interrupted
	// clean-up leaves no half upload behind (Start sweeps the rest); a
	// failure here only costs disk.
	if err := os.Remove(filepath.Join(dir, "upload.json")); err != nil {
		m.log.Warn("embedded backend: retire completed upload", "upload", id, "err", err)
	} else if err := os.RemoveAll(dir); err != nil {
		m.log.Warn("embedded backend: remove completed upload", "upload", id, "err", err)
	}
	return etag, res.modTime, nil
}

func (m *multipart) abort(bucket, key, id string) error {
	unlock := m.lock(id)
	defer unlock()
	if _, err := m.load(bucket, key, id); err != nil {
		return err
	}
	dir := m.dir(id)
	// upload.json goes first so that a half-finished removal is no upload;
	// Start sweeps what is left.
	if err := os.Remove(filepath.Join(dir, "upload.json")); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		m.log.Warn("embedded backend: remove aborted upload", "upload", id, "err", err)
	}
	return nil
}

type uploadEntry struct {
	ID string
	uploadInfo
}

// list returns bucket's in-progress uploads sorted by key, then initiation.
func (m *multipart) list(bucket string) ([]uploadEntry, error) {
	des, err := os.ReadDir(m.root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", m.root, err)
	}
	var out []uploadEntry
	for _, de := range des {
		if !de.IsDir() || !validUploadID(de.Name()) {
			continue
		}
		info, err := readUpload(filepath.Join(m.root, de.Name()))
		if err != nil {
			continue // being created or removed
		}
		if info.Bucket == bucket {
			out = append(out, uploadEntry{ID: de.Name(), uploadInfo: *info})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// partsReader is the concatenation of an upload's parts. WriteTo lets
// io.Copy into a file hand each part file over whole, which Go turns into
// copy_file_range; Read is the portable fallback.
type partsReader struct {
	ctx   context.Context
	dir   string
	parts []partInfo
	cur   *os.File
	left  int64 // bytes still expected from cur
}

func (r *partsReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range r.parts {
		if err := r.ctx.Err(); err != nil {
			return total, err
		}
		n, err := copyPart(w, filepath.Join(r.dir, p.File), p.Size)
		total += n
		if err != nil {
			return total, err
		}
	}
	r.parts = nil
	return total, nil
}

func copyPart(w io.Writer, name string, size int64) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("open part: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("copy part %s: %w", filepath.Base(name), err)
	}
	if n != size {
		return n, fmt.Errorf("part file %s has %d bytes, expected %d", filepath.Base(name), n, size)
	}
	return n, nil
}

// Close releases the part file a partial Read left open.
func (r *partsReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.parts) == 0 {
				return 0, io.EOF
			}
			if err := r.ctx.Err(); err != nil {
				return 0, err
			}
			f, err := os.Open(filepath.Join(r.dir, r.parts[0].File))
			if err != nil {
				return 0, fmt.Errorf("open part: %w", err)
			}
			r.cur, r.left = f, r.parts[0].Size
			r.parts = r.parts[1:]
		}
		n, err := r.cur.Read(p)
		r.left -= int64(n)
		if errors.Is(err, io.EOF) {
			r.cur.Close()
			r.cur = nil
			if r.left != 0 {
				return n, errors.New("part file size changed")
			}
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}
