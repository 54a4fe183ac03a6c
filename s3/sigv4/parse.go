package sigv4

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

// credential is a parsed Credential=<key>/<date>/<region>/<service>/aws4_request.
type credential struct {
	accessKey string
	date      string // yyyymmdd
	region    string
	service   string
	scope     string // everything after the access key, as signed
}

// authParams is what the Authorization header and the presigned query have
// in common.
type authParams struct {
	cred          credential
	signedHeaders string // ';'-separated lowercase names, in the client's order
	signature     string
}

type presignParams struct {
	authParams
	amzDate string
	time    time.Time
	expires time.Duration
}

// param is one query parameter, percent-decoded, in request order.
type param struct{ key, value string }

// parseQuery splits a raw query into decoded parameters. Unlike
// url.ParseQuery it keeps undecodable parameters (verbatim) instead of
// dropping them, so that they still count towards the signature.
func parseQuery(raw string) []param {
	if raw == "" {
		return nil
	}
	ps := make([]param, 0, strings.Count(raw, "&")+1)
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		ps = append(ps, param{unescape(k), unescape(v)})
	}
	return ps
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func hasParam(ps []param, key string) bool {
	for _, p := range ps {
		if p.key == key {
			return true
		}
	}
	return false
}

func findParamFold(ps []param, key string) (string, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.key, key) {
			return p.value, true
		}
	}
	return "", false
}

// parseAuthorization parses an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header value. Clients differ in the spacing around the
// separators (minio-go sends none), so any spacing is accepted, as is any
// order of the three components and a trailing comma.
func parseAuthorization(h string) (authParams, error) {
	const code = s3err.AuthorizationHeaderMalformed
	var a authParams
	rest, ok := strings.CutPrefix(strings.TrimLeft(h, " \t"), Algorithm)
	if !ok {
		return a, malformedHeader("the algorithm must be " + Algorithm + ".")
	}
	var haveCred, haveHeaders, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = trimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, malformedHeader("each component must have the form key=value.")
		}
		val = trimSpace(val)
		var err error
		switch trimSpace(k) {
		case "Credential":
			if haveCred {
				return a, malformedHeader("Credential is repeated.")
			}
			haveCred = true
			a.cred, err = parseCredential(val, code)
		case "SignedHeaders":
			if haveHeaders {
				return a, malformedHeader("SignedHeaders is repeated.")
			}
			haveHeaders = true
			a.signedHeaders, err = parseSignedHeaders(val, code)
		case "Signature":
			if haveSig {
				return a, malformedHeader("Signature is repeated.")
			}
			haveSig = true
			a.signature = val
		default:
			return a, malformedHeader("unknown component; expecting Credential, SignedHeaders and Signature.")
		}
		if err != nil {
			return a, err
		}
	}
	switch {
	case !haveCred:
		return a, malformedHeader("missing Credential.")
	case !haveHeaders:
		return a, malformedHeader("missing SignedHeaders.")
	case !haveSig || a.signature == "":
		return a, malformedHeader("missing Signature.")
	}
	return a, nil
}

func malformedHeader(detail string) error {
	return s3err.New(s3err.AuthorizationHeaderMalformed, "The authorization header is malformed; "+detail)
}

// parseCredential parses <key>/<date>/<region>/<service>/aws4_request. The
// access key is everything before the last four elements, so keys that
// contain '/' (MinIO allows them) still parse.
func parseCredential(s string, code s3err.Code) (credential, error) {
	bad := func() error {
		return s3err.New(code, "Error parsing the Credential parameter; the Credential is mal-formed; "+
			"expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	var parts [4]string
	rest := s
	for i := len(parts) - 1; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return credential{}, bad()
		}
		parts[i], rest = rest[j+1:], rest[:j]
	}
	c := credential{accessKey: rest, date: parts[0], region: parts[1], service: parts[2], scope: s[len(rest)+1:]}
	if c.accessKey == "" || c.region == "" || c.service == "" || parts[3] != scopeTerm {
		return credential{}, bad()
	}
	if _, err := time.Parse(yyyymmdd, c.date); err != nil || len(c.date) != len(yyyymmdd) {
		return credential{}, s3err.Wrap(code, "Error parsing the Credential parameter; invalid date "+
			"format; expecting YYYYMMDD.", err)
	}
	return c, nil
}

