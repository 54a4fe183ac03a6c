package embedded

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
)

// store is the gofakes3.Backend the embedded server runs on. Buckets, and
// reading objects, are s3afero's multi-bucket backend on the OS filesystem;
// what store adds was found by reading s3afero v1.2.0 and confirmed by tests:
//
//   - Writes. s3afero's PutObject truncates the object file in place and
//     copies the request body into it while holding the backend-wide mutex:
//     one slow client stalls every other request, an interrupted upload
//     destroys the previous version, and a GET streaming the old version
//     reads a torn mix. It also merges the previous version's metadata into
//     the new one (MergeMetadata, which in passing leaks an open file), and
//     CopyObject onto itself truncates the source before reading it, leaving
//     an empty object. store.put instead spools the body to a temporary file
//     outside any lock, verifies it, and then switches the object over with
//     a metadata write and a rename under a short exclusive section.
//   - Listing. s3afero ignores max-keys/markers (gofakes3 then returns
//     everything, IsTruncated=false, even with start-after), builds wrong
//     common prefixes when the prefix ends mid-segment ("photos/20" gives
//     "photos/20/2023/"), does not group by delimiters other than "/", and
//     reports directories left behind by deletes as prefixes.
//   - Key validation: s3afero joins keys onto paths unchecked, so "../x"
//     escapes the bucket (see checkKey).
//   - Crash repair: when metadata is missing or stale s3afero tries to
//     re-hash the object but hashes the metadata file's path instead, which
//     fails for every read and fails the whole bucket's listing. store
//     re-derives the metadata from the object file before s3afero looks.
//
// gofakes3's Backend interface carries no context, so methods it calls use
// context.Background(); the request body read by PutObject still ends with
// the client's connection.
type store struct {
	inner      *s3afero.MultiBucketBackend
	bucketsDir string // <Dir>/objects/buckets, s3afero's object files
	metaDir    string // <Dir>/objects/metadata, s3afero's metadata files
	tmpDir     string // <Dir>/tmp, spool files; same filesystem, so renames work
	log        *slog.Logger
	bufs       sync.Pool

	// mu orders object switch-overs against readers. Writers hold it only to
	// rename a finished file into place (plus a small metadata write) and to
	// delete; readers only to open a file or read a directory. Payload bytes
	// never move under it, except when repairing metadata after a crash.
	mu sync.RWMutex
}

var _ gofakes3.Backend = (*store)(nil)

func newStore(root, tmpDir string, log *slog.Logger) (*store, error) {
	fsys, err := s3afero.FsPath(root, s3afero.FsPathCreateAll)
	if err != nil {
		return nil, fmt.Errorf("open object directory %s: %w", root, err)
	}
	inner, err := s3afero.MultiBucket(fsys)
	if err != nil {
		return nil, fmt.Errorf("s3afero backend on %s: %w", root, err)
	}
	s := &store{
		inner:      inner,
		bucketsDir: filepath.Join(root, "buckets"),
		metaDir:    filepath.Join(root, "metadata"),
		tmpDir:     tmpDir,
		log:        log,
	}
	s.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	return s, nil
}

func (s *store) objectPath(bucket, key string) string {
	return filepath.Join(s.bucketsDir, bucket, filepath.FromSlash(key))
}

func (s *store) metaPath(bucket, key string) string {
	return filepath.Join(s.metaDir, bucket, metaName(key))
}

// ---- buckets: s3afero, ordered against object writes ----

func (s *store) ListBuckets() ([]gofakes3.BucketInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.inner.ListBuckets()
}

func (s *store) BucketExists(name string) (bool, error) {
	if gofakes3.ValidateBucketName(name) != nil {
		return false, nil // never created, and keeps "..", "." off the filesystem
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.inner.BucketExists(name)
}

func (s *store) CreateBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return withMessage(s.inner.CreateBucket(name))
}

