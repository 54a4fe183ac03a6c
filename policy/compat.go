package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/photogate/photogate/gateway/classify"
)

// User is an identity with full access, as photogate configured users
// before grants existed.
//
// Deprecated: use UserConfig, Compile and Holder. This file only keeps
// gateway and cmd building until they are moved to the Holder; delete it
// then.
type User struct {
	Name      string
	AccessKey string
	SecretKey string
}

// Users is a Holder whose users all have full access.
//
// Deprecated: use Holder.
type Users struct {
	h *Holder
}

// NewUsers compiles users, each with FullAccess.
//
// Deprecated: use Compile and NewHolder.
func NewUsers(users []User) (*Users, error) {
	if len(users) == 0 {
		return nil, errors.New("no users configured")
	}
	var cfg Config
	for _, u := range users {
		cfg.Users = append(cfg.Users, UserConfig{Name: u.Name, AccessKey: u.AccessKey, SecretKey: Secret(u.SecretKey), Grants: FullAccess()})
	}
	e, err := Compile(cfg, func(string) string { return "" }, func(name string) ([]byte, error) {
		return nil, fmt.Errorf("read %s: no files in the compatibility API", name)
	})
	if err != nil {
		return nil, err
	}
	return &Users{h: NewHolder(e, Options{})}, nil
}

// Secret returns the secret key of accessKey.
func (u *Users) Secret(accessKey string) (string, bool) { return u.h.Secret(accessKey) }

// Authorize is Holder.Authorize with the gateway's current signature.
func (u *Users) Authorize(ctx context.Context, accessKey string, op classify.Op, t classify.Target) error {
	return u.h.Authorize(ctx, accessKey, op, t.Bucket, t.Key)
}
