package observability

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// grafanaTimeVars are Grafana's interval variables; in a range selector
// they stand for a duration.
var grafanaTimeVars = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)

// groupingRE matches the label lists of by/without/on/ignoring/group_*,
// whose contents are label names, not metrics.
var groupingRE = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)

// promqlKeywords are identifiers that are neither metrics nor followed by
// a parenthesis.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// metricNames returns the metric names a PromQL expression selects. It is
// a small lexer, not a parser (the syntax itself is checked by promtool in
// TestDashboardQueriesParse): it drops strings, comments, label matchers,
// range selectors and grouping clauses, then takes every identifier that is
// not a function, an aggregation or a keyword.
func metricNames(expr string) ([]string, error) {
	s := grafanaTimeVars.ReplaceAllString(expr, "5m")
	s, err := stripStrings(s)
	if err != nil {
		return nil, err
	}
	if i := strings.IndexByte(s, '$'); i >= 0 {
		return nil, fmt.Errorf("template variable outside a string at %q", s[i:])
	}
	s = stripBlocks(s, '{', '}')
	s = stripBlocks(s, '[', ']')
	s = groupingRE.ReplaceAllString(s, " ")

	seen := map[string]bool{}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			// Numbers and durations: 0.99, 1e3, 0x1f, 5m, 1h30m.
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			if !(k < len(s) && s[k] == '(') && !promqlKeywords[word] {
				seen[word] = true
			}
			i = j
		default:
			i++
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// stripStrings removes string literals ("...", '...', `...`) and # comments.
func stripStrings(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\'', '`':
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(s) {
				return "", fmt.Errorf("unterminated string in %q", s)
			}
			b.WriteString(` "" `)
			i = j
		case '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// stripBlocks removes open...close blocks (label matchers, ranges); with
// strings gone they do not nest.
func stripBlocks(s string, open, close byte) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == open:
			depth++
		case s[i] == close && depth > 0:
			depth--
			b.WriteByte(' ')
		case depth == 0:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }

// grafanaVariableQuery extracts the PromQL of a Grafana Prometheus
// variable query: label_values(expr, label), query_result(expr); other
// forms (label_names(), metrics(re), label_values(label)) select no metric.
func grafanaVariableQuery(q string) (string, bool) {
	q = strings.TrimSpace(q)
	switch {
	case strings.HasPrefix(q, "label_values(") && strings.HasSuffix(q, ")"):
		inner := q[len("label_values(") : len(q)-1]
		i := strings.LastIndexByte(inner, ',')
		if i < 0 {
			return "", false
		}
		return inner[:i], true
	case strings.HasPrefix(q, "query_result(") && strings.HasSuffix(q, ")"):
		return q[len("query_result(") : len(q)-1], true
	}
	return "", false
}

func TestMetricNamesLexer(t *testing.T) {
	cases := map[string][]string{
		`sum(rate(photogate_s3_requests_total{instance=~"$instance", code=~"5.."}[$__rate_interval]))`: {"photogate_s3_requests_total"},
		`histogram_quantile(0.99, sum by (le, operation) (rate(a_bucket{x="}"}[5m])))`:                 {"a_bucket"},
		`sum by (class) (label_replace(rate(x_total[1h30m]), "class", "${1}xx", "code", "(.).."))`:     {"x_total"},
		`a / on(instance) group_left(version) b offset 1h > bool 0.5 and c unless d`:                   {"a", "b", "c", "d"},
		`min_over_time(a[15m]) > max_over_time(b[15m:1m])`:                                             {"a", "b"},
		`predict_linear(free[6h], 7 * 86400) < 0 # comment with words`:                                 {"free"},
		`up{job="photogate"} == 0`: {"up"},
		`{__name__="x"}`:           {},
		`sum without (instance) (rate(ns:metric:rate5m[5m]))`: {"ns:metric:rate5m"},
		`1e3 + .5 + 0x1f + Inf`:                               {},
	}
	for expr, want := range cases {
		got, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v, want %v", expr, got, want)
		}
	}
	if _, err := metricNames(`rate(x[$interval])`); err == nil {
		t.Error("a bare template variable was accepted")
	}
	if _, err := metricNames(`x{a="b}`); err == nil {
		t.Error("an unterminated string was accepted")
	}
	if q, ok := grafanaVariableQuery(`label_values(photogate_index_objects{instance=~"$instance"}, bucket)`); !ok || q != `photogate_index_objects{instance=~"$instance"}` {
		t.Errorf("variable query: %q %v", q, ok)
	}
}