func (s *store) DeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return withMessage(s.inner.DeleteBucket(name))
}

// withMessage gives a bare gofakes3 error code S3's wording: gofakes3
// sends such codes without a <Message>, and clients then print "Unknown".
func withMessage(err error) error {
	var ge gofakes3.Error
	if err == nil || !errors.As(err, &ge) {
		return err
	}
	c := ge.ErrorCode()
	if strings.TrimPrefix(strings.TrimPrefix(ge.Error(), string(c)), ": ") != "" {
		return err // it has a message of its own
	}
	return gofakes3.ErrorMessage(c, defaultMessage(c))
}

func (s *store) ForceDeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner.ForceDeleteBucket(name)
}

// ---- reads: s3afero, after making sure its metadata is sound ----

// checkBucket keeps names that are not valid bucket names (never created,
// and possibly "..") away from the paths below.
func checkBucket(bucket string) error {
	if gofakes3.ValidateBucketName(bucket) != nil {
		return gofakes3.BucketNotFound(bucket)
	}
	return nil
}

func (s *store) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	if checkKey(key) != nil {
		return nil, s.missingKey(bucket, key)
	}
	unlock, err := s.rlockHealthy(bucket, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.inner.HeadObject(bucket, key)
}

// GetObject returns an open file; it is read after the lock is released,
// which is safe because writers replace files by rename: a reader keeps the
// version it opened.
func (s *store) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	if checkKey(key) != nil {
		return nil, s.missingKey(bucket, key)
	}
	unlock, err := s.rlockHealthy(bucket, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.inner.GetObject(bucket, key, rng)
}

func (s *store) missingKey(bucket, key string) error {
	if ok, err := s.BucketExists(bucket); err != nil {
		return err
	} else if !ok {
		return gofakes3.BucketNotFound(bucket)
	}
	return gofakes3.KeyNotFound(key)
}

// rlockHealthy read-locks the store with the object's metadata consistent
// with its file, repairing it first if a crash left it missing or stale.
func (s *store) rlockHealthy(bucket, key string) (unlock func(), err error) {
	s.mu.RLock()
	if !s.needsHeal(bucket, key) {
		return s.mu.RUnlock, nil
	}
	s.mu.RUnlock()
	s.mu.Lock()
	_, err = s.healLocked(bucket, key)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repair metadata of %s/%s: %w", bucket, key, err)
	}
	s.mu.RLock()
	return s.mu.RUnlock, nil
}

func (s *store) needsHeal(bucket, key string) bool {
	st, err := os.Stat(s.objectPath(bucket, key))
	if err != nil || !st.Mode().IsRegular() {
		return false // nothing to repair; s3afero reports it missing
	}
	md, err := s.readMeta(bucket, key)
	return err != nil || !metaFits(md, st)
}

func metaFits(md *s3afero.Metadata, st fs.FileInfo) bool {
	return len(md.Hash) > 0 && md.Size == st.Size() && md.ModTime.Equal(st.ModTime())
}

func (s *store) readMeta(bucket, key string) (*s3afero.Metadata, error) {
	b, err := os.ReadFile(s.metaPath(bucket, key))
	if err != nil {
		return nil, err
	}
	var md s3afero.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("decode metadata of %s/%s: %w", bucket, key, err)
	}
	return &md, nil
}

// healLocked (s.mu held exclusively) rebuilds an object's metadata from its
// file, keeping whatever stored metadata map survives, and returns it.
func (s *store) healLocked(bucket, key string) (*s3afero.Metadata, error) {
	p := s.objectPath(bucket, key)
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	md, err := s.readMeta(bucket, key)
	if err == nil && metaFits(md, st) {
		return md, nil // someone else repaired it
	}
	if md == nil {
		md = &s3afero.Metadata{}
	}
	s.log.Warn("embedded backend: repairing object metadata", "bucket", bucket, "key", key)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash %s: %w", p, err)
	}
	meta := md.Meta
	delete(meta, metaMultipartETag) // describes content we no longer have
	md = &s3afero.Metadata{
		File:    path.Join(bucket, key),
		ModTime: st.ModTime(),
		Size:    st.Size(),
		Hash:    h.Sum(nil),
		Meta:    objectMetadata(meta, st.ModTime(), ""),
	}
	if err := s.writeMeta(bucket, key, md); err != nil {
		return nil, err
	}
	return md, nil
}

