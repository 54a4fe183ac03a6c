package observe

import (
	"fmt"
	"syscall"
)

func statfs(path string) (DiskUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return DiskUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	// Block counts are in units of the fragment size; f_bsize is only the
	// preferred I/O size (statfs(2)), though the two agree on common file
	// systems. df does the same.
	size := uint64(st.Frsize)
	if size == 0 {
		size = uint64(st.Bsize)
	}
	return DiskUsage{Free: st.Bavail * size, Capacity: st.Blocks * size}, nil
}
