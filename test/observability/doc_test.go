// Package observability checks photogate's operational artefacts against
// the code: the Prometheus alert rules (promtool check and unit tests), the
// Grafana dashboards (valid JSON, the datasource variable, and PromQL that
// names only metrics photogate really exports) and the metrics reference in
// docs/operations.md.
//
// The list of exported metrics is not written down anywhere: it is gathered
// from a real registry built with metrics.New, with every metric touched
// once and the index collector reading a real temporary bbolt index, so a
// renamed metric breaks the dashboards' and alerts' tests at once.
package observability
