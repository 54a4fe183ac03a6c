package embedded

import (
	"bytes"
	"crypto/md5"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
)

func newTestStore(t *testing.T) (*store, string) {
	t.Helper()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := newStore(filepath.Join(dir, "objects"), tmp, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// TestStoreMetadataLayoutMatchesS3afero proves s3afero reads the metadata
// store.put writes: the Hash it reports is one it could not have computed
// (an assembled upload's MD5-of-MD5s), so it came from our file.
func TestStoreMetadataLayoutMatchesS3afero(t *testing.T) {
	st, _ := newTestStore(t)
	fake := bytes.Repeat([]byte{0xab}, md5.Size)
	for _, key := range []string{"plain", "a/b/c.jpg", `back\slash`, "ünï código"} {
		_, err := st.put(t.Context(), "bkt", key, map[string]string{"Content-Type": "image/jpeg", "X-Amz-Meta-K": "v"},
			strings.NewReader("content"), 7, nil, &assembled{hash: fake, etag: `"abababababababababababababababab-2"`})
		if err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
		obj, err := st.inner.HeadObject("bkt", key)
		if err != nil {
			t.Fatalf("s3afero head %q: %v", key, err)
		}
		obj.Contents.Close()
		if !bytes.Equal(obj.Hash, fake) || obj.Metadata["Content-Type"] != "image/jpeg" || obj.Metadata["X-Amz-Meta-K"] != "v" {
			t.Fatalf("s3afero sees hash %x meta %v for %q: it did not read our metadata file", obj.Hash, obj.Metadata, key)
		}
	}
}

func TestStoreRepairsMetadata(t *testing.T) {
	st, _ := newTestStore(t)
	if _, err := st.PutObject("bkt", "dir/k", map[string]string{"Content-Type": "text/plain"}, strings.NewReader("hello"), 5, nil); err != nil {
		t.Fatal(err)
	}
	want := md5.Sum([]byte("hello"))

	// Metadata lost (a crash between spool and commit, or a stray delete):
	// s3afero alone fails every read, and the bucket listing, here.
	if err := os.Remove(st.metaPath("bkt", "dir/k")); err != nil {
		t.Fatal(err)
	}
	obj, err := st.HeadObject("bkt", "dir/k")
	if err != nil {
		t.Fatalf("head with missing metadata: %v", err)
	}
	obj.Contents.Close()
	if !bytes.Equal(obj.Hash, want[:]) {
		t.Fatalf("repaired hash %x, want %x", obj.Hash, want)
	}

	// The file changed behind the metadata's back: the stored metadata map
	// survives the repair.
	if _, err := st.PutObject("bkt", "dir/k", map[string]string{"Content-Type": "text/plain"}, strings.NewReader("hello"), 5, nil); err != nil {
		t.Fatal(err)
	}
	p := st.objectPath("bkt", "dir/k")
	if err := os.WriteFile(p, []byte("HELLO!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := st.ListBucket("bkt", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatalf("list with stale metadata: %v", err)
	}
	want = md5.Sum([]byte("HELLO!"))
	if len(list.Contents) != 1 || list.Contents[0].ETag != gofakes3.FormatETag(want[:]) || list.Contents[0].Size != 6 {
		t.Fatalf("listing after repair: %+v", list.Contents)
	}
	obj, err = st.GetObject("bkt", "dir/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Contents.Close()
	if b, _ := io.ReadAll(obj.Contents); string(b) != "HELLO!" || obj.Metadata["Content-Type"] != "text/plain" {
		t.Fatalf("after repair: %q %v", b, obj.Metadata)
	}
}

func TestStoreKeyConflicts(t *testing.T) {
	st, _ := newTestStore(t)
	if _, err := st.PutObject("bkt", "a", nil, strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutObject("bkt", "a/b", nil, strings.NewReader("x"), 1, nil); !gofakes3.HasErrorCode(err, gofakes3.ErrInvalidArgument) {
		t.Fatalf("key under an object: %v", err)
	}
	if _, err := st.PutObject("bkt", "d/e", nil, strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutObject("bkt", "d", nil, strings.NewReader("x"), 1, nil); !gofakes3.HasErrorCode(err, gofakes3.ErrInvalidArgument) {
		t.Fatalf("key that is a prefix: %v", err)
	}
	// Deleting "d" (a directory, not an object) must not remove anything.
	if _, err := st.DeleteObject("bkt", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.HeadObject("bkt", "d/e"); err != nil {
		t.Fatalf("d/e after deleting d: %v", err)
	}
	res, err := st.DeleteMulti("bkt", "d/e", "../other/x", "missing")
	if err != nil || len(res.Deleted) != 3 || len(res.Error) != 0 {
		t.Fatalf("delete multi: %v %+v", err, res)
	}
}
