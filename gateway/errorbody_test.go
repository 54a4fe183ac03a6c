package gateway

import "testing"

func TestSetElement(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<Error><Code>NoSuchKey</Code><RequestId>abc</RequestId></Error>`, `<Error><Code>NoSuchKey</Code><RequestId>ID&amp;1</RequestId></Error>`},
		{`<Error><Code>NoSuchKey</Code></Error>`, `<Error><Code>NoSuchKey</Code><RequestId>ID&amp;1</RequestId></Error>`},
		{`<?xml version="1.0"?><Error><Code>X</Code></Error>` + "\n", `<?xml version="1.0"?><Error><Code>X</Code><RequestId>ID&amp;1</RequestId></Error>` + "\n"},
		{`not xml`, `not xml`},
		{`<Error><RequestId>unterminated</Error>`, `<Error><RequestId>unterminated</Error>`},
	}
	for _, c := range cases {
		if got := string(setElement([]byte(c.doc), "RequestId", "ID&1")); got != c.want {
			t.Errorf("setElement(%q) = %q, want %q", c.doc, got, c.want)
		}
	}
}
