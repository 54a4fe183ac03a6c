package metastore

// ForcePlan makes s use the access path hook picks for every search (-1:
// walk in sort order; i: the i-th usable index, or the walk if there are
// fewer). It is for the external tests in plans_test.go, which hold every
// bbolt plan to the conformance suite's expectations.
func ForcePlan(s *Store, hook func(paths []string) int) { s.planHook = hook }
