package policy

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Defaults of the knobs whose zero value does not mean "unlimited".
const (
	defaultAuthFailuresPerMinute = 10
	defaultAuthFailureBurst      = 20
	defaultAuthFailureAddresses  = 10000

	// maxPartsS3 is S3's own limit on part numbers.
	maxPartsS3 = 10000
	// minSecretLen matches what photogate has always required.
	minSecretLen = 8

	// knownActions lists what a grant may name, for messages.
	knownActions = "read, write, delete, list, admin, bypass_governance, retention, legal_hold"
)

// Compile validates cfg and builds an Engine. Secrets named by
// secret_key_env and secret_key_file are read now, through getenv and
// readFile (nil: the process environment and os.ReadFile), so a reload
// picks up rotated secrets. Every problem found is reported, each naming
// its entry (users[2] "ana": ..., policy.buckets[0] "photos-*": ...); on
// error the caller keeps the Engine it has. Errors never contain secrets.
func Compile(cfg Config, getenv func(string) string, readFile func(string) ([]byte, error)) (*Engine, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	var errs problems
	e := &Engine{users: make(map[string]*user, len(cfg.Users))}

	defaults := cfg.Policy.Limits
	e.anonymous = compileUserLimits(defaults, nil, "policy.limits", &errs)
	// Bad defaults are reported once, here, not again for every user.
	defaultsOK := len(errs) == 0
	e.anonymous.upload, e.anonymous.uploadBurst, e.anonymous.uploadPerSec = 0, 0, 0 // anonymous callers cannot write
	if defaults.MaxInFlight < 0 {
		errs.addf("policy.limits: max_in_flight %d is negative (0 means unlimited)", defaults.MaxInFlight)
	}
	e.maxInFlight = int64(max(defaults.MaxInFlight, 0))
	e.auth = compileAuthLimits(defaults, &errs)

	public := false
	seen := make(map[string]int, len(cfg.Policy.Buckets))
	for i, bc := range cfg.Policy.Buckets {
		label := fmt.Sprintf("policy.buckets[%d] %q", i, bc.Bucket)
		if j, dup := seen[bc.Bucket]; dup {
			errs.addf("%s: the same pattern as policy.buckets[%d]; merge the two", label, j)
			continue
		}
		seen[bc.Bucket] = i
		if r, ok := compileBucket(bc, label, &errs); ok {
			e.rules = append(e.rules, r)
			public = public || r.publicRead
		}
	}
	// Most specific first; SortStableFunc keeps config order among equals,
	// which is the documented last tie-breaker.
	slices.SortStableFunc(e.rules, func(a, b *bucketRule) int {
		switch {
		case a.spec.moreSpecific(b.spec):
			return -1
		case b.spec.moreSpecific(a.spec):
			return 1
		}
		return 0
	})

	names := make(map[string]int, len(cfg.Users))
	keys := make(map[string]int, len(cfg.Users))
	for i, uc := range cfg.Users {
		label := userLabel(i, uc)
		u, ok := compileUser(uc, defaults, defaultsOK, label, getenv, readFile, &errs)
		if !ok {
			continue
		}
		if j, dup := keys[u.accessKey]; dup {
			errs.addf("%s: access key is also used by users[%d]", label, j)
			continue
		}
		if j, dup := names[u.name]; dup {
			errs.addf("%s: name is also used by users[%d]; names identify users in quotas and metrics", label, j)
			continue
		}
		keys[u.accessKey], names[u.name] = i, i
		e.users[u.accessKey] = u
	}
	if len(cfg.Users) == 0 && !public {
		errs.addf("no users configured and no bucket is public_read: nothing could be accessed")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return e, nil
}

// problems collects every validation error so an operator fixes a config
// in one round instead of one error per reload.
type problems []error

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid policy: %w", errors.Join(p...))
}

