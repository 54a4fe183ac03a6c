package sigv4

// AWS Signature Version 2, as the Amazon S3 API reference specifies it in
// "Signing and authenticating REST requests (AWS signature version 2)":
//
//	Signature    = Base64(HMAC-SHA1(secret, StringToSign))
//	StringToSign = Method \n Content-MD5 \n Content-Type \n Date-or-Expires \n
//	               CanonicalizedAmzHeaders CanonicalizedResource
//
// Clients disagree on a few details, so, as for SigV4 (see checkSignature),
// a mismatch is retried with each alternative a known client produces.
// Every alternative is built from the request as received and signs at least
// what MinIO's server signs, so accepting one never lets a signature cover
// more variation than MinIO allows:
//   - the path: the escaped path exactly as sent (AWS, MinIO, botocore), or
//     the decoded path re-encoded (minio-go signs s3utils.EncodePath); a
//     path-style request for a bucket itself ("/bucket") also as "/bucket/",
//     which is how botocore signs it;
//   - the sub-resources: every sub-resource AWS, MinIO or botocore lists
//     is always signed; parameters that select nothing but that some
//     clients sign anyway (storageClass, defaultObjectAcl) are tried both
//     ways;
//   - header auth with x-amz-date: an empty date line (the documented rule,
//     boto, s3cmd, the .NET SDK), the Date header (MinIO, minio-go), or the
//     x-amz-date value with x-amz-date left out of the amz headers (how the
//     documentation's own Delete example is signed);
//   - presigned URLs: x-amz-* headers only (MinIO), or those plus the
//     x-amz-* query parameters botocore moves out of the headers (for
//     example x-amz-security-token).

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

const (
	v2Scheme        = "AWS"
	v2ParamKey      = "AWSAccessKeyId"
	v2ParamSig      = "Signature"
	v2ParamExpires  = "Expires"
	v2MissingParams = "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
	v2BadHeader     = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
	v2NoStreaming   = "Streaming uploads (x-amz-content-sha256: STREAMING-*) require AWS Signature Version 4."
)

// v2Subresources maps the query parameters that are part of the V2
// CanonicalizedResource to the lists naming them.
//
// v2Required are the sub-resources that select what S3 does: AWS's list in
// "Signing and authenticating REST requests" and in its SDKs, MinIO's
// resourceList (cmd/signature-v2.go, shared by minio-go's signer) and
// botocore's HmacV1Auth.QSAOfInterest, merged. A present one is always part
// of the string to sign; were any of them optional, a URL presigned for one
// request could be re-aimed at another (?acl, ?policy, ?restore…). A client
// that does not sign one of them (botocore omits encryption, retention,
// publicAccessBlock and a few more) cannot use those operations with V2,
// exactly as against AWS.
//
// v2Optional are parameters some clients sign (botocore, s3cmd, the Java
// SDK v1) that select nothing in S3: the signature is tried with and
// without them.
var v2Subresources = map[string]uint8{
	"accelerate": v2Required, "acl": v2Required, "analytics": v2Required, "attributes": v2Required,
	"cors": v2Required, "delete": v2Required, "encryption": v2Required, "intelligent-tiering": v2Required,
	"inventory": v2Required, "legal-hold": v2Required, "lifecycle": v2Required, "location": v2Required,
	"logging": v2Required, "metrics": v2Required, "notification": v2Required, "object-lock": v2Required,
	"ownershipControls": v2Required, "partNumber": v2Required, "policy": v2Required,
	"policyStatus": v2Required, "publicAccessBlock": v2Required, "replication": v2Required,
	"requestPayment": v2Required, "restore": v2Required, "retention": v2Required, "select": v2Required,
	"select-type": v2Required, "tagging": v2Required, "torrent": v2Required, "uploadId": v2Required,
	"uploads": v2Required, "versionId": v2Required, "versioning": v2Required, "versions": v2Required,
	"website": v2Required, "response-cache-control": v2Required, "response-content-disposition": v2Required,
	"response-content-encoding": v2Required, "response-content-language": v2Required,
	"response-content-type": v2Required, "response-expires": v2Required,

	"defaultObjectAcl": v2Optional, "storageClass": v2Optional,
}

const (
	v2Required uint8 = 1 << iota
	v2Optional
)

// v2Variant is the part of a V2 string to sign that depends on the client's
// reading of the date and amz-header rules.
type v2Variant struct{ date, amz string }

// presignV2 is the authentication of a V2 presigned URL.
type presignV2 struct {
	accessKey, signature string
	expiresRaw           string // as sent, since that is what was signed
	expires              int64  // unix seconds
}

