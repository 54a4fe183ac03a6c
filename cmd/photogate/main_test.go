package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for photogate where a command runs
// photogate itself as a child (backup and restore verify an index file in
// a child process, found with os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "verify-index" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}
