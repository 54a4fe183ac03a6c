package postpolicy

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/photogate/photogate/s3/s3err"
)

// MaxPolicyBytes bounds a decoded policy document. A base64 policy field
// is at most MaxFieldValueBytes, so this is never the binding limit for a
// form; it bounds direct callers of ParsePolicy.
const MaxPolicyBytes = MaxFieldValueBytes

// Condition operators.
const (
	OpEq         = "eq"
	OpStartsWith = "starts-with"
)

// Condition is one field condition of a policy: the field's value must
// equal Value (OpEq) or start with it (OpStartsWith). {"field": "value"} is
// read as ["eq", "$field", "value"].
type Condition struct {
	Op    string // OpEq or OpStartsWith
	Field string // lowercased, without the leading '$'
	Value string
}

// String renders c as AWS quotes it in "Policy Condition failed" messages.
func (c Condition) String() string {
	return "[" + strconv.Quote(c.Op) + ", " + strconv.Quote("$"+c.Field) + ", " + strconv.Quote(c.Value) + "]"
}

// LengthRange is a content-length-range condition: the file must be at
// least Min and at most Max bytes. Set is false when the policy has none.
type LengthRange struct {
	Min, Max int64
	Set      bool
}

// Policy is a parsed POST policy document.
type Policy struct {
	Expiration time.Time
	Conditions []Condition
	// Length is the intersection of every content-length-range condition.
	Length LengthRange
}

// DecodePolicy decodes and parses the base64 policy form field.
func DecodePolicy(b64 string) (*Policy, error) {
	if base64.StdEncoding.DecodedLen(len(b64)) > MaxPolicyBytes {
		return nil, policyError("the policy is longer than %d bytes", MaxPolicyBytes)
	}
	doc, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, s3err.Wrap(s3err.InvalidPolicyDocument, "Invalid Policy: Invalid 'Base64' encoding.", err)
	}
	return ParsePolicy(doc)
}

// ParsePolicy parses a JSON POST policy document:
//
//	{"expiration": "2007-12-01T12:00:00.000Z",
//	 "conditions": [{"field": "value"}, ["eq", "$field", "value"],
//	                ["starts-with", "$field", "prefix"], ["content-length-range", min, max]]}
//
// Both members are required, neither may repeat, and no other member is
// allowed. Strings take JSON's escapes plus "\$" and "\v", which AWS
// documents. Failures are InvalidPolicyDocument.
func ParsePolicy(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, policyError("the policy is longer than %d bytes", MaxPolicyBytes)
	}
	p := &policyParser{s: doc}
	pol, err := p.document()
	if err != nil {
		return nil, err
	}
	return pol, nil
}

func policyError(format string, args ...any) error {
	return s3err.New(s3err.InvalidPolicyDocument, "Invalid Policy: "+fmt.Sprintf(format, args...)+".")
}

// policyParser is a JSON parser for exactly the policy grammar. A general
// decoder would accept duplicate members (last one wins, so a second
// "expiration" could hide behind the first), arbitrary nesting, and would
// reject AWS's "\$" escape.
type policyParser struct {
	s   []byte
	pos int
}

func (p *policyParser) document() (*Policy, error) {
	pol := &Policy{}
	var seenExpiration, seenConditions bool
	err := p.object(func(name string) error {
		switch name {
		case "expiration":
			if seenExpiration {
				return policyError("duplicate 'expiration'")
			}
			seenExpiration = true
			s, err := p.str()
			if err != nil {
				return err
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return policyError("invalid 'expiration' %q; expecting ISO 8601 such as 2013-08-01T12:00:00.000Z", s)
			}
			pol.Expiration = t
			return nil
		case "conditions":
			if seenConditions {
				return policyError("duplicate 'conditions'")
			}
			seenConditions = true
			return p.conditions(pol)
		default:
			return policyError("unexpected member %q", name)
		}
	})
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, p.syntax("trailing data")
	}
	if !seenExpiration {
		return nil, policyError("missing 'expiration'")
	}
	if !seenConditions {
		return nil, policyError("missing 'conditions'")
	}
	return pol, nil
}

func (p *policyParser) conditions(pol *Policy) error {
	return p.array(func(int) error {
		p.skipSpace()
		if p.pos >= len(p.s) {
			return p.syntax("unexpected end")
		}
		switch p.s[p.pos] {
		case '{':
			return p.object(func(name string) error {
				if name == "" {
					return policyError("a condition names no field")
				}
				v, err := p.str()
				if err != nil {
					return err
				}
				pol.Conditions = append(pol.Conditions, Condition{Op: OpEq, Field: strings.ToLower(name), Value: v})
				return nil
			})
		case '[':
			return p.arrayCondition(pol)
		default:
			return policyError("each condition must be an object or an array")
		}
	})
}

