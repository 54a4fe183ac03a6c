package s3xml

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/photogate/photogate/s3/s3err"
)

func TestParseDelete(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a.jpg</Key></Object><Object><Key>b &amp; c.jpg</Key><VersionId>v2</VersionId></Object>
<!-- a comment --><Object><Key><![CDATA[<d>]]></Key></Object></Delete>`
	got, err := ParseDelete([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "a.jpg" || got[1].Key != "b & c.jpg" || got[1].VersionID != "v2" || got[2].Key != "<d>" {
		t.Fatalf("got %+v", got)
	}
	var many strings.Builder
	many.WriteString("<Delete>")
	for i := range 1001 {
		fmt.Fprintf(&many, "<Object><Key>k%d</Key></Object>", i)
	}
	many.WriteString("</Delete>")
	for name, bad := range map[string]string{
		"not xml":          "hello",
		"empty body":       "",
		"empty":            "<Delete></Delete>",
		"no key":           "<Delete><Object></Object></Delete>",
		"wrong root":       "<Remove><Object><Key>a</Key></Object></Remove>",
		"trailing junk":    "<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
		"two roots":        "<Delete><Object><Key>a</Key></Object></Delete><Delete><Object><Key>b</Key></Object></Delete>",
		"trailing text":    "<Delete><Object><Key>a</Key></Object></Delete>x",
		"unclosed":         "<Delete><Object><Key>a</Key></Object>",
		"too many":         many.String(),
		"two Quiet":        "<Delete><Quiet>true</Quiet><Quiet>false</Quiet><Object><Key>a</Key></Object></Delete>",
		"bad Quiet":        "<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
		"two Key":          "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
		"two VersionId":    "<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId></Object></Delete>",
		"unknown element":  "<Delete><Object><Key>a</Key><ETag>x</ETag></Object></Delete>",
		"nested in Key":    "<Delete><Object><Key>a<b/></Key></Object></Delete>",
		"mixed content":    "<Delete>x<Object><Key>a</Key></Object></Delete>",
		"key too long":     "<Delete><Object><Key>" + strings.Repeat("k", 1025) + "</Key></Object></Delete>",
		"key not utf-8":    "<Delete><Object><Key>&#xFFFE;\xff</Key></Object></Delete>",
		"doctype":          `<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>`,
		"many attributes":  "<Delete a='1' b='2' c='3' d='4' e='5'><Object><Key>a</Key></Object></Delete>",
		"too deep":         strings.Repeat("<Delete>", 9) + strings.Repeat("</Delete>", 9),
		"too large":        "<Delete><Object><Key>a</Key></Object></Delete>" + strings.Repeat(" ", MaxDeleteBodyBytes),
		"unterminated tag": "<Delete><Object><Key>a</Key></Object></Delete",
	} {
		if _, err := ParseDelete([]byte(bad)); !s3err.Is(err, s3err.MalformedXML) {
			t.Errorf("%s: err = %v, want MalformedXML", name, err)
		}
	}
}

func TestParseDeleteAtLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>false</Quiet>`)
	long := strings.Repeat("é", maxKeyBytes/2)
	for i := range MaxDeleteObjects {
		fmt.Fprintf(&b, "<Object><Key>%s</Key><VersionId>%d</VersionId></Object>", long[:len(long)-8]+fmt.Sprintf("%08d", i), i)
	}
	b.WriteString("</Delete>")
	if b.Len() > MaxDeleteBodyBytes {
		t.Fatalf("test body is %d bytes", b.Len())
	}
	objs, err := ParseDelete([]byte(b.String()))
	if err != nil || len(objs) != MaxDeleteObjects || len(objs[999].Key) != maxKeyBytes || objs[999].VersionID != "999" {
		t.Fatalf("%d objects, %v", len(objs), err)
	}
}

func TestDeleteFailures(t *testing.T) {
	res := `<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><VersionId>3</VersionId><Code>AccessDenied</Code></Error></DeleteResult>`
	failed, err := DeleteFailures([]byte(res))
	if err != nil || len(failed) != 1 || failed[0].Key != "b" || failed[0].VersionID != "3" {
		t.Fatalf("got %+v, %v", failed, err)
	}
	for _, bad := range []string{
		`<Error><Code>InternalError</Code></Error>`,
		`<DeleteResult><Error><Key>b</Key><Key>c</Key></Error></DeleteResult>`,
		`<DeleteResult><Error><Key>b</Key></Error>`,
		strings.Repeat("<DeleteResult>", 9),
	} {
		if got, err := DeleteFailures([]byte(bad)); err == nil {
			t.Errorf("DeleteFailures(%.40q) = %v, want an error", bad, got)
		}
	}
}

