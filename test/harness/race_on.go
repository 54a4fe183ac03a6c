//go:build race

package harness

// RaceEnabled reports whether the test binary was built with -race. The
// gateway is then built with -race too, so that data races inside photogate
// surface in end-to-end tests (the race detector makes it exit with status
// 66 and print a report to stderr, which Gateway.Stop turns into an error).
const RaceEnabled = true
