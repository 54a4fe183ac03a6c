//go:build !unix

package metastore

import "time"

func cpuTime() time.Duration { return 0 }