func (s *store) writeMeta(bucket, key string, md *s3afero.Metadata) error {
	b, err := json.Marshal(md)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	dir := filepath.Join(s.metaDir, bucket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create metadata directory: %w", err)
	}
	return writeFileAtomic(s.tmpDir, dir, metaName(key), b)
}

// etagOf is the ETag S3 would report for the object md describes.
func etagOf(md *s3afero.Metadata) string {
	if v := md.Meta[metaMultipartETag]; v != "" {
		return v
	}
	return gofakes3.FormatETag(md.Hash)
}

// ---- writes ----

// PutObject is gofakes3's entry point (PUT object, browser POST uploads).
func (s *store) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	_, err := s.put(context.Background(), bucket, key, meta, input, size, cond, nil)
	return gofakes3.PutObjectResult{}, err
}

// CopyObject serves gofakes3's copy path; the front handler normally does
// copies itself (for x-amz-metadata-directive), through the same put.
func (s *store) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	etag, mtime, err := s.copyObject(context.Background(), srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: etag, LastModified: gofakes3.NewContentTime(mtime)}, nil
}

func (s *store) copyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (etag string, mtime time.Time, err error) {
	src, err := s.GetObject(srcBucket, srcKey, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	defer src.Contents.Close()
	// The source is an open file: even a copy onto itself reads the old
	// version to the end, since put replaces the destination by rename.
	res, err := s.put(ctx, dstBucket, dstKey, meta, src.Contents, src.Size, nil, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	return res.etag, res.modTime, nil
}

// assembled describes content whose ETag is known in advance: a completed
// multipart upload. Skipping the whole-object MD5 lets the concatenation be
// copied by the kernel (copy_file_range), and S3 never exposes that MD5 for
// multipart objects anyway.
type assembled struct {
	hash []byte // MD5 of the parts' binary MD5s, stored as s3afero's Hash
	etag string // `"<hex>-N"`
}

type putResult struct {
	etag    string
	modTime time.Time
}

// put stores src as bucket/key. size, if not negative, must be src's exact
// length. S3-level failures are returned as gofakes3 errors, unwrapped, so
// gofakes3's handlers map them to the right status.
func (s *store) put(ctx context.Context, bucket, key string, meta map[string]string, src io.Reader, size int64, cond *gofakes3.PutConditions, pre *assembled) (putResult, error) {
	if err := checkKey(key); err != nil {
		return putResult{}, err
	}
	if ok, err := s.BucketExists(bucket); err != nil {
		return putResult{}, fmt.Errorf("check bucket %s: %w", bucket, err)
	} else if !ok {
		return putResult{}, gofakes3.BucketNotFound(bucket)
	}

	f, err := os.CreateTemp(s.tmpDir, "put-*")
	if err != nil {
		return putResult{}, fmt.Errorf("create spool file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if tmp != "" {
			os.Remove(tmp)
		}
	}()

	var n int64
	var sum []byte
	if pre != nil {
		// src is a partsReader (ctx-aware itself); io.Copy hands the file
		// to its WriteTo so each part goes file-to-file in the kernel.
		n, err = io.Copy(f, src)
		sum = pre.hash
	} else {
		n, sum, err = s.spoolHashed(ctx, f, src)
	}
	if err != nil {
		return putResult{}, bodyError(err, "spool object")
	}
	if err := finishSpool(f, n, size); err != nil {
		return putResult{}, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return putResult{}, fmt.Errorf("stat spool file: %w", err)
	}

	etag := gofakes3.FormatETag(sum)
	multipartETag := ""
	if pre != nil {
		etag, multipartETag = pre.etag, pre.etag
	}
	md := &s3afero.Metadata{
		File:    path.Join(bucket, key),
		ModTime: st.ModTime(), // rename keeps it, so s3afero sees them agree
		Size:    st.Size(),
		Hash:    sum,
		Meta:    objectMetadata(meta, st.ModTime(), multipartETag),
	}

	s.mu.Lock()
	err = s.commitLocked(bucket, key, tmp, md, cond)
	s.mu.Unlock()
	if err != nil {
		return putResult{}, err
	}
	tmp = "" // renamed into place
	// Make the renames durable; failure here does not undo the write.
	if err := syncDir(filepath.Dir(s.objectPath(bucket, key))); err != nil {
		s.log.Warn("embedded backend: sync directory", "err", err)
	}
	return putResult{etag: etag, modTime: st.ModTime()}, nil
}

// commitLocked makes the spooled file tmp the object bucket/key. Metadata is
// written first: a crash between the two leaves either an orphaned metadata
// file (new key; harmless) or metadata that does not fit the old file, which
// rlockHealthy repairs.
func (s *store) commitLocked(bucket, key, tmp string, md *s3afero.Metadata, cond *gofakes3.PutConditions) error {
	if st, err := os.Stat(filepath.Join(s.bucketsDir, bucket)); err != nil || !st.IsDir() {
		return gofakes3.BucketNotFound(bucket) // deleted while we spooled
	}
	if cond != nil {
		if err := s.checkConditionsLocked(bucket, key, cond); err != nil {
			return err
		}
	}
	p := s.objectPath(bucket, key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument,
				"cannot store %q: a prefix of it is already an object (the embedded backend keeps keys as paths)", key)
		}
		return fmt.Errorf("create object directory: %w", err)
	}
	if st, err := os.Lstat(p); err == nil && !st.Mode().IsRegular() {
		return gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument,
			"cannot store %q: other keys use it as a prefix (the embedded backend keeps keys as paths)", key)
	}
	if err := s.writeMeta(bucket, key, md); err != nil {
		return fmt.Errorf("write metadata of %s/%s: %w", bucket, key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("move object into place: %w", err)
	}
	return nil
}

