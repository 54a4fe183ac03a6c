package observability

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var docMetricRE = regexp.MustCompile("`(photogate_[a-z0-9_]+)`")

// TestMetricsReferenceIsComplete keeps docs/operations.md's metrics
// reference in step with the code: every photogate metric exported is
// documented, and every photogate_ name the document mentions in code
// spans exists.
func TestMetricsReferenceIsComplete(t *testing.T) {
	e := exportedMetrics(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	mentioned := map[string]bool{}
	for _, m := range docMetricRE.FindAllStringSubmatch(doc, -1) {
		mentioned[m[1]] = true
	}
	var undocumented, unknown []string
	for name := range e.families {
		if strings.HasPrefix(name, "photogate_") && !mentioned[name] {
			undocumented = append(undocumented, name)
		}
	}
	for name := range mentioned {
		if _, family := e.families[name]; !family && !e.series[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unknown)
	if len(undocumented) > 0 {
		t.Errorf("exported but not in docs/operations.md: %s", strings.Join(undocumented, ", "))
	}
	if len(unknown) > 0 {
		t.Errorf("docs/operations.md mentions metrics photogate does not export: %s", strings.Join(unknown, ", "))
	}
}
