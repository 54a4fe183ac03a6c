//go:build unix

// Package resilience tests how photogate behaves, end to end, when its
// MinIO misbehaves the ways production ones do: hanging (SIGSTOP) instead
// of dying, refusing photogate's own credentials, or being down while an
// operator runs `photogate check`. Clients must get a quick, truthful 503,
// the operator a log line and a CLI message that name the cause, and
// service must come back by itself. The tests that take MinIO away start
// their own; the others share the suite's.
package resilience

import (
	"os"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// suite holds the photogate binary, built once, and the shared MinIO.
var suite harness.Suite

func TestMain(m *testing.M) { os.Exit(suite.Run(m, "resilience")) }
