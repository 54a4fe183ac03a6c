//go:build !linux

package backend

import (
	"errors"
	"net"
)

// ownTransportSupported: elsewhere net/http's Transport carries every
// request; a TCP-to-TCP ReadFrom would copy anyway.
const ownTransportSupported = false

func waitReadable(*net.TCPConn) (int, error) {
	return 0, errors.New("zero-copy bodies are Linux only")
}

func idleConnUsable(*net.TCPConn) bool { return false }
