package observability

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// runbookBase is where every alert's runbook_url must point: an anchor in
// docs/operations.md as GitHub renders it.
const runbookBase = "https://github.com/photogate/photogate/blob/main/docs/operations.md#"

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func prometheusDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy", "prometheus") }

// TestAlertRulesPromtoolCheck is the CI check `promtool check rules`.
func TestAlertRulesPromtoolCheck(t *testing.T) {
	out := runPromtool(t, prometheusDir(t), "check", "rules", "alerts.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	t.Log(strings.TrimSpace(out))
}

// TestAlertRulesPromtoolUnit runs the alert unit tests in alerts_test.yaml:
// each alert fires on the series it is meant for, and not on the look-alikes
// (a trickle of errors, slow big downloads, intents of busy uploads).
func TestAlertRulesPromtoolUnit(t *testing.T) {
	out := runPromtool(t, prometheusDir(t), "test", "rules", "alerts_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// TestAlertRulesContent checks what promtool does not: every alert has a
// severity, a summary, a description and a runbook_url whose anchor exists
// in docs/operations.md, is covered by a unit test, and uses only metrics
// photogate exports (plus Prometheus's own up).
func TestAlertRulesContent(t *testing.T) {
	e := exportedMetrics(t)
	raw, err := os.ReadFile(filepath.Join(prometheusDir(t), "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	tests, err := os.ReadFile(filepath.Join(prometheusDir(t), "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(t, filepath.Join(repoRoot(t), "docs", "operations.md"))
	allowed := map[string]bool{"up": true}
	for n := range e.series {
		allowed[n] = true
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookBase)
			if !ok {
				t.Errorf("%s: runbook_url %q does not point into docs/operations.md (%s...)", r.Alert, url, runbookBase)
			} else if !anchors[anchor] {
				t.Errorf("%s: runbook anchor #%s is not a heading in docs/operations.md", r.Alert, anchor)
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s has no case in alerts_test.yaml", r.Alert)
			}
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			for _, n := range names {
				if !allowed[n] {
					t.Errorf("%s uses %s, which photogate does not export", r.Alert, n)
				}
			}
		}
	}
	if alerts < 7 {
		t.Fatalf("only %d alerts", alerts)
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)

// markdownAnchors returns the anchors GitHub generates for the headings of
// a Markdown file: lower case, punctuation other than - and _ dropped,
// spaces as -, and -1, -2 ... for repeats. Explicit <a id="..."> anchors
// count too.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := stripFences(string(raw))
	anchors := map[string]bool{}
	count := map[string]int{}
	for _, m := range headingRE.FindAllStringSubmatch(text, -1) {
		slug := githubSlug(m[1])
		if n := count[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		count[slug]++
	}
	for _, m := range regexp.MustCompile(`<a (?:id|name)="([^"]+)"`).FindAllStringSubmatch(text, -1) {
		anchors[m[1]] = true
	}
	return anchors
}

// stripFences drops fenced code blocks, whose # lines are not headings.
func stripFences(s string) string {
	var out []string
	in := false
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func githubSlug(heading string) string {
	// Inline code and links render as their text.
	heading = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	for in, want := range map[string]string{
		"PhotogateBackendBreakerOpen":         "photogatebackendbreakeropen",
		"Health endpoints: /healthz, /readyz": "health-endpoints-healthz-readyz",
		"The `photogate_ready` gauge":         "the-photogate_ready-gauge",
		"[Scraping](#x) photogate":            "scraping-photogate",
	} {
		if got := githubSlug(in); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", in, got, want)
		}
	}
}