func userLabel(i int, uc UserConfig) string {
	switch {
	case uc.Name != "":
		return fmt.Sprintf("users[%d] %q", i, uc.Name)
	case uc.AccessKey != "":
		return fmt.Sprintf("users[%d] (access key %q)", i, uc.AccessKey)
	}
	return fmt.Sprintf("users[%d]", i)
}

func compileUser(uc UserConfig, defaults Limits, defaultsOK bool, label string, getenv func(string) string, readFile func(string) ([]byte, error), errs *problems) (*user, bool) {
	before := len(*errs)
	u := &user{name: uc.Name, accessKey: uc.AccessKey}
	if err := validAccessKey(uc.AccessKey); err != nil {
		errs.addf("%s: %w", label, err)
	}
	if u.name == "" {
		u.name = uc.AccessKey
	}
	if err := validName(u.name); err != nil {
		errs.addf("%s: %w", label, err)
	}
	secret, err := resolveSecret(uc, getenv, readFile)
	if err != nil {
		errs.addf("%s: %w", label, err)
	}
	u.secret = &secret

	if len(uc.Grants) == 0 {
		errs.addf("%s: no grants, so the user could do nothing; for full access grant {buckets: \"*\", actions: [read, write, delete, list, admin]}", label)
	}
	for j, g := range uc.Grants {
		if cg, ok := compileGrant(g, fmt.Sprintf("%s: grants[%d]", label, j), errs); ok {
			u.grants = append(u.grants, cg)
		}
	}
	if defaultsOK {
		u.limits = compileUserLimits(defaults, uc.Limits, label+": limits", errs)
	}
	u.sizes = compileSizes(uc.SizeLimits, label, errs)
	if uc.Quota != nil {
		u.quota = compileQuota(*uc.Quota, label+": quota", errs)
	}
	return u, len(*errs) == before
}

func validAccessKey(k string) error {
	if len(k) < 3 || len(k) > 128 {
		return fmt.Errorf("access_key must be 3 to 128 characters, got %d", len(k))
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~+=@", c) >= 0) {
			// Other bytes could break the SigV4 Credential field (/ , space).
			return fmt.Errorf("access_key %q: use letters, digits and - _ . ~ + = @ only", k)
		}
	}
	return nil
}

func validName(n string) error {
	if len(n) > 128 || !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return fmt.Errorf("name %q must be at most 128 bytes of printable UTF-8", n)
	}
	return nil
}

// resolveSecret reads the one configured secret source. Its errors name the
// source, never the value.
func resolveSecret(uc UserConfig, getenv func(string) string, readFile func(string) ([]byte, error)) (Secret, error) {
	sources := 0
	for _, set := range []bool{uc.SecretKey != "", uc.SecretKeyEnv != "", uc.SecretKeyFile != ""} {
		if set {
			sources++
		}
	}
	switch sources {
	case 0:
		return "", errors.New("no secret: set one of secret_key, secret_key_env, secret_key_file")
	case 1:
	default:
		return "", errors.New("set only one of secret_key, secret_key_env, secret_key_file")
	}
	var v, from string
	switch {
	case uc.SecretKey != "":
		v, from = uc.SecretKey.Reveal(), "secret_key"
	case uc.SecretKeyEnv != "":
		from = "secret_key_env " + uc.SecretKeyEnv
		if v = getenv(uc.SecretKeyEnv); v == "" {
			return "", fmt.Errorf("%s: the environment variable is not set or empty", from)
		}
	default:
		from = "secret_key_file " + uc.SecretKeyFile
		b, err := readFile(uc.SecretKeyFile)
		if err != nil {
			return "", fmt.Errorf("secret_key_file: %w", err)
		}
		// Kubernetes secrets and `echo secret > file` end with a newline
		// that is not part of the secret.
		v = strings.TrimRight(string(b), "\r\n")
	}
	switch {
	case len(v) < minSecretLen:
		return "", fmt.Errorf("%s: the secret key must be at least %d characters", from, minSecretLen)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", fmt.Errorf("%s: the secret key contains control characters (more than one line?)", from)
	}
	return Secret(v), nil
}

