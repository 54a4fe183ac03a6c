package backend

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// ownTransportSupported: on Linux a TCP-to-TCP ReadFrom is splice(2), which
// is what ownTransport exists for.
const ownTransportSupported = true

// waitReadable waits until c has bytes to read, without reading them, and
// says how many the socket holds (at least 1). The backend's end of the
// stream before the body's is io.ErrUnexpectedEOF.
func waitReadable(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var ready int
	var sockErr error
	err = rc.Read(func(fd uintptr) bool {
		var q int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&q))); e != 0 {
			sockErr = e
			return true
		}
		if q > 0 {
			ready = int(q)
			return true
		}
		// Nothing queued: either nothing came yet (wait for the poller) or
		// the backend closed the connection.
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
				return false
			case err != nil:
				sockErr = err
			case n == 0:
				sockErr = io.ErrUnexpectedEOF
			default:
				ready = 1 // came between the two calls
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	return ready, sockErr
}

// idleConnUsable reports whether an idle connection is still open and has
// nothing to read: a backend that closed it, or sent bytes nobody asked
// for, makes it unusable.
func idleConnUsable(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			usable = errors.Is(err, syscall.EAGAIN)
			return true
		}
	})
	return err == nil && usable
}
