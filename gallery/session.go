package gallery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cookieName is the session cookie. The __Host- prefix (under TLS) makes
// browsers refuse it unless it is Secure, host-only and for path /, so a
// sibling subdomain cannot plant one.
const (
	cookieName       = "photogate_gallery"
	secureCookieName = "__Host-photogate_gallery"
)

// session is who a browser signed in as, until when.
type session struct {
	accessKey string
	expires   time.Time
	nonce     string
}

// value is the cookie's content: the access key, expiry and nonce in the
// clear (the access key is an identifier, not a secret), then a MAC over
// them and the user's current secret. Binding the secret means rotating a
// user's secret ends their sessions, as it ends their signatures.
func (s session) value(key []byte, secret string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(s.accessKey)) + "." +
		strconv.FormatInt(s.expires.Unix(), 10) + "." + s.nonce
	return payload + "." + sessionMAC(key, "session", payload, secret)
}

// csrf is the token state-changing requests carry in X-CSRF-Token. It is
// derived from the session, so it needs no storage, and a page of another
// origin can neither read it (the API answers JSON, with no CORS) nor
// guess it.
func (s session) csrf(key []byte, secret string) string {
	return sessionMAC(key, "csrf", s.accessKey+"."+s.nonce, secret)
}

func sessionMAC(key []byte, purpose, payload, secret string) string {
	mac := hmac.New(sha256.New, key)
	for _, f := range []string{"photogate gallery v1", purpose, payload, secret} {
		fmt.Fprintf(mac, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

func newSession(accessKey string, now time.Time, ttl time.Duration) session {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return session{accessKey: accessKey, expires: now.Add(ttl).Truncate(time.Second), nonce: hex.EncodeToString(b[:])}
}

var errNoSession = errors.New("not signed in")

// parseSession checks a cookie value. secretOf returns the user's current
// secret, false for a user that no longer exists.
func parseSession(value string, key []byte, now time.Time, secretOf func(accessKey string) (string, bool)) (session, string, error) {
	parts := strings.Split(value, ".")
	if len(parts) != 4 || len(value) > 1024 {
		return session{}, "", errNoSession
	}
	ak, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return session{}, "", errNoSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, "", errNoSession
	}
	s := session{accessKey: string(ak), expires: time.Unix(exp, 0), nonce: parts[2]}
	secret, ok := secretOf(s.accessKey)
	if !ok {
		return session{}, "", errNoSession
	}
	want := sessionMAC(key, "session", strings.Join(parts[:3], "."), secret)
	if !hmac.Equal([]byte(parts[3]), []byte(want)) || !now.Before(s.expires) {
		return session{}, "", errNoSession
	}
	return s, secret, nil
}

// setCookie sends the session cookie: HttpOnly (scripts never see it),
// SameSite=Strict (no other site's page can make the browser send it), and
// Secure and __Host- prefixed under TLS, behind a TLS-terminating proxy too.
func setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
	if overTLS(r) {
		c.Name, c.Secure = secureCookieName, true
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// overTLS reports whether the browser reached photogate over HTTPS: its
// own TLS, or a proxy that terminated it (the Helm chart's gallery ingress)
// and says so in X-Forwarded-Proto. Trusting the header costs nothing: a
// client that claims HTTPS over plain HTTP only gets a Secure cookie its
// browser will not send back.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func cookieValue(r *http.Request) string {
	name := cookieName
	if overTLS(r) {
		name = secureCookieName
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
