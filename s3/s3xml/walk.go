package s3xml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// limits bounds the work and memory one document may cost. encoding/xml
// alone allocates in proportion to nesting depth and to the attributes of a
// tag, and xml.Unmarshal builds every element it meets: a 2 MiB body of
// 250,000 nested elements cost ~40 MiB. Every document is therefore checked
// against these bounds by a byte-level pre-scan before it is decoded, and
// decoded as a token stream that keeps only the fields a parser asks for.
type limits struct {
	maxBytes    int
	maxElements int
	maxDepth    int
}

const (
	// maxAttrsPerElement leaves room for xmlns and xmlns:xsi declarations;
	// no S3 document photogate reads carries other attributes.
	maxAttrsPerElement = 4
	// maxTextBytes is how much character data of one element is kept: more
	// than any field photogate reads may hold (a 1024-byte key, a
	// 256-character tag value), so a longer text is invalid whatever it is.
	maxTextBytes = 4096
	// maxDepth is deeper than any S3 document photogate reads.
	maxDepth = 8
	// maxRunBytes bounds one stretch of text or one piece of markup as
	// sent, so that no single token the decoder buffers is large. It leaves
	// room for a maximal field written with character references.
	maxRunBytes = 64 << 10
)

// MaxResponseBytes bounds the backend responses this package parses
// (DeleteResult, CopyObjectResult, CompleteMultipartUploadResult,
// ListPartsResult); larger ones are refused unread.
const MaxResponseBytes = 4 << 20

// responseLimits bound backend answers: a DeleteResult lists at most 1000
// keys of ~5 elements, a ListPartsResult at most 1000 parts of ~12.
var responseLimits = limits{maxBytes: MaxResponseBytes, maxElements: 1 << 15, maxDepth: maxDepth}

// visitor receives the elements of a document as the walk meets them. path
// holds the local names of the open elements, the current one last; it is
// only valid during the call. text is the character data directly inside a
// leaf element (truncated after maxTextBytes+1 bytes; "" for elements with
// children).
type visitor struct {
	start func(path []string) error
	end   func(path []string, text string) error
}

// walk checks body against lim and streams it through v. Every failure of
// the document itself is an s3err MalformedXML; errors v returns are passed
// through as they are.
func walk(body []byte, lim limits, v visitor) error {
	if len(body) > lim.maxBytes {
		return s3err.New(s3err.MalformedXML, fmt.Sprintf("The XML document exceeds %d bytes.", lim.maxBytes))
	}
	if err := prescan(body, lim.maxElements); err != nil {
		return err
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	path := make([]string, 0, lim.maxDepth)
	var text []byte
	elements, hasChild, rootDone := 0, false, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !rootDone {
				return s3err.New(s3err.MalformedXML, "The XML document has no root element.")
			}
			return nil
		}
		if err != nil {
			return s3err.Wrap(s3err.MalformedXML, "", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elements++
			switch {
			case rootDone:
				return s3err.New(s3err.MalformedXML, "The XML document has more than one root element.")
			case len(path) >= lim.maxDepth:
				return s3err.New(s3err.MalformedXML, fmt.Sprintf("The XML document nests deeper than %d elements.", lim.maxDepth))
			case elements > lim.maxElements:
				return s3err.New(s3err.MalformedXML, fmt.Sprintf("The XML document has more than %d elements.", lim.maxElements))
			case len(bytes.TrimSpace(text)) > 0:
				return s3err.New(s3err.MalformedXML, "Text and elements are mixed in one element.")
			}
			path = append(path, t.Name.Local)
			text, hasChild = text[:0], false
			if err := v.start(path); err != nil {
				return err
			}
		case xml.EndElement:
			leafText := ""
			if hasChild {
				if len(bytes.TrimSpace(text)) > 0 {
					return s3err.New(s3err.MalformedXML, "Text and elements are mixed in one element.")
				}
			} else {
				leafText = string(text)
			}
			if err := v.end(path, leafText); err != nil {
				return err
			}
			path = path[:len(path)-1]
			text, hasChild = text[:0], true
			rootDone = len(path) == 0
		case xml.CharData:
			if len(path) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return s3err.New(s3err.MalformedXML, "Text outside the root element.")
				}
				continue
			}
			if room := maxTextBytes + 1 - len(text); room > 0 {
				text = append(text, t[:min(len(t), room)]...)
			}
		case xml.Directive:
			return s3err.New(s3err.MalformedXML, "Document type declarations are not allowed.")
		}
	}
}

