//go:build !linux && !darwin && !freebsd

package observe

import (
	"errors"
	"runtime"
)

func statfs(string) (DiskUsage, error) {
	return DiskUsage{}, errors.New("free space is not measured on " + runtime.GOOS)
}
