package extract

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The test photos live in the repository's testdata/photos (with their
// MANIFEST.tsv and LICENSES), found by walking up from the package
// directory, so that a clone anywhere passes its tests.

const photosRel = "testdata/photos"

func findPhotos() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, photosRel)
		if st, err := os.Stat(filepath.Join(p, "MANIFEST.tsv")); err == nil && !st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// photosDir returns the test photo directory or fails the test: the photos
// are part of the project's test contract, not optional.
func photosDir(tb testing.TB) string {
	tb.Helper()
	dir, err := findPhotos()
	if err != nil {
		tb.Fatalf("cannot find %s above the package directory: %v", photosRel, err)
	}
	return dir
}

// manifestRow is one line of MANIFEST.tsv.
type manifestRow struct {
	file, source, license, format, size, camera, datetime, gps, orientation, dims, notes string
}

func readManifest(tb testing.TB) map[string]manifestRow {
	tb.Helper()
	f, err := os.Open(filepath.Join(photosDir(tb), "MANIFEST.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows := map[string]manifestRow{}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			first = false
			if !strings.HasPrefix(line, "filename\t") {
				tb.Fatalf("unexpected manifest header %q", line)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		c := strings.Split(line, "\t")
		for len(c) < 11 {
			c = append(c, "")
		}
		r := manifestRow{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]}
		rows[r.file] = r
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rows
}

// photoFiles lists every test photo (relative, slash-separated), i.e. every
// file under the photo directory except the manifest and the licences.
func photoFiles(tb testing.TB) []string {
	tb.Helper()
	root := photosDir(tb)
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && rel == "LICENSES":
			return filepath.SkipDir
		case d.IsDir() || rel == "MANIFEST.tsv":
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(files)
	if len(files) == 0 {
		tb.Fatal("no test photos found")
	}
	return files
}

func readPhoto(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(photosDir(tb), filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func prefixOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