// arrayCondition parses [op, "$field", value] or
// ["content-length-range", min, max].
func (p *policyParser) arrayCondition(pol *Policy) error {
	var op string
	var c Condition
	var bounds [2]int64
	n := 0
	err := p.array(func(i int) error {
		n = i + 1
		switch {
		case i == 0:
			s, err := p.str()
			op = strings.ToLower(s)
			return err
		case i > 2:
			return policyError("a condition array must have three elements")
		case op == "content-length-range":
			v, err := p.length()
			bounds[i-1] = v
			return err
		case op == OpEq || op == OpStartsWith:
			s, err := p.str()
			if err != nil {
				return err
			}
			if i == 1 {
				name, ok := strings.CutPrefix(s, "$")
				if !ok || name == "" {
					return policyError("condition field %q must start with '$'", s)
				}
				c.Field = strings.ToLower(name)
			} else {
				c.Value = s
			}
			return nil
		default:
			return policyError("unknown condition operator %q", op)
		}
	})
	if err != nil {
		return err
	}
	if n != 3 {
		return policyError("a condition array must have three elements")
	}
	if op == "content-length-range" {
		if bounds[0] > bounds[1] {
			return policyError("content-length-range minimum %d exceeds maximum %d", bounds[0], bounds[1])
		}
		pol.Length = pol.Length.intersect(bounds[0], bounds[1])
		if pol.Length.Min > pol.Length.Max {
			// No upload could pass; say so now rather than after the file.
			return policyError("the content-length-range conditions admit no length")
		}
		return nil
	}
	c.Op = op
	pol.Conditions = append(pol.Conditions, c)
	return nil
}

func (r LengthRange) intersect(lo, hi int64) LengthRange {
	if !r.Set {
		return LengthRange{Min: lo, Max: hi, Set: true}
	}
	return LengthRange{Min: max(r.Min, lo), Max: min(r.Max, hi), Set: true}
}

// length parses a content-length-range bound: a non-negative JSON integer,
// or a string of digits (MinIO accepts those too).
func (p *policyParser) length() (int64, error) {
	p.skipSpace()
	var digits string
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		s, err := p.str()
		if err != nil {
			return 0, err
		}
		digits = s
	} else {
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || strings.IndexByte("+-.eE", p.s[p.pos]) >= 0) {
			p.pos++
		}
		digits = string(p.s[start:p.pos])
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 1 && digits[0] == '0' {
		return 0, policyError("content-length-range bounds must be non-negative integers, not %q", digits)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, policyError("content-length-range bound %q is out of range", digits)
	}
	return v, nil
}

// object parses {"name": value, ...}, calling member for each name with
// the parser positioned at the value, which member must consume.
func (p *policyParser) object(member func(name string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek('}') {
		p.pos++
		return nil
	}
	for {
		name, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		if p.peek(',') {
			p.pos++
			continue
		}
		return p.expect('}')
	}
}

// array parses [value, ...], calling elem with each index.
func (p *policyParser) array(elem func(i int) error) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if p.peek(']') {
		p.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		if p.peek(',') {
			p.pos++
			continue
		}
		return p.expect(']')
	}
}

func (p *policyParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek skips white space and reports whether the next byte is c.
func (p *policyParser) peek(c byte) bool {
	p.skipSpace()
	return p.pos < len(p.s) && p.s[p.pos] == c
}

func (p *policyParser) expect(c byte) error {
	if !p.peek(c) {
		return p.syntax(fmt.Sprintf("expecting '%c'", c))
	}
	p.pos++
	return nil
}

func (p *policyParser) syntax(what string) error {
	return policyError("JSON syntax error at offset %d: %s", p.pos, what)
}

// str parses a JSON string.
func (p *policyParser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.s) {
			return "", p.syntax("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.s[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.syntax("invalid UTF-8")
			}
			b.WriteRune(r)
			p.pos += size
		}
	}
}

var simpleEscapes = map[byte]byte{
	'"': '"', '\\': '\\', '/': '/', '$': '$',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
}

// escape decodes the escape sequence at p.pos (on the backslash).
func (p *policyParser) escape(b *strings.Builder) error {
	if p.pos+1 >= len(p.s) {
		return p.syntax("unterminated escape")
	}
	c := p.s[p.pos+1]
	if r, ok := simpleEscapes[c]; ok {
		b.WriteByte(r)
		p.pos += 2
		return nil
	}
	if c != 'u' {
		return p.syntax(fmt.Sprintf("invalid escape '\\%c'", c))
	}
	r, err := p.hex4(p.pos + 2)
	if err != nil {
		return err
	}
	p.pos += 6
	if utf16.IsSurrogate(r) {
		if p.pos+1 < len(p.s) && p.s[p.pos] == '\\' && p.s[p.pos+1] == 'u' {
			if low, err := p.hex4(p.pos + 2); err == nil {
				if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
					b.WriteRune(pair)
					p.pos += 6
					return nil
				}
			}
		}
		return p.syntax("unpaired UTF-16 surrogate")
	}
	b.WriteRune(r)
	return nil
}

func (p *policyParser) hex4(at int) (rune, error) {
	if at+4 > len(p.s) {
		return 0, p.syntax("truncated \\u escape")
	}
	v, err := strconv.ParseUint(string(p.s[at:at+4]), 16, 16)
	if err != nil {
		return 0, p.syntax("invalid \\u escape")
	}
	return rune(v), nil
}
