package renditions

import (
	"runtime"
	"syscall"
)

// renderNice is the nice value of a render worker's thread: renders are
// background work, and on a machine without a spare core they must give
// the CPU to the requests being served rather than share it evenly.
const renderNice = 10

// backgroundThread pins the calling goroutine to its OS thread and lowers
// that thread's scheduling priority (Linux's nice is per thread). libvips
// runs in the thread that calls it, and threads it starts inherit the
// value. The goroutine must not be shared afterwards: call it in a
// goroutine of its own.
func backgroundThread() {
	runtime.LockOSThread()
	// Best effort: a container may forbid it, and the renders then simply
	// run at normal priority.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), renderNice)
}
