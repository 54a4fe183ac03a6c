package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/photogate/photogate/s3/s3err"
)

// checkSignature rebuilds the canonical request of r and compares its
// signature with a.signature. omit names the query parameter that carries
// the signature (presigned URLs), or is empty.
//
// Clients disagree on two details of canonicalization, so a mismatch is
// retried with each plausible alternative before it is reported:
//   - the path: AWS and MinIO re-encode the decoded path, but some clients
//     sign the escaped path exactly as they sent it;
//   - the query: AWS sorts encoded parameters by key then value, whereas
//     minio-go signs url.Values.Encode order (decoded keys, values in request
//     order) and sends the query in that order.
//
// Every alternative is derived from the request as received, so accepting
// one does not let a signature cover a different request.
func checkSignature(r *http.Request, key []byte, a *authParams, amzDate string, query []param,
	omit, payload string,
) error {
	want, ok := decodeSignature(a.signature)
	if !ok {
		return s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	headers, err := appendCanonicalHeaders(make([]byte, 0, 256), r, a.signedHeaders)
	if err != nil {
		return err
	}
	c := candidate{
		method: r.Method, headers: headers, signedHeaders: a.signedHeaders, payload: payload,
		amzDate: amzDate, scope: a.cred.scope, want: want, mac: hmac.New(sha256.New, key),
	}
	uri := canonicalURI(r.URL.Path)
	raw := rawPath(r)
	q := canonicalQuery(query, omit, false)
	if c.matches(uri, q) || raw != uri && c.matches(raw, q) {
		return nil
	}
	if q2 := canonicalQuery(query, omit, true); q2 != q {
		if c.matches(uri, q2) || raw != uri && c.matches(raw, q2) {
			return nil
		}
	}
	return s3err.New(s3err.SignatureDoesNotMatch, "")
}

// candidate holds the parts of a canonical request that do not vary between
// the alternatives checkSignature tries.
type candidate struct {
	method, signedHeaders, payload string
	headers                        []byte
	amzDate, scope                 string
	want                           [sha256.Size]byte
	mac                            hash.Hash
	buf                            []byte
}

func (c *candidate) matches(uri, query string) bool {
	b := appendCanonicalRequest(c.buf[:0], c.method, uri, query, c.headers, c.signedHeaders, c.payload)
	sum := sha256.Sum256(b)
	b = appendStringToSign(b[:0], c.amzDate, c.scope, sum[:])
	c.mac.Reset()
	c.mac.Write(b)
	c.buf = b
	var got [sha256.Size]byte
	return hmac.Equal(c.mac.Sum(got[:0]), c.want[:])
}

// appendCanonicalRequest appends
//
//	method \n uri \n query \n headers (each line '\n'-terminated) \n signedHeaders \n payload
func appendCanonicalRequest(b []byte, method, uri, query string, headers []byte, signedHeaders, payload string,
) []byte {
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	b = append(b, headers...)
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	return append(b, payload...)
}

// appendStringToSign appends the SigV4 string to sign for a canonical
// request whose SHA-256 is creqSum.
func appendStringToSign(b []byte, amzDate, scope string, creqSum []byte) []byte {
	b = append(b, Algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	return hex.AppendEncode(b, creqSum)
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in
// the order the client listed them. net/http moves some headers out of
// r.Header; those are recovered from the fields it puts them in.
func appendCanonicalHeaders(b []byte, r *http.Request, signed string) ([]byte, error) {
	for name := range strings.SplitSeq(signed, ";") {
		b = append(b, name...)
		b = append(b, ':')
		vals, ok := headerValues(r.Header, name)
		switch name {
		case "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b = appendTrimAll(b, host)
			b = append(b, '\n')
			continue
		case "content-length":
			// Absent when the body is chunked; ContentLength is then -1 and
			// there is nothing the client could have signed.
			if !ok && r.ContentLength >= 0 {
				b = strconv.AppendInt(b, r.ContentLength, 10)
				b = append(b, '\n')
				continue
			}
		case "transfer-encoding":
			if len(r.TransferEncoding) > 0 {
				vals, ok = r.TransferEncoding, true
			}
		case "expect":
			// Current net/http keeps Expect, but a proxy in front may have
			// consumed it; "100-continue" is the only value defined.
			if !ok {
				b = append(b, "100-continue\n"...)
				continue
			}
		}
		if !ok {
			return nil, s3err.Wrap(s3err.SignatureDoesNotMatch, "",
				fmt.Errorf("sigv4: signed header %q is not in the request", name))
		}
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTrimAll(b, v)
		}
		b = append(b, '\n')
	}
	return b, nil
}

// headerValues looks up a lower-case header name in a header map whose keys
// are in canonical MIME form, without allocating the canonical key.
func headerValues(h http.Header, name string) ([]string, bool) {
	var buf [64]byte
	if len(name) > len(buf) {
		vals, ok := h[http.CanonicalHeaderKey(name)]
		return vals, ok
	}
	k := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	vals, ok := h[string(k)]
	return vals, ok
}

// appendTrimAll appends v without leading and trailing blanks and with each
// run of spaces collapsed to one, as SigV4 specifies.
func appendTrimAll(b []byte, v string) []byte {
	v = trimSpace(v)
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b = append(b, v[i])
	}
	return b
}

// canonicalURI is the decoded path re-encoded the way S3 signs it: every
// byte except unreserved characters and '/' percent-encoded, no dot-segment
// or slash normalization.
func canonicalURI(path string) string {
	if path == "" {
		return "/"
	}
	return escape(path, true)
}

// rawPath is the path exactly as the client sent it.
func rawPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// canonicalQuery encodes the parameters (except omit) and joins them sorted
// by encoded key then value, as AWS specifies; goOrder instead sorts stably by
// decoded key only, which is what url.Values.Encode and hence minio-go do.
func canonicalQuery(ps []param, omit string, goOrder bool) string {
	if len(ps) == 0 {
		return ""
	}
	type pair struct{ decodedKey, key, value string }
	enc := make([]pair, 0, len(ps))
	n := 0
	for _, p := range ps {
		if omit != "" && p.key == omit {
			continue
		}
		e := pair{p.key, escape(p.key, false), escape(p.value, false)}
		n += len(e.key) + len(e.value) + 2
		enc = append(enc, e)
	}
	if goOrder {
		slices.SortStableFunc(enc, func(a, b pair) int { return strings.Compare(a.decodedKey, b.decodedKey) })
	} else {
		slices.SortFunc(enc, func(a, b pair) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return strings.Compare(a.value, b.value)
		})
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, e := range enc {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(e.key)
		sb.WriteByte('=')
		sb.WriteString(e.value)
	}
	return sb.String()
}

// escape percent-encodes every byte of s outside the RFC 3986 unreserved
// set (and '/', when keepSlash), with upper-case hex. It returns s itself
// when nothing needs encoding, which is the common case.
func escape(s string, keepSlash bool) string {
	i := 0
	for i < len(s) && (unreserved(s[i]) || keepSlash && s[i] == '/') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s)+16)
	copy(b, s[:i])
	const upperHex = "0123456789ABCDEF"
	for ; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// decodeSignature accepts only what SigV4 produces: 64 lower-case hex digits.
func decodeSignature(s string) ([sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return sum, false
	}
	for i := range sum {
		hi, ok1 := lowerHexDigit(s[2*i])
		lo, ok2 := lowerHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return sum, false
		}
		sum[i] = hi<<4 | lo
	}
	return sum, true
}

func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
