// Package repo_test checks the repository itself rather than the code in
// it: a clone stays small, and what is large is test data, kept where
// readers expect it.
package repo_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// maxTrackedFileSize is the largest file git may track outside a testdata
// directory: anything bigger is data or a build product, and every clone
// carries it forever.
const maxTrackedFileSize = 1 << 20

// TestLargeFilesLiveInTestdata fails when git tracks a file over 1 MiB
// that is not inside a directory named testdata.
func TestLargeFilesLiveInTestdata(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := trackedFiles(t, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("git ls-files in %s lists no files", root)
	}
	var oversized []string
	for _, rel := range files {
		if insideTestdata(rel) {
			continue
		}
		info, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().IsRegular() && info.Size() > maxTrackedFileSize {
			oversized = append(oversized, fmt.Sprintf("%s (%d bytes)", rel, info.Size()))
		}
	}
	if len(oversized) > 0 {
		t.Errorf("git tracks %d files over %d bytes outside a testdata directory; move test data under testdata/ and keep build products out of git:\n%s",
			len(oversized), maxTrackedFileSize, strings.Join(oversized, "\n"))
	}
}

// trackedFiles returns the slash-separated paths, relative to root, of the
// files git tracks under root. Outside a git checkout (a source tarball,
// say) there is nothing to check, so the test skips; under CI=true, where
// the checkout is the point, it fails instead.
func trackedFiles(t *testing.T, root string) ([]string, error) {
	t.Helper()
	if err := exec.CommandContext(t.Context(), "git", "-C", root, "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			return nil, fmt.Errorf("%s is not a git checkout (or git is missing): %w", root, err)
		}
		t.Skipf("%s is not a git checkout (or git is missing): %v (under CI=true this fails instead)", root, err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "git", "-C", root, "ls-files", "-z")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w: %s", root, err, stderr.String())
	}
	var files []string
	for name := range strings.SplitSeq(string(out), "\x00") {
		if name != "" {
			files = append(files, name)
		}
	}
	return files, nil
}

// insideTestdata reports whether the slash-separated path rel lies below a
// directory named exactly testdata.
func insideTestdata(rel string) bool {
	return slices.Contains(strings.Split(path.Dir(rel), "/"), "testdata")
}

func TestInsideTestdata(t *testing.T) {
	for rel, want := range map[string]bool{
		"testdata/photos/jpeg/a.jpg":     true,
		"metastore/extract/testdata/x":   true,
		"testdata":                       false, // a file, not a directory
		"docs/testdata.md":               false,
		"cmd/testdata2/big.bin":          false,
		"mytestdata/big.bin":             false,
		"bin/photogate":                  false,
		"test/bench/results/testdata.gz": false,
	} {
		if got := insideTestdata(rel); got != want {
			t.Errorf("insideTestdata(%q) = %v, want %v", rel, got, want)
		}
	}
}
