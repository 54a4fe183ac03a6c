package observe

import (
	"context"
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// DiskUsage is a file system's space as an unprivileged process sees it.
type DiskUsage struct {
	Free     uint64 // bytes available to photogate (not counting root's reserve)
	Capacity uint64 // bytes in the file system
}

// FreeRatio is Free/Capacity, 0 for an empty capacity.
func (u DiskUsage) FreeRatio() float64 {
	if u.Capacity == 0 {
		return 0
	}
	return float64(u.Free) / float64(u.Capacity)
}

// StatDisk reports the space of the file system holding path.
func StatDisk(path string) (DiskUsage, error) { return statfs(path) }

// DiskFree is the "disk" readiness check for the data dir: it fails when
// fewer than minFreeBytes or less than minFreeRatio (0..1) of the file
// system is free. Zero disables either bound.
//
// It is optional (Required false) on purpose: a full disk stops uploads
// (intents cannot be written) but reads still work, and an instance that
// reports not-ready is taken out of service entirely, reads included. The
// PhotogateDataDirAlmostFull alert pages well before this check fails;
// make it Required where a second instance can take the traffic.
func DiskFree(path string, minFreeBytes uint64, minFreeRatio float64) Check {
	return Check{Name: "disk", Required: false, Run: func(context.Context) error {
		u, err := statfs(path)
		if err != nil {
			return err
		}
		if minFreeBytes > 0 && u.Free < minFreeBytes {
			return fmt.Errorf("data dir: %s free, below the minimum %s", humanBytes(u.Free), humanBytes(minFreeBytes))
		}
		if minFreeRatio > 0 && u.FreeRatio() < minFreeRatio {
			return fmt.Errorf("data dir: %.1f%% free (%s), below the minimum %.1f%%", 100*u.FreeRatio(), humanBytes(u.Free), 100*minFreeRatio)
		}
		return nil
	}}
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	exp := int(math.Log(float64(n)) / math.Log(unit))
	exp = min(exp, 6)
	return fmt.Sprintf("%.1f %ciB", float64(n)/math.Pow(unit, float64(exp)), "KMGTPE"[exp-1])
}

// WatchDisk registers a collector that reads the free space of the file
// system holding path (the data dir: index, embedded backend, staging) at
// every scrape, as photogate_data_dir_free_bytes and
// photogate_data_dir_capacity_bytes. Reading at scrape time, rather than
// from the readiness check, keeps the values fresh whether or not anything
// probes /readyz. Call it once.
func (m *Metrics) WatchDisk(path string) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&diskCollector{
		path:     path,
		free:     prometheus.NewDesc(Namespace+"_data_dir_free_bytes", "Bytes available to photogate on the file system of the data dir.", nil, nil),
		capacity: prometheus.NewDesc(Namespace+"_data_dir_capacity_bytes", "Size of the file system of the data dir.", nil, nil),
	})
}

type diskCollector struct {
	path           string
	free, capacity *prometheus.Desc
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.free; ch <- c.capacity }

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	u, err := statfs(c.path)
	if err != nil {
		// Missing series, not a failed scrape: the disk check in /readyz
		// says why, and the other metrics still arrive.
		return
	}
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(u.Free))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(u.Capacity))
}
