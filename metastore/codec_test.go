package metastore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	in := photo("b", "k", func(r *Record) {
		r.Tags = map[string]string{"trip": "paris", "empty": ""}
		r.IndexedAt = time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
		r.TakenAt = time.Date(1850, 1, 1, 0, 0, 0, 999, time.UTC) // before 1970, outside UnixNano's range
		r.FNumber = 2.8
		r.Reason = "ünïcode ✓"
		r.Owner = "alice"
	})
	out, err := decodeRecord("b", "k", encodeRecord(&in))
	if err != nil {
		t.Fatal(err)
	}
	// Times come back in UTC; compare instants by normalising the input.
	in.LastModified, in.TakenAt, in.IndexedAt = in.LastModified.UTC(), in.TakenAt.UTC(), in.IndexedAt.UTC()
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}

	// A minimal record stays minimal and round-trips its zero values.
	min := Record{Bucket: "b", Key: "k"}
	enc := encodeRecord(&min)
	back, err := decodeRecord("b", "k", enc)
	if err != nil || !reflect.DeepEqual(min, back) {
		t.Fatalf("zero record: %v %+v", err, back)
	}
	t.Logf("empty record: %d bytes", len(enc))
}

func TestRecordDecodeRejectsDamage(t *testing.T) {
	r := photo("b", "k")
	enc := encodeRecord(&r)
	for n := range len(enc) {
		if _, err := decodeRecord("b", "k", enc[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := decodeRecord("b", "k", append(enc, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
	bad := append([]byte{99}, enc[1:]...)
	if _, err := decodeRecord("b", "k", bad); err == nil {
		t.Fatal("unknown version: no error")
	}
}

// TestRecordEncodingSize measures the binary encoding against JSON, the
// obvious alternative, on a typical record.
func TestRecordEncodingSize(t *testing.T) {
	r := photo("photos", "2023/06/IMG_0001.jpg", func(r *Record) {
		r.Tags = map[string]string{"album": "paris"}
		r.IndexedAt = base
	})
	bin := encodeRecord(&r)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical record: binary %d bytes, JSON %d bytes (%.0f%%)", len(bin), len(js), 100*float64(len(bin))/float64(len(js)))
	if len(bin) >= len(js)/2 {
		t.Errorf("binary encoding (%d) is not under half of JSON (%d)", len(bin), len(js))
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := photo("b", "k", func(r *Record) { r.Tags = map[string]string{"a": "b"} })
	f.Add(encodeRecord(&r))
	f.Add(encodeRecord(&Record{}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeRecord("b", "k", b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to a value that decodes to the
		// same encoding (bytes, not DeepEqual: NaN != NaN).
		enc := encodeRecord(&got)
		again, err := decodeRecord("b", "k", enc)
		if err != nil || !bytes.Equal(enc, encodeRecord(&again)) {
			t.Fatalf("re-decode differs: %v\n%+v\n%+v", err, got, again)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	sp, _ := parseSort("-taken")
	f.Add(encodeCursor(sp, 42, position{sk: appendTaken(nil, base), bucket: "b", key: "k"}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodeCursor(s, sp, 42)
		if err != nil {
			if _, ok := err.(*QueryError); !ok {
				t.Fatalf("error is %T, want *QueryError", err)
			}
			return
		}
		if encodeCursor(sp, 42, p) != s {
			// Different base64 spellings of the same bytes are possible
			// only with padding bits set; decode must still be stable.
			if p2, err := decodeCursor(encodeCursor(sp, 42, p), sp, 42); err != nil || p2.compare(p) != 0 {
				t.Fatalf("unstable cursor %q", s)
			}
		}
	})
}

func BenchmarkRecordCodec(b *testing.B) {
	r := photo("photos", "2023/06/IMG_0001.jpg", func(r *Record) { r.Tags = map[string]string{"album": "paris"} })
	b.Run("binary", func(b *testing.B) {
		var n int
		for b.Loop() {
			enc := encodeRecord(&r)
			n = len(enc)
			if _, err := decodeRecord(r.Bucket, r.Key, enc); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "bytes/record")
	})
	b.Run("json", func(b *testing.B) {
		var n int
		for b.Loop() {
			enc, _ := json.Marshal(r)
			n = len(enc)
			var back Record
			if err := json.Unmarshal(enc, &back); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "bytes/record")
	})
}

// A record is written in the oldest encoding that holds it: v2 without a
// placeholder (PostgreSQL replicas of the previous release read it during
// a rolling update), v3 with one; both decode.
func TestRecordPlaceholderEncoding(t *testing.T) {
	r := photo("b", "k")
	if v := encodeRecord(&r); v[0] != recordV2 {
		t.Fatalf("record without placeholder encoded as v%d", v[0])
	}
	r.Placeholder = "dGh1bWJoYXNo"
	v := encodeRecord(&r)
	if v[0] != recordV3 {
		t.Fatalf("record with placeholder encoded as v%d", v[0])
	}
	got, err := decodeRecord("b", "k", v)
	if err != nil || got.Placeholder != r.Placeholder || got.Owner != r.Owner || got.ETag != r.ETag {
		t.Fatalf("v3 round trip: %+v %v", got, err)
	}
	if _, err := decodeRecord("b", "k", append([]byte{recordV3 + 1}, v[1:]...)); err == nil {
		t.Fatal("unknown record version decoded")
	}
}
