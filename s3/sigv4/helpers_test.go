package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/photogate/photogate/s3/s3err"
)

// isCodeMsg reports whether err carries S3 error code and, unless msg is
// empty, exactly that client-visible message.
func isCodeMsg(err error, code, msg string) bool {
	var e *s3err.Error
	if !errors.As(err, &e) {
		return false
	}
	return string(e.Code) == code && (msg == "" || e.Message == msg)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