func compileGrant(g Grant, label string, errs *problems) (grant, bool) {
	before := len(*errs)
	var cg grant
	if len(g.Buckets) == 0 {
		errs.addf("%s: no buckets (use \"*\" for every bucket)", label)
	}
	for _, p := range g.Buckets {
		if err := validPattern(p); err != nil {
			errs.addf("%s: %w", label, err)
		}
		cg.patterns = append(cg.patterns, p)
	}
	if len(g.Actions) == 0 {
		errs.addf("%s: no actions (%s)", label, knownActions)
	}
	for _, a := range g.Actions {
		b := actionBit(a)
		if b == 0 {
			errs.addf("%s: unknown action %q (want one of %s)", label, a, knownActions)
		}
		cg.actions |= b
	}
	return cg, len(*errs) == before
}

// compileUserLimits resolves one identity's rate limits: a field set in u
// wins over the default. Burst follows the rate it belongs with: when u
// sets requests_per_second but no burst, the burst is that rate rounded up,
// not the default burst tuned for another rate.
func compileUserLimits(defaults Limits, u *UserLimits, label string, errs *problems) limits {
	rps, burst, upload := defaults.RequestsPerSecond, defaults.Burst, defaults.UploadBytesPerSecond
	burstSet := defaults.Burst != 0
	if u != nil {
		if u.RequestsPerSecond != nil {
			rps, burst, burstSet = *u.RequestsPerSecond, 0, false
		}
		if u.Burst != nil {
			burst, burstSet = *u.Burst, true
		}
		if u.UploadBytesPerSecond != nil {
			upload = *u.UploadBytesPerSecond
		}
	}
	var l limits
	if u != nil && u.MaxInFlight != nil {
		if *u.MaxInFlight < 0 {
			errs.addf("%s: max_in_flight %d is negative (0 means only the global cap)", label, *u.MaxInFlight)
		}
		l.maxInFlight = int64(max(*u.MaxInFlight, 0))
	}
	switch {
	case math.IsNaN(rps) || math.IsInf(rps, 0) || rps < 0:
		errs.addf("%s: requests_per_second %v must be a non-negative number (0 means unlimited)", label, rps)
	case burst < 0:
		errs.addf("%s: burst %d is negative", label, burst)
	case rps == 0 && burstSet && burst > 0:
		errs.addf("%s: burst %d without requests_per_second has no effect", label, burst)
	case rps > 0:
		if !burstSet || burst == 0 {
			burst = int(math.Ceil(rps))
		}
		l.requests, l.burst = rate.Limit(rps), burst
	}
	switch {
	case upload < 0:
		errs.addf("%s: upload_bytes_per_second %d is negative", label, int64(upload))
	case upload > 0:
		l.upload, l.uploadBurst, l.uploadPerSec = rate.Limit(upload), uploadBurst(int64(upload)), upload
	}
	return l
}

// uploadBurst is the byte bucket of an upload limit: an eighth of a second
// of bandwidth, so a throttled upload is smooth rather than bursty, within
// [16 KiB, 1 MiB] so that a read is never split into tiny waits.
func uploadBurst(perSecond int64) int {
	return int(min(max(perSecond/8, 16<<10), 1<<20))
}

func compileAuthLimits(l Limits, errs *problems) authSettings {
	perMinute, burst := float64(defaultAuthFailuresPerMinute), defaultAuthFailureBurst
	if l.AuthFailuresPerMinute != nil {
		perMinute = *l.AuthFailuresPerMinute
	}
	if l.AuthFailureBurst != nil {
		burst = *l.AuthFailureBurst
	}
	addresses := l.AuthFailureMaxAddresses
	if addresses == 0 {
		addresses = defaultAuthFailureAddresses
	}
	switch {
	case math.IsNaN(perMinute) || math.IsInf(perMinute, 0) || perMinute < 0:
		errs.addf("policy.limits: auth_failures_per_minute %v must be a non-negative number (0 turns the limiter off)", perMinute)
	case perMinute > 0 && burst < 1:
		errs.addf("policy.limits: auth_failure_burst %d must be at least 1", burst)
	case addresses < 0:
		errs.addf("policy.limits: auth_failure_max_addresses %d is negative", addresses)
	case perMinute > 0:
		return authSettings{perSecond: perMinute / 60, burst: float64(burst), maxAddresses: addresses}
	}
	return authSettings{}
}

