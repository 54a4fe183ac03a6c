package postpolicy

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

func TestParsePolicy(t *testing.T) {
	// AWS's documented escapes (\$, \v) and a surrogate pair, and the
	// condition forms side by side.
	doc := `{ "expiration": "2007-12-01T12:00:00.000Z",
	  "conditions": [
	    {"acl": "private", "Bucket": "johnsmith"},
	    ["starts-with", "$Key", "user/\$eric\\\v\ud83d\ude00/"],
	    ["EQ", "$x-amz-meta-uuid", "14365123651274"],
	    ["content-length-range", 1048579, 10485760],
	    ["content-length-range", "0", "2097152"]
	  ]
	}`
	pol, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Expiration: time.Date(2007, 12, 1, 12, 0, 0, 0, time.UTC),
		Conditions: []Condition{
			{OpEq, "acl", "private"},
			{OpEq, "bucket", "johnsmith"},
			{OpStartsWith, "key", "user/$eric\\\v\U0001F600/"},
			{OpEq, "x-amz-meta-uuid", "14365123651274"},
		},
		Length: LengthRange{1048579, 2097152, true},
	}
	if !reflect.DeepEqual(pol, want) {
		t.Fatalf("got  %+v\nwant %+v", pol, want)
	}
}

func TestParsePolicyRefusals(t *testing.T) {
	const exp = `"expiration": "2030-01-01T00:00:00Z"`
	for _, doc := range []string{
		``,
		`[]`,
		`{}`,
		`{` + exp + `}`,
		`{"conditions": []}`,
		`{` + exp + `, "conditions": [], "conditions": []}`,
		`{` + exp + `, ` + exp + `, "conditions": []}`,
		`{` + exp + `, "conditions": [], "extra": 1}`,
		`{` + exp + `, "conditions": []} trailing`,
		`{` + exp + `, "conditions": [],}`,
		`{` + exp + `, "conditions": [{"key": "a"},]}`,
		`{"expiration": "tomorrow", "conditions": []}`,
		`{"expiration": 1, "conditions": []}`,
		`{` + exp + `, "conditions": {}}`,
		`{` + exp + `, "conditions": ["key"]}`,
		`{` + exp + `, "conditions": [{"key": 1}]}`,
		`{` + exp + `, "conditions": [{"key": ["a"]}]}`,
		`{` + exp + `, "conditions": [["eq", "$key"]]}`,
		`{` + exp + `, "conditions": [["eq", "$key", "a", "b"]]}`,
		`{` + exp + `, "conditions": [["eq", "key", "a"]]}`,
		`{` + exp + `, "conditions": [["eq", "$", "a"]]}`,
		`{` + exp + `, "conditions": [["matches", "$key", "a"]]}`,
		`{` + exp + `, "conditions": [["eq", "$key", null]]}`,
		`{` + exp + `, "conditions": [["content-length-range", -1, 5]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 1.5, 5]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 1e3, 5000]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 01, 5]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 6, 5]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 0, 99999999999999999999]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 0]]}`,
		`{` + exp + `, "conditions": [["content-length-range", 1, 5], ["content-length-range", 6, 9]]}`,
		`{` + exp + `, "conditions": [{"key": "a` + "\x01" + `"}]}`,
		`{` + exp + `, "conditions": [{"key": "\q"}]}`,
		`{` + exp + `, "conditions": [{"key": "\ud83d"}]}`,
		`{` + exp + `, "conditions": [{"key": "\u12"}]}`,
		`{` + exp + `, "conditions": [{"key": "` + "\xff" + `"}]}`,
		`{` + exp + `, "conditions": [{"key": "unterminated}]}`,
		`{` + exp + `, "conditions": [{"key": "a"}`,
	} {
		_, err := ParsePolicy([]byte(doc))
		if !s3err.Is(err, s3err.InvalidPolicyDocument) {
			t.Errorf("%s: %v, want InvalidPolicyDocument", doc, err)
		}
	}
	_, err := ParsePolicy([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [` +
		strings.Repeat(`{"a": "b"}, `, MaxPolicyBytes/12) + `{"a": "b"}]}`))
	wantCode(t, err, s3err.InvalidPolicyDocument, "longer than")
	_, err = DecodePolicy("not base64!")
	wantCode(t, err, s3err.InvalidPolicyDocument, "Base64")
	_, err = DecodePolicy(base64.StdEncoding.EncodeToString(make([]byte, MaxPolicyBytes+1)))
	wantCode(t, err, s3err.InvalidPolicyDocument, "longer than")
}

func TestConditionHolds(t *testing.T) {
	tests := []struct {
		c     Condition
		value string
		want  bool
	}{
		{Condition{OpEq, "key", "a"}, "a", true},
		{Condition{OpEq, "key", "a"}, "A", false},
		{Condition{OpEq, "key", ""}, "", true},
		{Condition{OpStartsWith, "key", ""}, "anything", true},
		{Condition{OpStartsWith, "key", "user/"}, "user/x", true},
		{Condition{OpStartsWith, "key", "user/"}, "use", false},
		{Condition{OpStartsWith, "content-type", "image/"}, "image/jpg,image/png,image/gif", true},
		{Condition{OpStartsWith, "content-type", "image/"}, "image/jpg,text/plain", false},
		{Condition{OpStartsWith, "cache-control", "max-age"}, "max-age=1,no-store", true},
		{Condition{OpStartsWith, "bucket", ""}, "photos", false},
		{Condition{OpStartsWith, "success_action_status", "2"}, "201", false},
		{Condition{OpStartsWith, "x-amz-credential", ""}, "x", false},
	}
	for _, tc := range tests {
		if got := tc.c.holds(tc.value); got != tc.want {
			t.Errorf("%s on %q: %v, want %v", tc.c, tc.value, got, tc.want)
		}
	}
}
