package policy

import "time"

// Observer is told about every refusal, and about how long each throttled
// upload was held back by upload_bytes_per_second (once per upload body,
// when it ends; Admit never waits, it refuses), for metrics. It
// receives user names (bounded by the config, "" for anonymous or not yet
// authenticated callers), never access keys of unknown callers, secrets,
// client addresses or object keys, so it can use them as metric labels.
// Its methods must be fast and safe for concurrent use.
type Observer interface {
	Refused(reason, user string)
	RateLimitWait(user string, d time.Duration)
}

// The reasons passed to Observer.Refused.
const (
	ReasonAccessDenied  = "access_denied"  // Authorize, AuthorizePrivileged: no grant, or anonymous outside public_read
	ReasonRateLimited   = "rate_limited"   // Admit: the user's requests_per_second
	ReasonInFlight      = "in_flight"      // Admit: max_in_flight
	ReasonUserInFlight  = "user_in_flight" // Admit: the user's max_in_flight
	ReasonAuthThrottled = "auth_throttled" // AuthAllowed: too many failed signatures from the address
	ReasonTooLarge      = "too_large"      // Reserve: max_object_size, max_multipart_size
	ReasonSizeUnknown   = "size_unknown"   // Reserve: a size limit applies but no length was declared
	ReasonQuota         = "quota"          // Reserve: a bucket or user quota
	ReasonType          = "type"           // CheckType, CheckDeclaredType: allowed_types
	ReasonTooManyParts  = "too_many_parts" // Reserve: max_parts
	ReasonMetadata      = "metadata"       // Reserve: max_metadata_bytes
)

// Reasons lists every reason, for observers that pre-create their series.
func Reasons() []string {
	return []string{
		ReasonAccessDenied, ReasonRateLimited, ReasonInFlight, ReasonUserInFlight, ReasonAuthThrottled, ReasonTooLarge,
		ReasonSizeUnknown, ReasonQuota, ReasonType, ReasonTooManyParts, ReasonMetadata,
	}
}

func (h *Holder) refused(reason, user string) {
	if h.observer != nil {
		h.observer.Refused(reason, user)
	}
}

func (h *Holder) waited(user string, d time.Duration) {
	if h.observer != nil && d > 0 {
		h.observer.RateLimitWait(user, d)
	}
}
