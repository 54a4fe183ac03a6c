package policy

import (
	"fmt"
	"log/slog"

	"github.com/photogate/photogate/s3/classify"
)

// Config is the policy part of photogate's YAML configuration. Its two
// fields sit at the top level of the file, under users: and policy:, so a
// caller can embed it inline (`yaml:",inline"`) or copy the two fields.
// Compile validates it.
type Config struct {
	Users  []UserConfig `yaml:"users"`
	Policy PolicyConfig `yaml:"policy"`
}

// PolicyConfig holds the rules that are not about one identity.
type PolicyConfig struct {
	Limits  Limits         `yaml:"limits"`
	Buckets []BucketConfig `yaml:"buckets"`
}

// UserConfig is one identity. Exactly one of SecretKey, SecretKeyEnv and
// SecretKeyFile gives its secret.
type UserConfig struct {
	// Name identifies the user in logs, metrics and quotas; it defaults to
	// the access key. Quotas follow the name, so a key can be rotated
	// without resetting what the user has stored.
	Name          string      `yaml:"name"`
	AccessKey     string      `yaml:"access_key"`
	SecretKey     Secret      `yaml:"secret_key"`      // inline (fine for tests, not for production)
	SecretKeyEnv  string      `yaml:"secret_key_env"`  // name of an environment variable
	SecretKeyFile string      `yaml:"secret_key_file"` // a file, e.g. a mounted Kubernetes secret
	Grants        []Grant     `yaml:"grants"`
	Limits        *UserLimits `yaml:"limits"`
	// SizeLimits apply to this user's uploads into any bucket, on top of
	// the bucket's own: the stricter of the two wins.
	SizeLimits `yaml:",inline"`
	Quota      *Quota `yaml:"quota"`
}

// LogValue shows where the secret comes from, never the secret.
func (u UserConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", u.Name),
		slog.String("access_key", u.AccessKey),
		slog.String("secret", u.secretSource()),
		slog.Int("grants", len(u.Grants)),
	)
}

func (u UserConfig) secretSource() string {
	switch {
	case u.SecretKey != "":
		return "inline"
	case u.SecretKeyEnv != "":
		return "env " + u.SecretKeyEnv
	case u.SecretKeyFile != "":
		return "file " + u.SecretKeyFile
	}
	return "none"
}

// Grant allows Actions on every bucket matching one of Buckets. Grants only
// add: there is no deny, and a user may do what any of its grants allows.
type Grant struct {
	// Buckets are path.Match patterns ("photos-*", "*" for every bucket
	// including the bucket-less ListBuckets). A single string is accepted
	// in YAML as well as a list.
	Buckets Patterns `yaml:"buckets"`
	// Actions: read, write, delete, list, admin, and the privileged
	// bypass_governance, retention and legal_hold, which no other action
	// implies.
	Actions []classify.Action `yaml:"actions"`
}

// FullAccess is the grant list of an administrator: every ordinary action
// on every bucket. The user created from PHOTOGATE_ACCESS_KEY gets it. It
// leaves out the privileged object lock actions (bypass_governance,
// retention, legal_hold): making data undeletable, or deleting what
// governance retention protects, is granted only by a config that names
// them.
func FullAccess() []Grant {
	return []Grant{{
		Buckets: Patterns{"*"},
		Actions: []classify.Action{classify.ActionRead, classify.ActionWrite, classify.ActionDelete, classify.ActionList, classify.ActionAdmin},
	}}
}

// Patterns is a list of bucket patterns that YAML may also give as one
// string.
type Patterns []string

// UnmarshalYAML accepts a scalar or a sequence. The function-argument form
// works with every YAML library photogate might use without importing one.
func (p *Patterns) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*p = list
		return nil
	}
	var one string
	if err := unmarshal(&one); err != nil {
		return fmt.Errorf("buckets: want a pattern or a list of patterns: %w", err)
	}
	*p = Patterns{one}
	return nil
}

