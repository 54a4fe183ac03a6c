package policy

import (
	"fmt"
	"io"

	"golang.org/x/time/rate"

	"github.com/photogate/photogate/s3/classify"
)

// Engine is a compiled, validated policy. It is immutable: a reload compiles
// a new Engine and swaps it into the Holder, so a request that loaded one
// Engine sees one consistent policy from start to end.
type Engine struct {
	users       map[string]*user // by access key
	rules       []*bucketRule    // most specific first
	fallback    bucketRule       // for buckets no rule matches: no limits, not public
	anonymous   limits           // the shared identity of unsigned requests
	maxInFlight int64            // 0: unlimited
	auth        authSettings
}

// user is one compiled identity.
type user struct {
	name      string
	accessKey string
	// secret is behind a pointer because fmt prints a nested pointer as an
	// address: even a raw dump of an Engine value (%v of *e, or a bad
	// verb, which bypass Format on unexported fields) cannot show it.
	secret *Secret
	grants []grant
	limits limits
	sizes  sizeLimits
	quota  quota
}

type grant struct {
	patterns []string
	actions  actionSet
}

// actionSet is a bit set of classify.Actions. Each action has its own bit
// and no bit implies another: admin does not include the privileged object
// lock actions, which must be granted by name.
type actionSet uint8

func actionBit(a classify.Action) actionSet {
	// The bit of an action is its index here; at most 8 fit an actionSet.
	for i, known := range [...]classify.Action{
		classify.ActionRead, classify.ActionWrite, classify.ActionDelete, classify.ActionList, classify.ActionAdmin,
		classify.ActionBypassGovernance, classify.ActionRetention, classify.ActionLegalHold,
	} {
		if a == known {
			return 1 << i
		}
	}
	return 0
}

func (s actionSet) has(a classify.Action) bool { b := actionBit(a); return b != 0 && s&b != 0 }

// limits are one identity's effective rate limits. A zero rate is unlimited.
type limits struct {
	requests     rate.Limit
	burst        int
	upload       rate.Limit // bytes per second
	uploadBurst  int        // bytes
	uploadPerSec Size       // as configured, for messages
	maxInFlight  int64      // this identity's requests at once; 0: only the global cap
}

type quota struct {
	maxBytes   int64
	maxObjects int64
}

func (q quota) set() bool { return q.maxBytes > 0 || q.maxObjects > 0 }

// sizeLimits is one compiled SizeLimits. 0 is unlimited.
type sizeLimits struct {
	maxObject    Size
	maxMultipart Size // already defaulted to maxObject
	maxParts     int
	maxMetadata  Size
}

func (s sizeLimits) any() bool {
	return s.maxObject > 0 || s.maxMultipart > 0 || s.maxParts > 0 || s.maxMetadata > 0
}

// bucketRule is one compiled BucketConfig.
type bucketRule struct {
	pattern      string
	spec         specificity
	publicRead   bool
	sizes        sizeLimits
	allowedTypes []string // lower case; empty: any
	quota        quota
	cors         []corsRule
}

// rule returns the most specific rule matching bucket.
func (e *Engine) rule(bucket string) *bucketRule {
	if bucket == "" {
		return &e.fallback
	}
	for _, r := range e.rules {
		if matchBucket(r.pattern, bucket) {
			return r
		}
	}
	return &e.fallback
}

// UserName returns the configured name of accessKey.
func (e *Engine) UserName(accessKey string) (string, bool) {
	if u, ok := e.users[accessKey]; ok {
		return u.name, true
	}
	return "", false
}

// Users is how many identities the Engine knows, for the start-up log.
func (e *Engine) Users() int { return len(e.users) }

// Format keeps fmt output of an Engine short and free of secrets.
func (e *Engine) Format(f fmt.State, _ rune) {
	if e == nil {
		_, _ = io.WriteString(f, "policy.Engine(nil)")
		return
	}
	_, _ = fmt.Fprintf(f, "policy.Engine{users: %d, bucket rules: %d}", len(e.users), len(e.rules))
}

// Format keeps the secret out of any fmt output of a user.
func (u user) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "policy.user{name: %q, access key: %q, secret: %s}", u.name, u.accessKey, u.secret.String())
}