// checkConditionsLocked evaluates If-Match/If-None-Match against the current
// version under the same lock as the switch-over, so they are atomic. Unlike
// gofakes3.CheckPutConditions it knows multipart ETags.
func (s *store) checkConditionsLocked(bucket, key string, cond *gofakes3.PutConditions) error {
	md, err := s.healLocked(bucket, key)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read current version of %s/%s: %w", bucket, key, err)
	}
	if cond.IfNoneMatch != nil && exists && etagMatches(*cond.IfNoneMatch, etagOf(md)) {
		return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	}
	if cond.IfMatch != nil && (!exists || !etagMatches(*cond.IfMatch, etagOf(md))) {
		return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	}
	return nil
}

// ---- deletes: s3afero, plus tidying up the directories keys implied ----

func (s *store) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	if err := checkBucket(bucket); err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if checkKey(key) != nil || !s.isObjectLocked(bucket, key) {
		// S3 deletes of absent keys succeed; s3afero would also try to
		// remove a directory if key named one.
		if ok, err := s.inner.BucketExists(bucket); err != nil || !ok {
			return gofakes3.ObjectDeleteResult{}, gofakes3.BucketNotFound(bucket)
		}
		return gofakes3.ObjectDeleteResult{}, nil
	}
	res, err := s.inner.DeleteObject(bucket, key)
	if err == nil {
		s.pruneLocked(bucket, key)
	}
	return res, err
}

