package repo_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

const module = "github.com/photogate/photogate/"

// floors ranks every non-test package as docs/architecture.md describes the
// rooms: a package may import only packages on lower floors, so no import
// runs back up and there are no cycles. A new package must be placed here
// (and in docs/architecture.md) before it builds a test run.
var floors = map[string]int{
	"s3/s3err": 0, "mediatype": 0, "internal/tlsutil": 0, "observe": 0, "observe/observetest": 0, "metastore": 0,
	"s3/sigv4": 1, "s3/chunked": 1, "s3/integrity": 1, "s3/s3xml": 1, "s3/classify": 1, "metastore/extract": 1,
	"s3/s3req": 2, "s3/postpolicy": 2, "change": 2, "metastore/api": 2, "metastore/pgstore": 2,
	"metastore/conformance": 2, "rendition": 2,
	"backend": 3, "backend/embedded": 3, "policy": 3, "metastore/indexmetrics": 3,
	"metastore/reconcile": 4, "metastore/renditions": 4, "gallery": 4,
	"gateway":       5,
	"cmd/photogate": 6,
}

func TestImportsRunDownTheFloors(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if strings.HasPrefix(pkg, "test/") {
			continue // the tests sit above everything and drive the binary
		}
		floor, ok := floors[pkg]
		if !ok {
			t.Errorf("package %s has no floor: place it in floors and in docs/architecture.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "test/") {
				t.Errorf("%s imports the test package %s", pkg, dep)
				continue
			}
			if depFloor, known := floors[dep]; known && depFloor >= floor {
				t.Errorf("%s (floor %d) imports %s (floor %d): imports must run down", pkg, floor, dep, depFloor)
			}
		}
	}
}
