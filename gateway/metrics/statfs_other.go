//go:build !linux && !darwin && !freebsd

package metrics

import (
	"errors"
	"runtime"
)

func statfs(string) (DiskUsage, error) {
	return DiskUsage{}, errors.New("free space is not measured on " + runtime.GOOS)
}
