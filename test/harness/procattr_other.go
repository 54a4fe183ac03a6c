//go:build !linux

package harness

import "syscall"

// procAttr has no portable equivalent of Linux's Pdeathsig; children are
// only stopped by the cleanups.
func procAttr() *syscall.SysProcAttr { return nil }
