package embedded

import (
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/photogate/photogate/s3/s3req"
)

// s3afero keeps an object's bytes in the file buckets/<bucket>/<key> and its
// metadata in metadata/<bucket>/<metaName(key)>. We write both ourselves (see
// store.put), so the metadata file name must be computed exactly as
// s3afero's unexported metaStore.metaPath does in v1.2.0; the layout test in
// store_test.go fails if the two ever disagree.
func metaName(key string) string {
	h := fnv.New128a()
	h.Write([]byte(key))
	name := strings.ReplaceAll(key, "/", "_")
	name = strings.ReplaceAll(name, "\\", "_")
	return name + "-" + hex.EncodeToString(h.Sum(nil))
}

// maxKeyLen is the longest key the s3afero layout can hold: the metadata file
// name is the whole key plus "-" and 32 hex digits, and a file name is at
// most 255 bytes on the filesystems we care about.
const maxKeyLen = 255 - 1 - 32

// checkKey rejects keys the on-disk layout cannot represent faithfully.
// s3afero maps a key straight to a path, so without this "../b2/k" would
// land in another bucket (path.Join cleans it), "a//b" and "a/b" would be the
// same object, and "dir/" would collide with the directory holding "dir/x".
func checkKey(key string) error {
	if len(key) > gofakes3.KeySizeLimit {
		return gofakes3.ResourceError(gofakes3.ErrKeyTooLong, key)
	}
	if len(key) > maxKeyLen {
		return gofakes3.ErrorMessagef(gofakes3.ErrKeyTooLong,
			"the embedded backend stores keys of at most %d bytes", maxKeyLen)
	}
	if key == "" || strings.ContainsRune(key, 0) {
		return gofakes3.ErrorMessage(gofakes3.ErrInvalidArgument, "invalid object key")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument,
				"object key %q is not supported by the embedded backend: it keeps keys as file paths, "+
					"so empty, \".\" and \"..\" segments (and a trailing \"/\") are not allowed", key)
		}
	}
	return nil
}

// Metadata keys.
const (
	// metaMultipartETag holds the "<md5-of-md5s>-N" ETag of an object
	// assembled by CompleteMultipartUpload. s3afero's Hash field is rendered
	// as hex by gofakes3, which cannot express the "-N" suffix, so the front
	// handler moves this value into the ETag header of GET/HEAD responses
	// and store.ListBucket uses it in listings. The name has no X-Amz- prefix
	// so no client header can ever be captured into it by gofakes3.
	metaMultipartETag = "X-Photogate-Multipart-Etag"

	// carrierPrefix smuggles standard headers gofakes3's PutObject handler
	// does not capture (it keeps only X-Amz-*, Content-Type,
	// Content-Disposition and Content-Encoding) into its metadata map; see
	// carryHeaders. Clients' own X-Amz-Photogate-* headers are dropped first.
	carrierPrefix = "X-Amz-Photogate-"
)

// carriedHeaders are stored with objects besides Content-Type,
// Content-Disposition, Content-Encoding and x-amz-meta-*.
func carriedHeaders() [3]string {
	return [...]string{"Cache-Control", "Content-Language", "Expires"}
}

func isCarried(ck string) bool {
	for _, name := range carriedHeaders() {
		if ck == name {
			return true
		}
	}
	return false
}

// carryHeaders prepares a PUT for gofakes3 so the headers it does not store
// survive as carrier metadata that objectMetadata turns back.
func carryHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), carrierPrefix) {
			delete(h, k)
		}
	}
	for _, name := range carriedHeaders() {
		if v := h.Get(name); v != "" {
			h.Set(carrierPrefix+name, v)
		}
	}
}

// requestMetadata extracts the metadata S3 stores with an object from a
// request (CreateMultipartUpload, CopyObject with REPLACE).
func requestMetadata(h http.Header) map[string]string {
	m := map[string]string{}
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if isStoredHeader(ck) && len(vs) > 0 {
			m[ck] = strings.Join(vs, ",")
		}
	}
	return m
}

func isStoredHeader(ck string) bool {
	switch ck {
	case "Content-Type", "Content-Disposition", "Content-Encoding":
		return true
	}
	return isCarried(ck) || strings.HasPrefix(ck, "X-Amz-Meta-")
}

// objectMetadata is the metadata actually stored for an object. gofakes3's
// PutObject handler passes every X-Amz-* request header (x-amz-date,
// x-amz-content-sha256, x-amz-checksum-*, ...) and gofakes3 echoes stored
// metadata verbatim as GET/HEAD response headers, so everything but real
// object metadata is dropped here. In particular a stored
// x-amz-checksum-crc32 would be returned on ranged GETs too, where SDKs that
// validate response checksums would reject the partial body.
func objectMetadata(in map[string]string, modTime time.Time, multipartETag string) map[string]string {
	out := make(map[string]string, len(in)+2)
	for k, v := range in {
		ck := http.CanonicalHeaderKey(k)
		if base, ok := strings.CutPrefix(ck, carrierPrefix); ok {
			if !isCarried(base) {
				continue
			}
			ck = base
		}
		if !isStoredHeader(ck) {
			continue
		}
		if ck == "Content-Encoding" {
			if v = s3req.StripAWSChunked([]string{v}); v == "" {
				continue
			}
		}
		out[ck] = v
	}
	if out["Content-Type"] == "" {
		// Without it Go's server would sniff one from the first bytes on
		// every GET, so a stored object's type could depend on its content.
		out["Content-Type"] = "application/octet-stream"
	}
	// gofakes3 returns this entry as the Last-Modified header; tie it to the
	// file's mtime so HEAD and listings agree.
	out["Last-Modified"] = modTime.UTC().Format(http.TimeFormat)
	if multipartETag != "" {
		out[metaMultipartETag] = multipartETag
	}
	return out
}

// trimETag normalises an entity tag for comparison: quotes and a weak
// prefix are not part of the value.
func trimETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// etagMatches implements If-Match/If-None-Match list matching.
func etagMatches(header, etag string) bool {
	want := trimETag(etag)
	for cand := range strings.SplitSeq(header, ",") {
		cand = strings.TrimSpace(cand)
		if cand == "*" || (cand != "" && trimETag(cand) == want) {
			return true
		}
	}
	return false
}