func TestParseTagging(t *testing.T) {
	tags, err := ParseTagging([]byte(`<Tagging><TagSet><Tag><Key>album</Key><Value>Rome 2024</Value></Tag><Tag><Key>x</Key><Value></Value></Tag></TagSet></Tagging>`))
	if err != nil || len(tags) != 2 || tags["album"] != "Rome 2024" {
		t.Fatalf("got %v, %v", tags, err)
	}
	maxKey, maxValue := strings.Repeat("ü", MaxTagKeyChars), strings.Repeat("日", MaxTagValueChars)
	tags, err = ParseTagging([]byte(tagging(maxKey, maxValue)))
	if err != nil || tags[maxKey] != maxValue {
		t.Fatalf("tags at the length limits: %v", err)
	}
	tags, err = ParseTagging([]byte(`<Tagging><TagSet/></Tagging>`))
	if err != nil || len(tags) != 0 {
		t.Fatalf("empty tag set: %v, %v", tags, err)
	}
	var eleven strings.Builder
	eleven.WriteString("<Tagging><TagSet>")
	for i := range 11 {
		fmt.Fprintf(&eleven, "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i)
	}
	eleven.WriteString("</TagSet></Tagging>")
	for name, c := range map[string]struct {
		body string
		want s3err.Code
	}{
		"duplicate keys":    {`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>`, s3err.InvalidTag},
		"key too long":      {tagging(maxKey+"u", "v"), s3err.InvalidTag},
		"value too long":    {tagging("k", maxValue+"v"), s3err.InvalidTag},
		"huge value":        {tagging("k", strings.Repeat("v", 10000)), s3err.InvalidTag},
		"empty key":         {tagging("", "v"), s3err.InvalidTag},
		"no key":            {`<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>`, s3err.InvalidTag},
		"11 tags":           {eleven.String(), s3err.InvalidTag},
		"truncated":         {`<Tagging><TagSet>`, s3err.MalformedXML},
		"two TagSets":       {`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet><TagSet><Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>`, s3err.MalformedXML},
		"two Keys":          {`<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key><Value>1</Value></Tag></TagSet></Tagging>`, s3err.MalformedXML},
		"two Values":        {`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value><Value>2</Value></Tag></TagSet></Tagging>`, s3err.MalformedXML},
		"two roots":         {`<Tagging><TagSet/></Tagging><Tagging><TagSet/></Tagging>`, s3err.MalformedXML},
		"no TagSet":         {`<Tagging></Tagging>`, s3err.MalformedXML},
		"unknown":           {`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value><Other/></Tag></TagSet></Tagging>`, s3err.MalformedXML},
		"too large":         {tagging("k", "v") + strings.Repeat(" ", MaxTaggingBytes), s3err.MalformedXML},
		"too deep":          {strings.Repeat("<Tagging>", 9) + strings.Repeat("</Tagging>", 9), s3err.MalformedXML},
		"too many elements": {"<Tagging><TagSet>" + strings.Repeat("<Tag/>", 300) + "</TagSet></Tagging>", s3err.MalformedXML},
	} {
		if _, err := ParseTagging([]byte(c.body)); !s3err.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %s", name, err, c.want)
		}
	}
}

func tagging(key, value string) string {
	return "<Tagging><TagSet><Tag><Key>" + key + "</Key><Value>" + value + "</Value></Tag></TagSet></Tagging>"
}

func TestParseListParts(t *testing.T) {
	p, err := ParseListParts([]byte(`<ListPartsResult><Bucket>b</Bucket><Owner><ID>x</ID></Owner><Part><PartNumber>1</PartNumber><ETag>"x"</ETag><Size>5242880</Size></Part><Part><PartNumber> 2 </PartNumber><Size>7</Size></Part><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker></ListPartsResult>`))
	if err != nil || len(p.Parts) != 2 || p.Parts[0].Size != 5242880 || p.Parts[1].PartNumber != 2 || !p.IsTruncated || p.NextPartNumberMarker != "2" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{
		`<ListPartsResult><Part><PartNumber>1</PartNumber><Size>5</Size><Size>6</Size></Part></ListPartsResult>`,
		`<ListPartsResult><IsTruncated>true</IsTruncated><IsTruncated>false</IsTruncated></ListPartsResult>`,
		`<ListPartsResult><Part><Size>` + strings.Repeat("0", 5000) + `5</Size></Part></ListPartsResult>`,
		`<ListPartsResult><Part><Size>x</Size></Part></ListPartsResult>`,
		`<Error><Code>NoSuchUpload</Code></Error>`,
	} {
		if got, err := ParseListParts([]byte(bad)); err == nil {
			t.Errorf("ParseListParts(%.60q) = %+v, want an error", bad, got)
		}
	}
}

