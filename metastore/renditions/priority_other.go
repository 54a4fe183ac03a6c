//go:build !linux

package renditions

// backgroundThread would lower the worker thread's priority; outside Linux
// priorities are per process, so renders run at normal priority.
func backgroundThread() {}
