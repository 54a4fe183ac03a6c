package observe

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

func skipWithoutStatfs(t *testing.T) {
	t.Helper()
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd":
	default:
		t.Skip("statfs not implemented on " + runtime.GOOS)
	}
}

func TestStatDisk(t *testing.T) {
	skipWithoutStatfs(t)
	u, err := StatDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if u.Capacity == 0 || u.Free > u.Capacity || u.FreeRatio() < 0 || u.FreeRatio() > 1 {
		t.Fatalf("implausible usage %+v", u)
	}
	if _, err := StatDisk("/does/not/exist/at/all"); err == nil {
		t.Fatal("no error for a missing path")
	}
}

func TestDiskFreeCheck(t *testing.T) {
	skipWithoutStatfs(t)
	dir := t.TempDir()
	ctx := context.Background()
	c := DiskFree(dir, 0, 0)
	if c.Name != "disk" || c.Required {
		t.Fatalf("check %q required=%v, want optional \"disk\"", c.Name, c.Required)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("no bounds: %v", err)
	}
	if err := DiskFree(dir, 1, 0.0000001).Run(ctx); err != nil {
		t.Fatalf("tiny bounds: %v", err)
	}
	err := DiskFree(dir, 1<<62, 0).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "below the minimum") {
		t.Fatalf("4 EiB minimum: %v", err)
	}
	if err := DiskFree(dir, 0, 1.01).Run(ctx); err == nil || !strings.Contains(err.Error(), "%") {
		t.Fatalf("ratio above 1: %v", err)
	}
	if err := DiskFree("/does/not/exist/at/all", 0, 0).Run(ctx); err == nil {
		t.Fatal("missing dir passed")
	}
}

func TestWatchDisk(t *testing.T) {
	skipWithoutStatfs(t)
	m, reg := newTest(t)
	m.WatchDisk(t.TempDir())
	free := value(t, reg, "photogate_data_dir_free_bytes", nil)
	capacity := value(t, reg, "photogate_data_dir_capacity_bytes", nil)
	if free <= 0 || capacity < free {
		t.Fatalf("free %v capacity %v", free, capacity)
	}
	// A data dir that vanished drops the series, not the scrape.
	m2, reg2 := newTest(t)
	m2.WatchDisk("/does/not/exist/at/all")
	if _, found := find(t, reg2, "photogate_data_dir_free_bytes", nil); found {
		t.Fatal("free bytes for a missing dir")
	}
	if _, found := find(t, reg2, "photogate_build_info", lbl("version", "v9.9.9", "commit", "abc123", "goversion", "go1.26.8")); !found {
		t.Fatal("scrape broken")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 30: "3.0 GiB", 1 << 62: "4.0 EiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