// parseSignedHeaders validates a SignedHeaders list and returns it without
// any whitespace a client put around the names. host must be signed: without
// it a signature could be replayed against another endpoint.
func parseSignedHeaders(s string, code s3err.Code) (string, error) {
	if s == "" {
		return "", s3err.New(code, "SignedHeaders must not be empty.")
	}
	hasHost, spaced := false, false
	for name := range strings.SplitSeq(s, ";") {
		if t := trimSpace(name); t != name {
			spaced, name = true, t
		}
		if !isLowerToken(name) {
			return "", s3err.New(code, "SignedHeaders must be lowercase header names separated by ';'.")
		}
		hasHost = hasHost || name == "host"
	}
	if !hasHost {
		return "", s3err.New(code, "SignedHeaders must include host.")
	}
	if spaced {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, s)
	}
	return s, nil
}

// parsePresigned extracts and validates the X-Amz-* parameters of a presigned
// URL. It does not look at the clock: expiry is the caller's business.
func parsePresigned(query []param, maxExpiry time.Duration) (presignParams, error) {
	const code = s3err.AuthorizationQueryParametersError
	var p presignParams
	var alg, cred, date, expires, headers, sig *string
	for i := range query {
		var dst **string
		switch query[i].key {
		case "X-Amz-Algorithm":
			dst = &alg
		case "X-Amz-Credential":
			dst = &cred
		case "X-Amz-Date":
			dst = &date
		case "X-Amz-Expires":
			dst = &expires
		case "X-Amz-SignedHeaders":
			dst = &headers
		case "X-Amz-Signature":
			dst = &sig
		default:
			continue
		}
		if *dst != nil {
			return p, s3err.New(code, "Query parameter "+query[i].key+" is repeated.")
		}
		*dst = &query[i].value
	}
	if alg != nil && *alg == algorithmV4A {
		return p, s3err.New(s3err.NotImplemented, sigV4ANotImpl)
	}
	if alg == nil || cred == nil || date == nil || expires == nil || headers == nil || sig == nil {
		return p, s3err.New(code, "Query-string authentication version 4 requires the X-Amz-Algorithm, "+
			"X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	if *alg != Algorithm {
		return p, s3err.New(code, "X-Amz-Algorithm only supports \""+Algorithm+"\".")
	}
	var err error
	if p.cred, err = parseCredential(*cred, code); err != nil {
		return p, err
	}
	if p.time, err = time.Parse(iso8601, *date); err != nil {
		return p, s3err.Wrap(code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".", err)
	}
	p.amzDate = *date
	if p.expires, err = parseExpires(*expires, maxExpiry); err != nil {
		return p, err
	}
	if p.signedHeaders, err = parseSignedHeaders(*headers, code); err != nil {
		return p, err
	}
	if p.signature = *sig; p.signature == "" {
		return p, s3err.New(code, "X-Amz-Signature must not be empty.")
	}
	return p, nil
}

// parseExpires accepts only plain decimal seconds in [1, max]; strconv would
// also let "+5" through.
func parseExpires(s string, maxExpiry time.Duration) (time.Duration, error) {
	const code = s3err.AuthorizationQueryParametersError
	if strings.HasPrefix(s, "-") && len(s) > 1 && isDigits(s[1:]) {
		return 0, s3err.New(code, "X-Amz-Expires must be non-negative")
	}
	if s == "" || !isDigits(s) {
		return 0, s3err.New(code, "X-Amz-Expires should be a number")
	}
	limit := int64(maxExpiry / time.Second)
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
		if n > limit {
			return 0, s3err.New(code, "X-Amz-Expires must be at most "+strconv.FormatInt(limit, 10)+" seconds")
		}
	}
	if n == 0 {
		// A URL that lasts no time has expired when it is used, and S3 and
		// MinIO say so.
		return 0, s3err.New(s3err.AccessDenied, "Request has expired")
	}
	return time.Duration(n) * time.Second, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLowerToken reports whether s is a non-empty RFC 9110 token without
// upper-case letters, i.e. a header name as SigV4 lists it.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func trimSpace(s string) string { return strings.Trim(s, " \t") }

// signsHeader reports whether the SignedHeaders list names header k (any case).
func signsHeader(signed, k string) bool {
	for name := range strings.SplitSeq(signed, ";") {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}
