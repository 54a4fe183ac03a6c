//go:build !linux

package main

import "os"

// fileIsTerminal treats a character device as a terminal: close enough
// where the terminal ioctl is not wired up (at worst a progress line goes
// to /dev/null).
func fileIsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
