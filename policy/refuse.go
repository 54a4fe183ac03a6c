package policy

import (
	"math"
	"time"

	"github.com/photogate/photogate/s3/s3err"
)

// retrySeconds rounds d up to whole seconds, at least 1: Retry-After has
// whole seconds, and 0 would invite an immediate retry.
func retrySeconds(d time.Duration) int {
	return int(max(math.Ceil(d.Seconds()), 1))
}

// slowDown is the refusal of every rate limit: 503 SlowDown, which every
// AWS SDK retries with backoff (and honours Retry-After where it can).
func slowDown(d time.Duration, msg string) *s3err.Error {
	return &s3err.Error{Code: s3err.SlowDown, Message: msg, RetryAfter: retrySeconds(d)}
}
