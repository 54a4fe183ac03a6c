package observe

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/observe/observetest"
)

// newTest returns Metrics on a fresh registry.
func newTest(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg, BuildInfo{Version: "v9.9.9", Commit: "abc123", GoVersion: "go1.26.8"})
	return m, reg
}

var (
	lbl         = observetest.Labels
	find        = observetest.Find
	value       = observetest.Value
	histCount   = observetest.HistCount
	labelValues = observetest.LabelValues
	exposition  = observetest.Exposition
)
