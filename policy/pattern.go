package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// specificity orders bucket patterns for "the most specific rule wins":
// first the longer literal prefix (everything before the first wildcard),
// then fewer wildcards, then more literal characters overall. A plain bucket
// name therefore beats every pattern that matches it, and "photos-raw-*"
// beats "photos-*", which beats "*". Rules still tied keep config order.
type specificity struct {
	prefix    int // literal bytes before the first wildcard
	wildcards int // '*', '?' and each [...] class
	literals  int // literal bytes in the whole pattern
}

func specificityOf(pattern string) specificity {
	var s specificity
	seenWildcard := false
	literal := func() {
		s.literals++
		if !seenWildcard {
			s.prefix++
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++ // the escaped byte is a literal
			literal()
		case '*', '?':
			s.wildcards++
			seenWildcard = true
		case '[':
			s.wildcards++
			seenWildcard = true
			// Skip the class; validPattern has checked it is closed.
			for i++; i < len(pattern) && pattern[i] != ']'; i++ {
				if pattern[i] == '\\' {
					i++
				}
			}
		default:
			literal()
		}
	}
	return s
}

// moreSpecific reports whether a should win over b.
func (a specificity) moreSpecific(b specificity) bool {
	if a.prefix != b.prefix {
		return a.prefix > b.prefix
	}
	if a.wildcards != b.wildcards {
		return a.wildcards < b.wildcards
	}
	return a.literals > b.literals
}

// validPattern checks a bucket pattern once, at compile time, so that
// matching at request time cannot fail.
func validPattern(p string) error {
	switch {
	case p == "":
		return errors.New("empty bucket pattern")
	case strings.Contains(p, "/"):
		return fmt.Errorf("bucket pattern %q contains '/', which no bucket name has", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bucket pattern %q is malformed (path.Match syntax: * ? [a-z] \\x)", p)
	}
	return nil
}

// matchBucket is path.Match for a validated pattern.
func matchBucket(pattern, bucket string) bool {
	ok, _ := path.Match(pattern, bucket)
	return ok
}
