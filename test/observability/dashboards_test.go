package observability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// dashboardFiles are the Grafana dashboards photogate ships.
func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want the overview, performance, errors and capacity dashboards, found %v", files)
	}
	return files
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	ID            *int    `json:"id"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // inside collapsed rows
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
}

// query returns a variable's query whether Grafana stored it as a string
// or as {"query": "..."}.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct{ Query string }
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func loadDashboard(t *testing.T, path string) dashboard {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: not valid dashboard JSON: %v", path, err)
	}
	return d
}

// allPanels flattens rows' nested panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func isDatasourceVar(ref *datasourceRef) bool {
	return ref != nil && (ref.UID == "${datasource}" || ref.UID == "$datasource")
}

func TestDashboards(t *testing.T) {
	e := exportedMetrics(t)
	uids := map[string]string{}
	for _, path := range dashboardFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			d := loadDashboard(t, path)
			if d.Title == "" || d.UID == "" {
				t.Errorf("missing title or uid")
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = name
			if d.SchemaVersion < 36 {
				t.Errorf("schemaVersion %d, want >= 36", d.SchemaVersion)
			}
			if d.ID != nil {
				t.Errorf("id %d set: an imported dashboard must not carry another Grafana's id", *d.ID)
			}

			// The datasource template variable makes the dashboard
			// importable into any Grafana as is.
			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			dsVar, ok := vars["datasource"]
			if !ok || dsVar.Type != "datasource" || dsVar.query() != "prometheus" {
				t.Fatalf("no Prometheus datasource variable named datasource: %+v", dsVar)
			}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				if !isDatasourceVar(v.Datasource) {
					t.Errorf("variable %s does not use ${datasource}: %+v", v.Name, v.Datasource)
				}
				q, ok := grafanaVariableQuery(v.query())
				if !ok {
					continue
				}
				checkNames(t, e, "variable "+v.Name, q)
			}

			ids := map[int]bool{}
			queries := 0
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
				}
				if p.Type == "row" {
					continue
				}
				if !isDatasourceVar(p.Datasource) {
					t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no queries", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Datasource != nil && !isDatasourceVar(tg.Datasource) {
						t.Errorf("panel %q query %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
					}
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q query %s: empty expr", p.Title, tg.RefID)
						continue
					}
					queries++
					checkNames(t, e, fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), tg.Expr)
				}
			}
			t.Logf("%s: %d panels, %d queries", d.Title, len(ids), queries)
		})
	}
}

// checkNames fails when expr selects a metric photogate does not export.
func checkNames(t *testing.T, e exported, where, expr string) {
	t.Helper()
	names, err := metricNames(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s selects no metric: %s", where, expr)
	}
	for _, n := range names {
		if !e.series[n] {
			t.Errorf("%s uses %s, which photogate does not export (expr: %s)", where, n, expr)
		}
	}
}

var grafanaVarRE = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// TestDashboardQueriesParse hands every dashboard query, with Grafana's
// variables substituted, to promtool as a recording rule: promtool parses
// it with Prometheus's own PromQL parser.
func TestDashboardQueriesParse(t *testing.T) {
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	var origin []string
	for _, path := range dashboardFiles(t) {
		d := loadDashboard(t, path)
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					continue
				}
				expr := grafanaTimeVars.ReplaceAllString(tg.Expr, "5m")
				expr = grafanaVarRE.ReplaceAllString(expr, ".*")
				rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", len(rules)), Expr: expr})
				origin = append(origin, fmt.Sprintf("%s / %q / %s", filepath.Base(path), p.Title, tg.RefID))
			}
		}
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboards.rules.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtoolOutput(t, dir, "check", "rules", "--lint=none", "dashboards.rules.yaml")
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(rules))) {
		var legend strings.Builder
		for i, o := range origin {
			fmt.Fprintf(&legend, "  dashboard_query_%d: %s\n", i, o)
		}
		t.Fatalf("promtool rejects dashboard queries: %v\n%s\nwhere\n%s", err, out, legend.String())
	}
	t.Logf("%d dashboard queries parse", len(rules))
}