func TestWrittenETag(t *testing.T) {
	for body, want := range map[string]string{
		`<?xml version="1.0" encoding="UTF-8"?>
<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-11-27T10:00:00.000Z</LastModified><ETag>&#34;9b2cf535f27731c974343645a3985328&#34;</ETag></CopyObjectResult>`: "9b2cf535f27731c974343645a3985328",
		`<CompleteMultipartUploadResult><Location>http://x/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag></CompleteMultipartUploadResult>`: "3858f62230ac3c915f300c664312c11f-9",
	} {
		got, err := WrittenETag([]byte(body))
		if err != nil || got != want {
			t.Errorf("WrittenETag = %q, %v; want %q", got, err, want)
		}
	}
	for _, body := range []string{``, `<CopyObjectResult/>`, `<CopyObjectResult><ETag>""</ETag></CopyObjectResult>`,
		`<Error><Code>NoSuchKey</Code></Error>`, `<a><ETag>x</a>`,
		`<CopyObjectResult><ETag>"a"</ETag><ETag>"b"</ETag></CopyObjectResult>`} {
		if got, err := WrittenETag([]byte(body)); err == nil {
			t.Errorf("WrittenETag(%q) = %q, want an error", body, got)
		}
	}
}

// oldDelete and oldTagging are the documents as xml.Unmarshal reads them:
// the fuzz target checks that whatever the streaming parsers accept,
// encoding/xml reads the same way.
type oldDelete struct {
	XMLName xml.Name   `xml:"Delete"`
	Objects []ObjectID `xml:"Object"`
}

type oldTagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Tags    []struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	} `xml:"TagSet>Tag"`
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key><VersionId>1</VersionId></Object><Quiet>true</Quiet></Delete>`))
	f.Add([]byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a &amp; b</Key></Object><Object><Key><![CDATA[x<y]]></Key></Object></Delete>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet><TagSet/></Tagging>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key></Error></DeleteResult>`))
	f.Add([]byte(`<CopyObjectResult><LastModified>2026-01-01T00:00:00Z</LastModified><ETag>&#34;9b2cf535f27731c974343645a3985328&#34;</ETag></CopyObjectResult>`))
	f.Add([]byte(`<ListPartsResult><Part><PartNumber>1</PartNumber><Size>5</Size></Part><IsTruncated>false</IsTruncated></ListPartsResult>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>`))
	f.Add([]byte(strings.Repeat("<Delete>", 10) + strings.Repeat("</Delete>", 10)))
	f.Add([]byte(`<Delete a="1" b='>' c="3"><Object><Key>a</Key></Object></Delete>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if objs, err := ParseDelete(body); err == nil {
			if len(objs) == 0 || len(objs) > MaxDeleteObjects {
				t.Fatalf("accepted %d objects", len(objs))
			}
			for _, o := range objs {
				if o.Key == "" || len(o.Key) > maxKeyBytes || !utf8.ValidString(o.Key) {
					t.Fatalf("accepted key %q", o.Key)
				}
			}
			var ref oldDelete
			if err := xml.Unmarshal(body, &ref); err != nil || !slices.Equal(ref.Objects, objs) {
				t.Fatalf("accepted %+v; encoding/xml reads %+v, %v", objs, ref.Objects, err)
			}
		} else if !s3err.Is(err, s3err.MalformedXML) {
			t.Fatalf("ParseDelete error without an S3 code: %v", err)
		}
		if tags, err := ParseTagging(body); err == nil {
			if len(tags) > MaxTags {
				t.Fatalf("accepted %d tags", len(tags))
			}
			ref := map[string]string{}
			var doc oldTagging
			if err := xml.Unmarshal(body, &doc); err != nil {
				t.Fatalf("accepted %v; encoding/xml: %v", tags, err)
			}
			for _, tag := range doc.Tags {
				ref[tag.Key] = tag.Value
			}
			if !maps.Equal(ref, tags) {
				t.Fatalf("accepted %v; encoding/xml reads %v", tags, ref)
			}
			for k, v := range tags {
				if utf8.RuneCountInString(k) > MaxTagKeyChars || utf8.RuneCountInString(v) > MaxTagValueChars {
					t.Fatalf("accepted tag %q=%q", k, v)
				}
			}
		} else if !s3err.Is(err, s3err.MalformedXML) && !s3err.Is(err, s3err.InvalidTag) && !s3err.Is(err, s3err.InvalidArgument) {
			t.Fatalf("ParseTagging error without an S3 code: %v", err)
		}
		if parts, err := ParseComplete(body); err == nil {
			if len(parts) == 0 || len(parts) > MaxParts {
				t.Fatalf("accepted %d parts", len(parts))
			}
		} else if !s3err.Is(err, s3err.MalformedXML) && !s3err.Is(err, s3err.InvalidPartOrder) {
			t.Fatalf("ParseComplete error without an S3 code: %v", err)
		}
		_, _ = DeleteFailures(body)
		_, _ = ParseListParts(body)
		if etag, err := WrittenETag(body); err == nil && (etag == "" || strings.HasPrefix(etag, `"`) || strings.HasSuffix(etag, `"`)) {
			t.Fatalf("WrittenETag returned %q", etag)
		}
	})
}