// UserLimits override the defaults in Limits for one user. A field left out
// inherits the default; 0 means unlimited.
type UserLimits struct {
	RequestsPerSecond    *float64 `yaml:"requests_per_second"`
	Burst                *int     `yaml:"burst"`
	UploadBytesPerSecond *Size    `yaml:"upload_bytes_per_second"`
	// MaxInFlight caps this user's requests at once, under the global
	// policy.limits.max_in_flight, so one user cannot take every slot.
	// There is no default: left out or 0, only the global cap applies.
	MaxInFlight *int `yaml:"max_in_flight"`
}

// Limits are the per-user defaults and the global limits. 0 means unlimited
// everywhere except in the auth-failure settings, where leaving a field out
// means its default.
type Limits struct {
	// RequestsPerSecond and Burst make a token bucket per user (and one
	// shared by all anonymous requests). Burst defaults to
	// RequestsPerSecond rounded up.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	// UploadBytesPerSecond caps each user's combined upload bandwidth.
	UploadBytesPerSecond Size `yaml:"upload_bytes_per_second"`
	// MaxInFlight caps the requests photogate serves at once, all users
	// together.
	MaxInFlight int `yaml:"max_in_flight"`
	// AuthFailuresPerMinute and AuthFailureBurst make a token bucket per
	// client address that each failed signature drains; an empty bucket
	// refuses that address before its signature is checked. Defaults 10
	// and 20; 0 per minute turns the limiter off (e.g. behind a proxy that
	// hides client addresses).
	AuthFailuresPerMinute *float64 `yaml:"auth_failures_per_minute"`
	AuthFailureBurst      *int     `yaml:"auth_failure_burst"`
	// AuthFailureMaxAddresses bounds the addresses tracked (default
	// 10000); the least recently failing is forgotten first.
	AuthFailureMaxAddresses int `yaml:"auth_failure_max_addresses"`
}

// BucketConfig is the rule for the buckets matching Bucket. A bucket follows
// exactly one rule, the most specific that matches (see rules.go); fields of
// less specific rules are not merged in.
type BucketConfig struct {
	Bucket       string `yaml:"bucket"` // a path.Match pattern or a plain name
	PublicRead   bool   `yaml:"public_read"`
	SizeLimits   `yaml:",inline"`
	AllowedTypes []string `yaml:"allowed_types"` // "image/*", "video/mp4"; empty: any
	Quota        *Quota   `yaml:"quota"`
	// CORS rules for browsers, as S3's CORSConfiguration: the backend
	// (MinIO) has no per-bucket CORS, so photogate answers preflights and
	// adds the response headers itself.
	CORS []CORSRule `yaml:"cors"`
}

// CORSRule allows cross-origin requests from AllowedOrigins ("*", an exact
// origin, or one with a single "*" such as "https://*.example.com") with
// AllowedMethods (GET, PUT, POST, DELETE, HEAD) and AllowedHeaders (request
// headers a preflight may ask for; "*" and one-"*" patterns allowed).
// ExposeHeaders are response headers scripts may read; MaxAgeSeconds is how
// long browsers cache the preflight.
type CORSRule struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
	AllowedMethods []string `yaml:"allowed_methods"`
	AllowedHeaders []string `yaml:"allowed_headers"`
	ExposeHeaders  []string `yaml:"expose_headers"`
	MaxAgeSeconds  int      `yaml:"max_age_seconds"`
}

// SizeLimits cap uploads, on a bucket rule or on a user. 0 means unlimited.
type SizeLimits struct {
	// MaxObjectSize caps a single-request upload (PutObject, CopyObject).
	MaxObjectSize Size `yaml:"max_object_size"`
	// MaxMultipartSize caps the object a multipart upload assembles; it
	// defaults to MaxObjectSize so that multipart is not a way around it.
	MaxMultipartSize Size `yaml:"max_multipart_size"`
	MaxParts         int  `yaml:"max_parts"`
	MaxMetadataBytes Size `yaml:"max_metadata_bytes"`
}

// Quota caps what a bucket or a user holds. 0 means unlimited.
type Quota struct {
	MaxBytes   Size  `yaml:"max_bytes"`
	MaxObjects int64 `yaml:"max_objects"`
}
