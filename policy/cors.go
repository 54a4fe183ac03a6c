package policy

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// corsRule is one compiled CORSRule: methods upper case, header patterns
// lower case (header names are case-insensitive), origins as written
// (origins are case-sensitive, as S3 treats them).
type corsRule struct {
	origins   []string
	methods   []string
	headers   []string
	expose    []string
	maxAge    int
	anyOrigin bool
}

// corsMethods are the methods S3 lets a CORS rule allow.
var corsMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}

func compileCORS(c CORSRule, label string, errs *problems) (corsRule, bool) {
	before := len(*errs)
	r := corsRule{maxAge: c.MaxAgeSeconds}
	if len(c.AllowedOrigins) == 0 {
		errs.addf("%s: allowed_origins is empty", label)
	}
	for _, o := range c.AllowedOrigins {
		if strings.Count(o, "*") > 1 || o == "" {
			errs.addf("%s: allowed origin %q may hold at most one \"*\"", label, o)
			continue
		}
		r.anyOrigin = r.anyOrigin || o == "*"
		r.origins = append(r.origins, o)
	}
	if len(c.AllowedMethods) == 0 {
		errs.addf("%s: allowed_methods is empty", label)
	}
	for _, m := range c.AllowedMethods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !slices.Contains(corsMethods, m) {
			errs.addf("%s: allowed method %q is not one of %s", label, m, strings.Join(corsMethods, ", "))
			continue
		}
		r.methods = append(r.methods, m)
	}
	for _, h := range c.AllowedHeaders {
		if strings.Count(h, "*") > 1 || h == "" {
			errs.addf("%s: allowed header %q may hold at most one \"*\"", label, h)
			continue
		}
		r.headers = append(r.headers, strings.ToLower(strings.TrimSpace(h)))
	}
	for _, h := range c.ExposeHeaders {
		if strings.ContainsAny(h, "* ,") || h == "" {
			errs.addf("%s: expose header %q must be one header name", label, h)
			continue
		}
		r.expose = append(r.expose, h)
	}
	if c.MaxAgeSeconds < 0 {
		errs.addf("%s: max_age_seconds %d is negative", label, c.MaxAgeSeconds)
	}
	return r, len(*errs) == before
}

// CORSAnswer is what a matching CORS rule lets photogate tell a browser.
type CORSAnswer struct {
	AllowOrigin   string   // the request's origin, or "*" for a rule allowing any
	AllowMethods  []string // preflight: the rule's methods
	AllowHeaders  []string // preflight: the request headers asked for
	ExposeHeaders []string
	MaxAgeSeconds int // preflight; 0: not sent
}

// CORS finds the first CORS rule of bucket's rule that allows a request
// from origin with method and, for a preflight, the requestHeaders it
// announced (lower case or not). ok is false when no rule allows it: the
// browser then gets no CORS headers, and a preflight is refused.
func (e *Engine) CORS(bucket, origin, method string, requestHeaders []string) (answer CORSAnswer, ok bool) {
	if bucket == "" || origin == "" {
		return CORSAnswer{}, false
	}
	for _, r := range e.rule(bucket).cors {
		if !r.allowsOrigin(origin) || !slices.Contains(r.methods, method) || !r.allowsHeaders(requestHeaders) {
			continue
		}
		a := CORSAnswer{AllowOrigin: origin, AllowMethods: r.methods, AllowHeaders: requestHeaders,
			ExposeHeaders: r.expose, MaxAgeSeconds: r.maxAge}
		if r.anyOrigin {
			a.AllowOrigin = "*"
		}
		return a, true
	}
	return CORSAnswer{}, false
}

func (r corsRule) allowsOrigin(origin string) bool {
	for _, o := range r.origins {
		if wildcardMatch(o, origin) {
			return true
		}
	}
	return false
}

func (r corsRule) allowsHeaders(headers []string) bool {
	for _, h := range headers {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if !slices.ContainsFunc(r.headers, func(p string) bool { return wildcardMatch(p, h) }) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against a pattern with at most one "*", which
// stands for any run of characters (as S3's CORS matching does).
func wildcardMatch(pattern, s string) bool {
	prefix, suffix, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	return len(s) >= len(prefix)+len(suffix) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix)
}

// Headers sets the CORS response headers of a on h. preflight adds the
// methods, headers and max age a preflight answer carries.
func (a CORSAnswer) Headers(h http.Header, preflight bool) {
	h.Set("Access-Control-Allow-Origin", a.AllowOrigin)
	h.Add("Vary", "Origin")
	if len(a.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(a.ExposeHeaders, ", "))
	}
	if !preflight {
		return
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", strings.Join(a.AllowMethods, ", "))
	if len(a.AllowHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(a.AllowHeaders, ", "))
	}
	if a.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(a.MaxAgeSeconds))
	}
}
