//go:build darwin || freebsd

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
	// Field types differ between the BSDs (Bavail is signed on FreeBSD);
	// a negative value (root's reserve in use) means nothing is free.
	avail := int64(st.Bavail)
	if avail < 0 {
		avail = 0
	}
	size := uint64(st.Bsize)
	return DiskUsage{Free: uint64(avail) * size, Capacity: uint64(st.Blocks) * size}, nil
}