func compileBucket(bc BucketConfig, label string, errs *problems) (*bucketRule, bool) {
	before := len(*errs)
	if err := validPattern(bc.Bucket); err != nil {
		errs.addf("%s: %w", label, err)
	}
	r := &bucketRule{
		pattern:    bc.Bucket,
		spec:       specificityOf(bc.Bucket),
		publicRead: bc.PublicRead,
		sizes:      compileSizes(bc.SizeLimits, label, errs),
	}
	for _, t := range bc.AllowedTypes {
		norm, err := normalizeAllowedType(t)
		if err != nil {
			errs.addf("%s: %w", label, err)
			continue
		}
		r.allowedTypes = append(r.allowedTypes, norm)
	}
	if bc.Quota != nil {
		r.quota = compileQuota(*bc.Quota, label+": quota", errs)
	}
	for i, c := range bc.CORS {
		if rule, ok := compileCORS(c, fmt.Sprintf("%s: cors[%d]", label, i), errs); ok {
			r.cors = append(r.cors, rule)
		}
	}
	return r, len(*errs) == before
}

func compileSizes(sl SizeLimits, label string, errs *problems) sizeLimits {
	for _, f := range []struct {
		key string
		v   Size
	}{{"max_object_size", sl.MaxObjectSize}, {"max_multipart_size", sl.MaxMultipartSize}, {"max_metadata_bytes", sl.MaxMetadataBytes}} {
		if f.v < 0 {
			errs.addf("%s: %s %d is negative", label, f.key, int64(f.v))
		}
	}
	if sl.MaxParts < 0 || sl.MaxParts > maxPartsS3 {
		errs.addf("%s: max_parts %d must be between 0 (S3's own %d) and %d", label, sl.MaxParts, maxPartsS3, maxPartsS3)
	}
	s := sizeLimits{maxObject: sl.MaxObjectSize, maxMultipart: sl.MaxMultipartSize, maxParts: sl.MaxParts, maxMetadata: sl.MaxMetadataBytes}
	if s.maxMultipart == 0 {
		// Otherwise multipart would be a way around max_object_size.
		s.maxMultipart = s.maxObject
	}
	return s
}

func compileQuota(q Quota, label string, errs *problems) quota {
	if q.MaxBytes < 0 {
		errs.addf("%s: max_bytes %d is negative (0 means unlimited)", label, int64(q.MaxBytes))
	}
	if q.MaxObjects < 0 {
		errs.addf("%s: max_objects %d is negative (0 means unlimited)", label, q.MaxObjects)
	}
	return quota{maxBytes: max(int64(q.MaxBytes), 0), maxObjects: max(q.MaxObjects, 0)}
}

// normalizeAllowedType checks an allowed_types entry (type/subtype, type/*
// or */*) and lower-cases it.
func normalizeAllowedType(t string) (string, error) {
	norm := strings.ToLower(strings.TrimSpace(t))
	typ, sub, ok := strings.Cut(norm, "/")
	switch {
	case !ok || typ == "" || sub == "" || strings.ContainsAny(norm, "; \t,") || strings.Contains(sub, "/"):
		return "", fmt.Errorf("allowed type %q: want type/subtype, type/* or */* without parameters", t)
	case typ == "*" && sub != "*":
		return "", fmt.Errorf("allowed type %q: */%s is not a pattern; use */* or name the type", t, sub)
	case sub != "*" && strings.Contains(sub, "*"), strings.Contains(typ, "*") && typ != "*":
		return "", fmt.Errorf("allowed type %q: * must stand for a whole type or subtype", t)
	}
	return norm, nil
}
