package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildGateway compiles ./cmd/photogate into dir and returns the binary's
// path. When the test binary itself was built with -race, the gateway is
// too (see RaceEnabled). Call it once per test package, from TestMain: a
// -race build takes long enough that every test building its own copy
// would dominate the run.
//
// If $PHOTOGATE_BIN is set, that binary is used instead and nothing is
// built, so CI can test exactly the artefact it ships.
func BuildGateway(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("PHOTOGATE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PHOTOGATE_BIN: %w", err)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "photogate")
	// nodynamic: as the Makefile builds it (rendition/heic.go).
	args := []string{"build", "-tags", "nodynamic", "-o", out}
	if RaceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/photogate")
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, b)
	}
	return out, nil
}
