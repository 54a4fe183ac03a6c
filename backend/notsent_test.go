package backend

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/s3/s3err"
)

// Only a breaker refusal proves the backend never saw the request; the
// proxy abandons intents on it and settles them on anything else.
func TestNotSent(t *testing.T) {
	open := s3err.Wrap(s3err.SlowDown, "", gobreaker.ErrOpenState)
	hung := s3err.Wrap(s3err.SlowDown, "", hungError{errors.New("timeout awaiting response headers")})
	for err, want := range map[error]bool{
		open:                                  true,
		fmt.Errorf("PutObject b/k: %w", open): true,
		s3err.Wrap(s3err.SlowDown, "", gobreaker.ErrTooManyRequests): true,
		hung: false,
		s3err.Wrap(s3err.ServiceUnavailable, "", errors.New("conn reset")): false,
	} {
		if got := NotSent(err); got != want {
			t.Errorf("NotSent(%v) = %v, want %v", err, got, want)
		}
	}
}
