//go:build unix

package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Pause freezes MinIO with SIGSTOP, as a hung server (a stuck disk, a
// stalled VM) looks from outside: its sockets stay open and the kernel
// still accepts connections, but nothing answers. The test's cleanup
// resumes it, so that Stop can end it gracefully.
func (m *MinIO) Pause(t testing.TB) {
	t.Helper()
	if err := m.signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("pause MinIO: %v", err)
	}
	// Registered after StartMinIO's cleanup, so it runs before it.
	t.Cleanup(func() { _ = m.signal(syscall.SIGCONT) })
	// kill(2) returns before every thread has stopped; until they have,
	// MinIO may still answer (or half answer) a request.
	if err := m.waitStopped(10 * time.Second); err != nil {
		t.Fatalf("pause MinIO: %v", err)
	}
}

// waitStopped waits until every thread of MinIO is in the stopped state
// (Linux /proc); elsewhere it only gives the signal a moment.
func (m *MinIO) waitStopped(timeout time.Duration) error {
	m.mu.Lock()
	pid := m.proc.pid()
	m.mu.Unlock()
	tasks := fmt.Sprintf("/proc/%d/task", pid)
	if _, err := os.Stat(tasks); err != nil {
		time.Sleep(100 * time.Millisecond)
		return nil
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if allStopped(tasks) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO (pid %d) did not stop within %v of SIGSTOP", pid, timeout)
		}
	}
}

// allStopped reports whether every task under /proc/<pid>/task is in
// state T (stopped by a signal).
func allStopped(tasksDir string) bool {
	entries, err := os.ReadDir(tasksDir)
	if err != nil || len(entries) == 0 {
		return false
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(tasksDir, e.Name(), "stat"))
		if err != nil {
			continue // the thread exited
		}
		// "pid (comm) S ...": the state follows the last ')'.
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 || i+2 >= len(raw) || raw[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume lets a paused MinIO run again (SIGCONT).
func (m *MinIO) Resume(t testing.TB) {
	t.Helper()
	if err := m.signal(syscall.SIGCONT); err != nil {
		t.Fatalf("resume MinIO: %v", err)
	}
}

func (m *MinIO) signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return errors.New("MinIO is not running")
	}
	if err := syscall.Kill(m.proc.pid(), sig); err != nil {
		return fmt.Errorf("signal %v to MinIO (pid %d): %w", sig, m.proc.pid(), err)
	}
	return nil
}
