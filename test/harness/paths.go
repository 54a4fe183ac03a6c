package harness

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