// verifyHeaderV2 authenticates "Authorization: AWS <key>:<signature>".
func (v *Verifier) verifyHeaderV2(r *http.Request, authz string, query []param) (*Result, error) {
	accessKey, sig, err := parseV2Authorization(authz)
	if err != nil {
		return nil, err
	}
	if err := refuseV2Streaming(r, query); err != nil {
		return nil, err
	}
	xdate := r.Header.Values("X-Amz-Date")
	date := r.Header.Get("Date")
	var t time.Time
	switch {
	case len(xdate) > 1:
		err = errors.New("sigv4: x-amz-date is repeated")
	case len(xdate) == 1:
		t, err = parseV2Time(xdate[0])
	case date != "":
		t, err = parseV2Time(date)
	default:
		err = errors.New("sigv4: neither x-amz-date nor Date is set")
	}
	if err != nil {
		return nil, s3err.Wrap(s3err.AccessDenied, "AWS authentication requires a valid Date or x-amz-date header", err)
	}
	if v.skewed(t) {
		return nil, s3err.New(s3err.RequestTimeTooSkewed, "")
	}
	return v.finishV2(r, accessKey, sig, t.UTC(), v2HeaderVariants(r.Header), query, false)
}

// v2HeaderVariants returns the date and amz-header readings of header auth,
// the documented one first.
func v2HeaderVariants(h http.Header) []v2Variant {
	all := v2AmzHeaders(h, nil, "")
	date := h.Get("Date")
	xdate := h.Values("X-Amz-Date")
	if len(xdate) == 0 {
		return []v2Variant{{date, all}}
	}
	vs := []v2Variant{{"", all}}
	if date != "" {
		vs = append(vs, v2Variant{date, all})
	}
	return append(vs, v2Variant{trimSpace(xdate[0]), v2AmzHeaders(h, nil, "x-amz-date")})
}

// v2PresignVariants returns the amz-header readings of a presigned URL,
// MinIO's (headers only) first.
func v2PresignVariants(h http.Header, query []param, expires string) []v2Variant {
	vs := []v2Variant{{expires, v2AmzHeaders(h, nil, "")}}
	if withQuery, ok := v2AmzHeadersWithQuery(h, query); ok {
		vs = append(vs, v2Variant{expires, withQuery})
	}
	return vs
}

// verifyPresignedV2 authenticates ?AWSAccessKeyId=…&Expires=…&Signature=….
func (v *Verifier) verifyPresignedV2(r *http.Request, query []param) (*Result, error) {
	p, err := parsePresignedV2(query)
	if err != nil {
		return nil, err
	}
	if err := refuseV2Streaming(r, query); err != nil {
		return nil, err
	}
	// Expires is the last valid second, as in MinIO (expires < now fails).
	now := v.now().Unix()
	if now > p.expires {
		return nil, s3err.New(s3err.AccessDenied, "Request has expired")
	}
	if limit := int64(v.MaxPresignExpiryV2 / time.Second); v.MaxPresignExpiryV2 > 0 && p.expires-now > limit {
		return nil, s3err.New(s3err.AuthorizationQueryParametersError,
			"Expires must be at most "+strconv.FormatInt(limit, 10)+" seconds in the future")
	}
	return v.finishV2(r, p.accessKey, p.signature, time.Unix(p.expires, 0).UTC(),
		v2PresignVariants(r.Header, query, p.expiresRaw), query, true)
}

// finishV2 looks up the secret and compares the signature with every
// plausible string to sign.
func (v *Verifier) finishV2(r *http.Request, accessKey, sig string, t time.Time, variants []v2Variant,
	query []param, presigned bool,
) (*Result, error) {
	var secret string
	ok := false
	if v.Secrets != nil {
		secret, ok = v.Secrets(accessKey)
	}
	if !ok {
		return nil, s3err.New(s3err.InvalidAccessKeyID, "")
	}
	want, ok := decodeV2Signature(sig)
	if !ok {
		return nil, s3err.New(s3err.SignatureDoesNotMatch, "")
	}
	mac := hmac.New(sha1.New, []byte(secret))
	md5, ctype := r.Header.Get("Content-Md5"), r.Header.Get("Content-Type")
	var buf []byte
	var got [sha1.Size]byte
	for _, res := range v2Resources(r, query, v.VirtualHostBucket) {
		for _, vr := range variants {
			buf = appendV2StringToSign(buf[:0], r.Method, md5, ctype, vr.date, vr.amz, res)
			mac.Reset()
			mac.Write(buf)
			if hmac.Equal(mac.Sum(got[:0]), want[:]) {
				return &Result{
					Version:     2,
					AccessKey:   accessKey,
					Presigned:   presigned,
					PayloadHash: UnsignedPayload,
					Signature:   sig,
					Time:        t,
				}, nil
			}
		}
	}
	return nil, s3err.New(s3err.SignatureDoesNotMatch, "")
}