func (s *store) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	if err := checkBucket(bucket); err != nil {
		return gofakes3.MultiDeleteResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res gofakes3.MultiDeleteResult
	var real []string
	for _, k := range keys {
		if checkKey(k) != nil || !s.isObjectLocked(bucket, k) {
			res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
		} else {
			real = append(real, k)
		}
	}
	inner, err := s.inner.DeleteMulti(bucket, real...)
	if err != nil {
		return res, err
	}
	res.Deleted = append(res.Deleted, inner.Deleted...)
	res.Error = append(res.Error, inner.Error...)
	for _, d := range inner.Deleted {
		s.pruneLocked(bucket, d.Key)
	}
	return res, nil
}

func (s *store) isObjectLocked(bucket, key string) bool {
	st, err := os.Lstat(s.objectPath(bucket, key))
	return err == nil && st.Mode().IsRegular()
}

// pruneLocked removes the directories that only existed for key, so they
// stop showing up as common prefixes and do not keep the bucket non-empty.
func (s *store) pruneLocked(bucket, key string) {
	root := filepath.Join(s.bucketsDir, bucket)
	for dir := filepath.Dir(s.objectPath(bucket, key)); len(dir) > len(root) && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return // not empty (or gone): stop climbing
		}
	}
}

// ---- listing ----

type listEntry struct {
	key    string
	prefix bool
	size   int64
	mtime  time.Time
	etag   string // "" means: metadata needs repair first
}

// ListBucket lists in S3 order with S3 paging. gofakes3 passes the marker
// (decoded continuation-token or start-after for V2) and max-keys, and
// renders NextMarker as the next continuation token.
func (s *store) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	var p gofakes3.Prefix
	if prefix != nil {
		p = *prefix
	}
	pfx, delim := "", ""
	if p.HasPrefix {
		pfx = p.Prefix
	}
	if p.HasDelimiter {
		delim = p.Delimiter
	}
	marker := ""
	if page.HasMarker {
		marker = page.Marker
	}

	s.mu.RLock()
	entries, err := s.scanLocked(bucket, pfx, delim, marker)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}

	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	// Several keys under one common prefix make one entry. A prefix cannot
	// equal a key (prefixes end in the delimiter, keys there would be
	// directories), so equal neighbours are always prefix duplicates.
	entries = slices.CompactFunc(entries, func(a, b listEntry) bool { return a.key == b.key })
	out := gofakes3.NewObjectList()
	count := 0
	for _, e := range entries {
		if marker != "" && e.key <= marker {
			continue
		}
		if page.MaxKeys > 0 && int64(count) == page.MaxKeys {
			out.IsTruncated = true
			break
		}
		if e.prefix {
			out.AddPrefix(e.key)
		} else {
			if e.etag == "" {
				s.mu.Lock()
				md, err := s.healLocked(bucket, e.key)
				s.mu.Unlock()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted meanwhile
				} else if err != nil {
					return nil, fmt.Errorf("repair metadata of %s/%s: %w", bucket, e.key, err)
				}
				e.etag = etagOf(md)
			}
			out.Add(&gofakes3.Content{
				Key:          e.key,
				LastModified: gofakes3.NewContentTime(e.mtime),
				ETag:         e.etag,
				Size:         e.size,
				StorageClass: gofakes3.StorageStandard,
			})
		}
		count++
		out.NextMarker = e.key
	}
	if !out.IsTruncated {
		out.NextMarker = ""
	}
	return out, nil
}

