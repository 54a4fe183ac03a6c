package repo_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// TestPhotosMatchManifest keeps testdata/photos and its MANIFEST.tsv in
// step: every row names a file of the stated size, every photo has a row
// (the tests that upload the whole directory check each file against its
// row), and the licences that cover them are there.
func TestPhotosMatchManifest(t *testing.T) {
	dir := harness.PhotosDir(t)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "filename\tsource\tlicense\tformat\tsize_bytes\t") {
		t.Fatalf("MANIFEST.tsv header %q, want filename, source, license, format, size_bytes, ...", sc.Text())
	}
	listed := map[string]bool{}
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 5 {
			t.Errorf("MANIFEST.tsv row %q has %d columns, want at least 5", sc.Text(), len(cols))
			continue
		}
		name, license := cols[0], cols[2]
		listed[name] = true
		if strings.TrimSpace(license) == "" {
			t.Errorf("%s: MANIFEST.tsv names no licence", name)
		}
		want, err := strconv.ParseInt(cols[4], 10, 64)
		if err != nil {
			t.Errorf("%s: size_bytes %q: %v", name, cols[4], err)
			continue
		}
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s is in MANIFEST.tsv but not in %s: %v", name, dir, err)
			continue
		}
		if info.Size() != want {
			t.Errorf("%s has %d bytes, MANIFEST.tsv says %d", name, info.Size(), want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	licences := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "MANIFEST.tsv":
		case strings.HasPrefix(rel, "LICENSES/"):
			licences++
		case !listed[rel]:
			t.Errorf("%s is in %s but has no MANIFEST.tsv row", rel, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if licences == 0 {
		t.Errorf("%s/LICENSES holds no licence texts", dir)
	}
}
