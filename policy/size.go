package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count in configuration: a plain integer ("1048576"), or a
// number and a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), case-insensitive, optionally with a space and a
// fraction ("1.5 GiB"). Bare K/M/G/T are refused because half of all
// operators read them as powers of 1000 and half as powers of 1024.
type Size int64

// ParseSize parses s as a Size.
func ParseSize(s string) (Size, error) {
	text := strings.TrimSpace(s)
	i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(text)
	}
	number, unit := text[:i], strings.TrimSpace(text[i:])
	if number == "" {
		return 0, fmt.Errorf("size %q: want a non-negative number of bytes, optionally with a unit such as MB or MiB", s)
	}
	mult, err := unitMultiplier(unit)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n, err := strconv.ParseInt(number, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q: too large", s)
		}
		return Size(n * mult), nil
	}
	f, err := strconv.ParseFloat(number, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number", s, number)
	}
	v := math.Round(f * float64(mult))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return Size(v), nil
}

func unitMultiplier(unit string) (int64, error) {
	switch strings.ToLower(unit) {
	case "", "b":
		return 1, nil
	case "kb":
		return 1e3, nil
	case "mb":
		return 1e6, nil
	case "gb":
		return 1e9, nil
	case "tb":
		return 1e12, nil
	case "kib":
		return 1 << 10, nil
	case "mib":
		return 1 << 20, nil
	case "gib":
		return 1 << 30, nil
	case "tib":
		return 1 << 40, nil
	case "k", "m", "g", "t":
		return 0, fmt.Errorf("unit %q is ambiguous: write %sB (powers of 1000) or %siB (powers of 1024)",
			unit, strings.ToUpper(unit), strings.ToUpper(unit))
	}
	return 0, fmt.Errorf("unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", unit)
}

// String writes s the way an operator would, and so that ParseSize reads it
// back: the largest unit that divides it exactly, else plain bytes.
func (s Size) String() string {
	n := int64(s)
	if n <= 0 {
		return strconv.FormatInt(n, 10)
	}
	for _, u := range [...]struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// describe is String plus the exact byte count, for messages to clients.
func (s Size) describe() string {
	if str := s.String(); str != strconv.FormatInt(int64(s), 10) {
		return fmt.Sprintf("%s (%d bytes)", str, int64(s))
	}
	return fmt.Sprintf("%d bytes", int64(s))
}

// UnmarshalText lets YAML (any scalar), JSON strings and flags carry sizes.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the String form.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
