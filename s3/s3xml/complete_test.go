package s3xml

import (
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

func TestParseComplete(t *testing.T) {
	body := `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Part><PartNumber>1</PartNumber><ETag>"a1"</ETag><ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part>
<Part><ETag>"b2"</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>`
	parts, err := ParseComplete([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].PartNumber != 1 || parts[0].ETag != `"a1"` || parts[0].Checksums["CRC32C"] != "AAAAAA==" ||
		parts[1].PartNumber != 3 || parts[1].ETag != `"b2"` {
		t.Fatalf("parts = %+v", parts)
	}
	bad := map[string]s3err.Code{
		`<CompleteMultipartUpload></CompleteMultipartUpload>`:                                                                                                           s3err.MalformedXML,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`:                                                                    s3err.MalformedXML,
		`<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`:                                                      s3err.MalformedXML,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`:                            s3err.MalformedXML,
		`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part><Part><PartNumber>1</PartNumber><ETag>y</ETag></Part></CompleteMultipartUpload>`: s3err.InvalidPartOrder,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag><Size>3</Size></Part></CompleteMultipartUpload>`:                                        s3err.MalformedXML,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload><CompleteMultipartUpload/>`:                            s3err.MalformedXML,
		`<CompleteMultipartUpload>` + strings.Repeat("<Part>", 100) + `</CompleteMultipartUpload>`:                                                                      s3err.MalformedXML,
	}
	for doc, code := range bad {
		if _, err := ParseComplete([]byte(doc)); !s3err.Is(err, code) {
			t.Errorf("ParseComplete(%.80q) err = %v, want %s", doc, err, code)
		}
	}
}
