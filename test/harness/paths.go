package harness

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const modulePath = "github.com/photogate/photogate"

// RepoRoot returns the directory holding photogate's go.mod, found by
// walking up from the working directory (go test runs each test binary in
// its package directory, somewhere below the root).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + modulePath + " module")
		}
		dir = parent
	}
}

// PhotosDir returns <repo root>/testdata/photos: real photographs and the
// MANIFEST.tsv saying what each contains, kept in the repository so that
// the tests that need them run in any checkout. A missing directory fails
// the test, since a photo test that skips proves nothing.
func PhotosDir(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("find the test photos: %v", err)
	}
	dir := filepath.Join(root, "testdata", "photos")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		t.Fatalf("test photos: %v", err)
	}
	return dir
}

// ReadPhoto reads the test photo at rel (a path under testdata/photos, as
// MANIFEST.tsv names it).
func ReadPhoto(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(PhotosDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
