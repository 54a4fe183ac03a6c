package policy

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1048576": 1 << 20, "100MB": 100e6, "5GiB": 5 << 30, "5 GiB": 5 << 30, "1.5GiB": 3 << 29,
		"2kib": 2048, "10KB": 10e3, "3TB": 3e12, "1TiB": 1 << 40, "7B": 7, " 12 ": 12,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, wantErr := range map[string]string{
		"": "non-negative number", "-5": "non-negative number", "5M": "ambiguous", "5 parsecs": "unknown unit",
		"1.2.3MB": "not a number", "9999999999TiB": "too large", "GiB": "non-negative number",
	} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseSize(%q) error %v, want %q", in, err, wantErr)
		}
	}
}

func TestSizeString(t *testing.T) {
	for s, want := range map[Size]string{0: "0", 5 << 30: "5GiB", 100e6: "100MB", 1500: "1500", 2048: "2KiB", 1234567: "1234567"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", int64(s), got, want)
		}
		if back, err := ParseSize(s.String()); err != nil || back != s {
			t.Errorf("%d does not round-trip: %d, %v", int64(s), back, err)
		}
	}
	if got := Size(5 << 20).describe(); got != "5MiB (5242880 bytes)" {
		t.Errorf("describe: %q", got)
	}
}

func TestSizeYAML(t *testing.T) {
	cfg := parseConfig(t, `policy: {buckets: [{bucket: a, max_object_size: 5GiB, max_multipart_size: 1048576, max_metadata_bytes: "2 KiB"}]}`)
	b := cfg.Policy.Buckets[0]
	if b.MaxObjectSize != 5<<30 || b.MaxMultipartSize != 1<<20 || b.MaxMetadataBytes != 2048 {
		t.Fatalf("%+v", b)
	}
	var bad Config
	if err := yamlStrict(`policy: {buckets: [{bucket: a, max_object_size: 5G}]}`, &bad); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("5G: %v", err)
	}
}
