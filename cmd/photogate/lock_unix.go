//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// indexInUse reports whether a process (a running photogate) holds the
// lock bbolt takes on an open index: an exclusive flock. It only asks for
// the lock, never reads the file, so a damaged index cannot trip it up.
func indexInUse(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
