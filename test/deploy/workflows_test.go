package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// actionlintVersion pins actionlint; `make lint` installs the same version
// (ACTIONLINT_VERSION in the Makefile) under the same name.
const actionlintVersion = "v1.7.12"

// TestWorkflowsPassActionlint checks .github/workflows offline: syntax,
// expressions, job and step references, and the shell scripts' quoting.
func TestWorkflowsPassActionlint(t *testing.T) {
	bin := harness.GoTool(t, "actionlint", "github.com/rhysd/actionlint/cmd/actionlint", actionlintVersion, "PHOTOGATE_ACTIONLINT")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-no-color")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// usesLine matches a step's or job's `uses:`; local workflows and actions
// (./…) need no pin.
var usesLine = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*([^\s#]+)\s*(#.*)?$`)

var pinned = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)

// TestActionsArePinnedBySHA: a tag can be moved to other code after review;
// a commit SHA cannot. Each pin carries the tag it was taken from as a
// comment, for the reader and for Dependabot.
func TestActionsArePinnedBySHA(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root(t), ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found: %v", err)
	}
	uses := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesLine.FindAllStringSubmatch(string(b), -1) {
			uses++
			ref, comment := m[1], m[2]
			if strings.HasPrefix(ref, "./") {
				continue
			}
			if !pinned.MatchString(ref) || !strings.HasPrefix(comment, "# v") {
				t.Errorf("%s: uses %s %s: want owner/repo@<40-hex commit> # vX.Y.Z", filepath.Base(f), ref, comment)
			}
		}
	}
	if uses == 0 {
		t.Fatal("no uses: lines found; the pattern no longer matches the workflows")
	}
}

// TestMakefilePinsTheSameTools: make (lint, the deploy workflows' helm) and
// these tests install the same versions, so a bump changes both or fails.
func TestMakefilePinsTheSameTools(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for variable, want := range map[string]string{"HELM_VERSION": helmVersion, "ACTIONLINT_VERSION": actionlintVersion} {
		m := regexp.MustCompile(`(?m)^` + variable + `\s*:?=\s*(\S+)`).FindStringSubmatch(string(b))
		if m == nil || m[1] != want {
			t.Errorf("Makefile %s = %v, tests pin %s", variable, m, want)
		}
	}
}