// scanLocked collects the bucket's keys and common prefixes matching pfx.
// Keys live in a directory tree, so only the subtree below pfx's last "/"
// is visited, and with delimiter "/" only one directory of it.
func (s *store) scanLocked(bucket, pfx, delim, marker string) ([]listEntry, error) {
	bucketDir := filepath.Join(s.bucketsDir, bucket)
	if st, err := os.Stat(bucketDir); errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return nil, gofakes3.BucketNotFound(bucket)
	} else if err != nil {
		return nil, fmt.Errorf("stat bucket %s: %w", bucket, err)
	}
	dirPart := pfx[:strings.LastIndexByte(pfx, '/')+1]
	if dirPart != "" && checkKey(strings.TrimSuffix(dirPart, "/")) != nil {
		return nil, nil // no stored key can have this prefix
	}
	root := filepath.Join(bucketDir, filepath.FromSlash(dirPart))

	var entries []listEntry
	addFile := func(key string, info fs.FileInfo) {
		e := listEntry{key: key, size: info.Size(), mtime: info.ModTime()}
		if md, err := s.readMeta(bucket, key); err == nil && metaFits(md, info) {
			e.etag = etagOf(md)
		}
		entries = append(entries, e)
	}

	if delim == "/" {
		des, err := os.ReadDir(root)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("list %s: %w", root, err)
		}
		for _, de := range des {
			key := dirPart + de.Name()
			if !strings.HasPrefix(key, pfx) {
				continue
			}
			if de.IsDir() {
				if hasObject(filepath.Join(root, de.Name())) {
					entries = append(entries, listEntry{key: key + "/", prefix: true})
				}
				continue
			}
			if !de.Type().IsRegular() {
				continue
			}
			info, err := de.Info()
			if err != nil {
				continue // deleted meanwhile
			}
			addFile(key, info)
		}
		return entries, nil
	}

	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if p == root && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return filepath.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(bucketDir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if de.IsDir() {
			if p == root {
				return nil
			}
			d := key + "/"
			if !strings.HasPrefix(d, pfx) && !strings.HasPrefix(pfx, d) {
				return filepath.SkipDir
			}
			// Every key below d sorts in [d, key+"0"): '0' follows '/'.
			if marker != "" && key+"0" <= marker {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() || !strings.HasPrefix(key, pfx) {
			return nil
		}
		if delim != "" {
			if i := strings.Index(key[len(pfx):], delim); i >= 0 {
				entries = append(entries, listEntry{key: key[:len(pfx)+i+len(delim)], prefix: true})
				return nil
			}
		}
		info, err := de.Info()
		if err != nil {
			return nil // deleted meanwhile
		}
		addFile(key, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return entries, nil
}

// hasObject reports whether a directory holds at least one object file.
func hasObject(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// ---- helpers ----

// ctxReader stops a copy once ctx is done; the cost is one check per read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// bodyError keeps S3 errors raised by the body readers (BadDigest,
// IncompleteBody, ...) as they are and maps a client hanging up mid-body to
// IncompleteBody; anything else is an internal error with context.
func bodyError(err error, what string) error {
	var s3e gofakes3.Error
	if errors.As(err, &s3e) {
		return s3e
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteBody("the request body ended early")
	}
	return fmt.Errorf("%s: %w", what, err)
}

// writeFileAtomic replaces dir/name with data so readers see the old or the
// new content, never a prefix. The temporary file lives in tmpDir (on the
// same filesystem), which Start empties, so a crash leaves no debris in the
// data directories.
func writeFileAtomic(tmpDir, dir, name string, data []byte) error {
	f, err := os.CreateTemp(tmpDir, "file-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", tmpDir, err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename into %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// spoolHashed copies src into the spool file f through a pooled buffer and
// returns the byte count and the MD5 (the ETag of a single-part object or a
// part).
func (s *store) spoolHashed(ctx context.Context, f *os.File, src io.Reader) (int64, []byte, error) {
	h := md5.New()
	bp := s.bufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, src}, *bp)
	s.bufs.Put(bp)
	return n, h.Sum(nil), err
}

// finishSpool checks that a spool file got exactly size bytes (when size is
// known) and makes it durable before anything points at it: S3 promises
// durability once it has answered.
func finishSpool(f *os.File, n, size int64) error {
	if size >= 0 && n != size {
		return errIncompleteBody("body has %d bytes, expected %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync spool file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close spool file: %w", err)
	}
	return nil
}
