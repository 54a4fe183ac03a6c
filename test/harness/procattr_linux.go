package harness

import "syscall"

// procAttr makes the kernel kill a child process when the test binary dies,
// for example when `go test -timeout` panics and exits without running
// cleanups. Without it a MinIO or gateway would outlive the test run and
// keep its port and temp dir busy.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
