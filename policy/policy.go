// Package policy decides who may do what through photogate: identities and
// their secrets, and the permission check the gateway makes once per request
// before anything reaches the backend.
package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/photogate/photogate/gateway/classify"
	"github.com/photogate/photogate/gateway/s3err"
)

// User is one identity that may sign requests.
type User struct {
	Name      string
	AccessKey string
	SecretKey string
}

// Users is an immutable set of identities. Every user currently has full
// access to every bucket; grants per bucket arrive with the policy rules.
type Users struct {
	byKey map[string]User
}

// NewUsers validates users and indexes them by access key.
func NewUsers(users []User) (*Users, error) {
	if len(users) == 0 {
		return nil, errors.New("no users configured")
	}
	byKey := make(map[string]User, len(users))
	for i, u := range users {
		switch {
		case len(u.AccessKey) < 3:
			return nil, fmt.Errorf("user %d: access key must be at least 3 characters", i)
		case len(u.SecretKey) < 8:
			return nil, fmt.Errorf("user %q: secret key must be at least 8 characters", u.AccessKey)
		}
		if _, dup := byKey[u.AccessKey]; dup {
			return nil, fmt.Errorf("user %q: access key listed twice", u.AccessKey)
		}
		if u.Name == "" {
			u.Name = u.AccessKey
		}
		byKey[u.AccessKey] = u
	}
	return &Users{byKey: byKey}, nil
}

// Secret returns the secret key of accessKey.
func (u *Users) Secret(accessKey string) (string, bool) {
	user, ok := u.byKey[accessKey]
	return user.SecretKey, ok
}

// Authorize returns nil if accessKey may perform op on t, or an AccessDenied
// error. It never calls the backend.
func (u *Users) Authorize(_ context.Context, accessKey string, op classify.Op, t classify.Target) error {
	if _, ok := u.byKey[accessKey]; !ok {
		return s3err.New(s3err.AccessDenied, "")
	}
	return nil
}
