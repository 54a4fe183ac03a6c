//go:build !unix

package main

import (
	"errors"
	"time"

	"github.com/photogate/photogate/metastore"
)

// indexInUse reports whether a process (a running photogate) holds the
// index open, by opening it: where flock is not available, bbolt's own lock
// is the test.
func indexInUse(path string) (bool, error) {
	s, err := metastore.Open(path, metastore.Options{Timeout: time.Second})
	if errors.Is(err, metastore.ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, nil // damaged, and so not in use: restoring is the cure
	}
	return false, s.Close()
}