// parseV2Authorization splits "AWS <access key>:<signature>". The key is
// everything before the last ':' (base64 has none), so keys containing ':'
// still parse; blanks around the parts are tolerated, blanks inside are not.
func parseV2Authorization(h string) (accessKey, signature string, err error) {
	if !isV2Scheme(h) {
		return "", "", s3err.New(s3err.InvalidArgument, v2BadHeader)
	}
	rest := trimSpace(strings.TrimLeft(h, " \t")[len(v2Scheme):])
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", s3err.New(s3err.InvalidArgument, v2BadHeader)
	}
	accessKey, signature = trimSpace(rest[:i]), trimSpace(rest[i+1:])
	if accessKey == "" || signature == "" || strings.ContainsAny(accessKey, " \t") ||
		strings.ContainsAny(signature, " \t") {
		return "", "", s3err.New(s3err.InvalidArgument, v2BadHeader)
	}
	return accessKey, signature, nil
}

// isV2Scheme reports whether an Authorization value uses the "AWS" scheme:
// the word alone or followed by a blank.
func isV2Scheme(h string) bool {
	rest, ok := strings.CutPrefix(strings.TrimLeft(h, " \t"), v2Scheme)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// parsePresignedV2 extracts AWSAccessKeyId, Signature and Expires. Each must
// appear exactly once: with two, which one is authoritative would be a
// matter of parser taste (MinIO takes the last).
func parsePresignedV2(query []param) (presignV2, error) {
	var p presignV2
	var key, sig, expires *string
	for i := range query {
		var dst **string
		switch query[i].key {
		case v2ParamKey:
			dst = &key
		case v2ParamSig:
			dst = &sig
		case v2ParamExpires:
			dst = &expires
		default:
			continue
		}
		if *dst != nil {
			return p, s3err.New(s3err.AuthorizationQueryParametersError, "Query parameter "+query[i].key+" is repeated.")
		}
		*dst = &query[i].value
	}
	if key == nil || sig == nil || expires == nil || *key == "" || *sig == "" || *expires == "" {
		return p, s3err.New(s3err.AccessDenied, v2MissingParams)
	}
	p.accessKey, p.signature, p.expiresRaw = *key, *sig, *expires
	n, err := strconv.ParseInt(p.expiresRaw, 10, 64)
	if err != nil || !isDigits(p.expiresRaw) {
		return p, s3err.Wrap(s3err.AuthorizationQueryParametersError,
			"Expires must be a number of seconds since the epoch", err)
	}
	p.expires = n
	return p, nil
}

// refuseV2Streaming rejects aws-chunked uploads: their chunk signatures
// chain from a SigV4 seed signature that a V2 request does not have.
func refuseV2Streaming(r *http.Request, query []param) error {
	for _, h := range r.Header.Values("X-Amz-Content-Sha256") {
		if strings.HasPrefix(trimSpace(h), "STREAMING-") {
			return s3err.New(s3err.InvalidRequest, v2NoStreaming)
		}
	}
	if h, ok := findParamFold(query, "X-Amz-Content-Sha256"); ok && strings.HasPrefix(h, "STREAMING-") {
		return s3err.New(s3err.InvalidRequest, v2NoStreaming)
	}
	return nil
}

// parseV2Time accepts the RFC 2616 date formats V2 specifies and, leniently,
// the ISO 8601 basic format of SigV4.
func parseV2Time(s string) (time.Time, error) {
	t, err := parseHTTPDate(s)
	if err == nil {
		return t, nil
	}
	if t, err2 := time.Parse(iso8601, s); err2 == nil {
		return t, nil
	}
	return t, err
}

// decodeV2Signature decodes a base64 HMAC-SHA1. A '+' that a client left
// unencoded in the query arrives as a space and is restored; missing
// padding is tolerated. Being lenient here is harmless: only the decoded
// bytes are compared.
func decodeV2Signature(s string) ([sha1.Size]byte, bool) {
	var sum [sha1.Size]byte
	s = strings.ReplaceAll(s, " ", "+")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil || len(b) != len(sum) {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

// appendV2StringToSign appends the V2 string to sign; amz is the
// CanonicalizedAmzHeaders block, each line '\n'-terminated.
func appendV2StringToSign(b []byte, method, md5, ctype, date, amz, resource string) []byte {
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, md5...)
	b = append(b, '\n')
	b = append(b, ctype...)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, '\n')
	b = append(b, amz...)
	return append(b, resource...)
}

// amzField is one x-amz-* header (or, for botocore's presigned URLs, query
// parameter) before the fields of the same name are merged.
type amzField struct {
	name      string // lower case
	fromQuery bool
	src       string // the header map key, to order non-canonical duplicates
	idx       int    // query position
	vals      []string
}

// v2AmzHeaders builds CanonicalizedAmzHeaders from the x-amz-* headers of h
// (except skip): lower-case names, sorted, values trimmed, repeated headers
// joined with ',', each line "name:value\n".
func v2AmzHeaders(h http.Header, extra []amzField, skip string) string {
	fs := extra
	for k, vs := range h {
		if !hasAmzPrefix(k) {
			continue
		}
		name := strings.ToLower(k)
		if name == skip {
			continue
		}
		fs = append(fs, amzField{name: name, src: k, vals: vs})
	}
	if len(fs) == 0 {
		return ""
	}
	slices.SortFunc(fs, func(a, b amzField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.fromQuery != b.fromQuery {
			if a.fromQuery {
				return 1
			}
			return -1
		}
		if c := strings.Compare(a.src, b.src); c != 0 {
			return c
		}
		return a.idx - b.idx
	})
	var sb strings.Builder
	for i := 0; i < len(fs); {
		sb.WriteString(fs[i].name)
		sb.WriteByte(':')
		first := true
		j := i
		for ; j < len(fs) && fs[j].name == fs[i].name; j++ {
			for _, v := range fs[j].vals {
				if !first {
					sb.WriteByte(',')
				}
				first = false
				sb.WriteString(trimSpace(v))
			}
		}
		sb.WriteByte('\n')
		i = j
	}
	return sb.String()
}

// v2AmzHeadersWithQuery is v2AmzHeaders with the x-amz-* query parameters
// counted as headers, which is how botocore signs a presigned URL (it moves
// x-amz-* headers such as x-amz-security-token into the query). ok is false
// when the query has no such parameter, or one whose value could not be a
// header value: a line break in it would let a query parameter pose as a
// signed header line.
func v2AmzHeadersWithQuery(h http.Header, query []param) (amz string, ok bool) {
	var extra []amzField
	for i, p := range query {
		if !hasAmzPrefix(p.key) {
			continue
		}
		if !isToken(p.key) || !isFieldValue(p.value) {
			return "", false
		}
		extra = append(extra, amzField{name: strings.ToLower(p.key), fromQuery: true, idx: i, vals: []string{p.value}})
	}
	if len(extra) == 0 {
		return "", false
	}
	return v2AmzHeaders(h, extra, ""), true
}

func hasAmzPrefix(k string) bool { return len(k) >= 6 && strings.EqualFold(k[:6], "x-amz-") }

func isToken(s string) bool { return isLowerToken(strings.ToLower(s)) }

// isFieldValue reports whether s is a valid HTTP field value: no control
// characters other than horizontal tab.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// v2Resources returns the CanonicalizedResource candidates of r, most
// likely first: "/bucket" (virtual-hosted style only) + path + sub-resources.
func v2Resources(r *http.Request, query []param, vhost func(string) string) []string {
	prefix := ""
	if vhost != nil {
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		if b := vhost(host); b != "" {
			prefix = "/" + b
		}
	}
	raw := rawPath(r)
	paths := []string{raw}
	if enc := canonicalURI(r.URL.Path); enc != raw {
		paths = append(paths, enc)
	}
	// botocore signs a path-style bucket request ("/bucket?acl") with a
	// trailing slash ("/bucket/?acl"); both address the bucket itself.
	for _, p := range paths {
		if prefix == "" && len(p) > 1 && strings.IndexByte(p[1:], '/') < 0 {
			paths = append(paths, p+"/")
		}
	}
	subs := []string{v2SubresourceString(query, v2Required)}
	if s := v2SubresourceString(query, v2Required|v2Optional); s != subs[0] {
		subs = append(subs, s)
	}
	out := make([]string, 0, len(paths)*len(subs))
	for _, s := range subs {
		for _, p := range paths {
			out = append(out, prefix+p+s)
		}
	}
	return out
}

// v2SubresourceString is "?k1=v1&k2&…" for the query parameters in the
// given lists, sorted by name (stably: repeated names keep request order and
// every occurrence is signed), values decoded and not re-encoded, as AWS
// specifies; a parameter without a value is signed as its bare name.
func v2SubresourceString(query []param, lists uint8) string {
	var sel []param
	for _, p := range query {
		if v2Subresources[p.key]&lists != 0 {
			sel = append(sel, p)
		}
	}
	if len(sel) == 0 {
		return ""
	}
	slices.SortStableFunc(sel, func(a, b param) int { return strings.Compare(a.key, b.key) })
	var sb strings.Builder
	for i, p := range sel {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		sb.WriteString(p.key)
		if p.value != "" {
			sb.WriteByte('=')
			sb.WriteString(p.value)
		}
	}
	return sb.String()
}
