package s3xml

import (
	"fmt"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/s3err"
)

func TestParseDelete(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a.jpg</Key></Object><Object><Key>b &amp; c.jpg</Key><VersionId>v2</VersionId></Object></Delete>`
	got, err := ParseDelete([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != "a.jpg" || got[1].Key != "b & c.jpg" || got[1].VersionID != "v2" {
		t.Fatalf("got %+v", got)
	}
	var many strings.Builder
	many.WriteString("<Delete>")
	for i := range 1001 {
		fmt.Fprintf(&many, "<Object><Key>k%d</Key></Object>", i)
	}
	many.WriteString("</Delete>")
	for name, bad := range map[string]string{
		"not xml":       "hello",
		"empty":         "<Delete></Delete>",
		"no key":        "<Delete><Object></Object></Delete>",
		"wrong root":    "<Remove><Object><Key>a</Key></Object></Remove>",
		"trailing junk": "<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
		"unclosed":      "<Delete><Object><Key>a</Key></Object>",
		"too many":      many.String(),
	} {
		if _, err := ParseDelete([]byte(bad)); !s3err.Is(err, s3err.MalformedXML) {
			t.Errorf("%s: err = %v, want MalformedXML", name, err)
		}
	}
}

func TestDeleteFailures(t *testing.T) {
	res := `<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code></Error></DeleteResult>`
	failed, err := DeleteFailures([]byte(res))
	if err != nil || len(failed) != 1 || failed[0].Key != "b" {
		t.Fatalf("got %+v, %v", failed, err)
	}
}

func TestParseTagging(t *testing.T) {
	tags, err := ParseTagging([]byte(`<Tagging><TagSet><Tag><Key>album</Key><Value>Rome 2024</Value></Tag><Tag><Key>x</Key><Value></Value></Tag></TagSet></Tagging>`))
	if err != nil || len(tags) != 2 || tags["album"] != "Rome 2024" {
		t.Fatalf("got %v, %v", tags, err)
	}
	dup := `<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>`
	if _, err := ParseTagging([]byte(dup)); !s3err.Is(err, s3err.InvalidArgument) {
		t.Fatalf("duplicate keys: %v", err)
	}
	var eleven strings.Builder
	eleven.WriteString("<Tagging><TagSet>")
	for i := range 11 {
		fmt.Fprintf(&eleven, "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i)
	}
	eleven.WriteString("</TagSet></Tagging>")
	if _, err := ParseTagging([]byte(eleven.String())); !s3err.Is(err, s3err.InvalidArgument) {
		t.Fatalf("11 tags: %v", err)
	}
	if _, err := ParseTagging([]byte(`<Tagging><TagSet>`)); !s3err.Is(err, s3err.MalformedXML) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestParseListParts(t *testing.T) {
	p, err := ParseListParts([]byte(`<ListPartsResult><Part><PartNumber>1</PartNumber><Size>5242880</Size></Part><Part><PartNumber>2</PartNumber><Size>7</Size></Part><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker></ListPartsResult>`))
	if err != nil || len(p.Parts) != 2 || p.Parts[0].Size != 5242880 || !p.IsTruncated || p.NextPartNumberMarker != "2" {
		t.Fatalf("%+v %v", p, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key><VersionId>1</VersionId></Object><Quiet>true</Quiet></Delete>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key></Error></DeleteResult>`))
	f.Add([]byte(`<CopyObjectResult><LastModified>2026-01-01T00:00:00Z</LastModified><ETag>&#34;9b2cf535f27731c974343645a3985328&#34;</ETag></CopyObjectResult>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if objs, err := ParseDelete(body); err == nil {
			if len(objs) == 0 || len(objs) > MaxDeleteObjects {
				t.Fatalf("accepted %d objects", len(objs))
			}
		} else if !s3err.Is(err, s3err.MalformedXML) {
			t.Fatalf("ParseDelete error without an S3 code: %v", err)
		}
		if tags, err := ParseTagging(body); err == nil && len(tags) > MaxTags {
			t.Fatalf("accepted %d tags", len(tags))
		}
		_, _ = DeleteFailures(body)
		_, _ = ParseListParts(body)
		if etag, err := WrittenETag(body); err == nil && (etag == "" || strings.HasPrefix(etag, `"`) || strings.HasSuffix(etag, `"`)) {
			t.Fatalf("WrittenETag returned %q", etag)
		}
	})
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
	for _, body := range []string{``, `<CopyObjectResult/>`, `<CopyObjectResult><ETag>""</ETag></CopyObjectResult>`, `<Error><Code>NoSuchKey</Code></Error>`, `<a><ETag>x</a>`} {
		if got, err := WrittenETag([]byte(body)); err == nil {
			t.Errorf("WrittenETag(%q) = %q, want an error", body, got)
		}
	}
}