// prescan bounds what encoding/xml would allocate before it runs: the
// number of elements, the attributes of each tag, which the decoder reads
// into one slice whatever their number, and the size of each token. It also refuses DTDs, which
// no S3 document has. It does not check well-formedness; the decoder does.
func prescan(b []byte, maxElements int) error {
	elements := 0
	for {
		i := bytes.IndexByte(b, '<')
		if i > maxRunBytes || i < 0 && len(b) > maxRunBytes {
			return s3err.New(s3err.MalformedXML, "The XML document has an overlong text.")
		}
		if i < 0 {
			return nil
		}
		b = b[i:]
		var skip int
		switch {
		case bytes.HasPrefix(b, []byte("<!--")):
			skip = skipPast(b, "-->")
		case bytes.HasPrefix(b, []byte("<![CDATA[")):
			skip = skipPast(b, "]]>")
		case bytes.HasPrefix(b, []byte("<?")):
			skip = skipPast(b, "?>")
		case bytes.HasPrefix(b, []byte("<!")):
			return s3err.New(s3err.MalformedXML, "Document type declarations are not allowed.")
		case bytes.HasPrefix(b, []byte("</")):
			skip = skipPast(b, ">")
		default:
			if elements++; elements > maxElements {
				return s3err.New(s3err.MalformedXML, fmt.Sprintf("The XML document has more than %d elements.", maxElements))
			}
			var err error
			if skip, err = scanStartTag(b); err != nil {
				return err
			}
		}
		if skip < 0 {
			return s3err.New(s3err.MalformedXML, "The XML document ends inside markup.")
		}
		if skip > maxRunBytes {
			return s3err.New(s3err.MalformedXML, "The XML document has an overlong tag, comment or CDATA section.")
		}
		b = b[skip:]
	}
}

// skipPast is the length of b up to and including the first end, or -1.
func skipPast(b []byte, end string) int {
	if i := bytes.Index(b[1:], []byte(end)); i >= 0 {
		return 1 + i + len(end)
	}
	return -1
}

// scanStartTag returns the length of the start tag b begins with (-1 when
// unterminated), refusing more than maxAttrsPerElement attributes. '>' may
// appear inside a quoted attribute value, hence the quote tracking.
func scanStartTag(b []byte) (int, error) {
	var quote byte
	attrs := 0
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			if attrs++; attrs > maxAttrsPerElement {
				return 0, s3err.New(s3err.MalformedXML, "An element has too many attributes.")
			}
		case c == '>':
			return i + 1, nil
		case c == '<':
			return 0, s3err.New(s3err.MalformedXML, "A tag is not closed.")
		}
	}
	return -1, nil
}

// pathIs reports whether path is exactly names.
func pathIs(path []string, names ...string) bool {
	if len(path) != len(names) {
		return false
	}
	for i, n := range names {
		if path[i] != n {
			return false
		}
	}
	return true
}

// once records that a singular element was seen, refusing a second one: a
// parser that kept the last of two would read a different document than a
// backend that keeps the first.
func once(seen *bool, name string) error {
	if *seen {
		return s3err.New(s3err.MalformedXML, "The element "+name+" appears more than once.")
	}
	*seen = true
	return nil
}

// parseXMLInt reads an integer element as xml.Unmarshal does (blanks
// around it allowed, empty is 0) without accepting a truncated text.
func parseXMLInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if len(s) > 20 {
		return 0, errors.New("integer too long")
	}
	return strconv.ParseInt(s, 10, 64)
}

// parseXMLBool reads a boolean element as xml.Unmarshal does.
func parseXMLBool(s string) (bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return false, nil
	}
	if len(s) > 5 {
		return false, errors.New("not a boolean")
	}
	return strconv.ParseBool(s)
}
