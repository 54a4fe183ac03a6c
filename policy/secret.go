package policy

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

// Secret is a secret access key. However it is printed, logged or marshalled
// (fmt with any verb, slog, JSON, YAML, text) it shows as "[REDACTED]", so a
// config or a compiled user written to a log or an error message cannot leak
// it. Reveal is the one way to read it, for SigV4 verification.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String shows "[REDACTED]", or "" when no secret is set (which is safe to
// tell and helps diagnose a missing secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString covers %#v.
func (s Secret) GoString() string { return fmt.Sprintf("policy.Secret(%q)", s.String()) }

// Format covers every fmt verb, including %d, %x and %q, which would
// otherwise print the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue covers log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText covers encoding/json, XML and anything else that uses
// encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML covers YAML encoders (gopkg.in/yaml.v2/v3, go.yaml.in/yaml).
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
