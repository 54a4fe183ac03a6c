package observe

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"
)

// AuditEvent is one mutation, successful or refused, as the audit log
// records it. It carries who did what to which object and how it ended;
// never credentials. User is the configured user name, not the access key.
type AuditEvent struct {
	Time      time.Time // zero: now
	RequestID string    // the x-amz-request-id the client saw, also in the request log
	User      string    // user name; "" for an unauthenticated caller
	Method    string    // HTTP method; tells what an unclassified request tried
	Op        string    // S3 operation, e.g. PutObject, DeleteObjects, PutBucketPolicy; "" if unclassified
	Bucket    string
	Key       string
	Keys      []string // DeleteObjects: the keys requested (Key is then empty)
	Status    int      // HTTP status sent to the client (0: none)
	Error     string   // S3 error code or message when the request failed
	Remote    string   // client address
}

// auditLine is the JSON shape of an AuditEvent; field names are stable,
// log pipelines parse them.
type auditLine struct {
	Time      string   `json:"time"`
	Kind      string   `json:"kind"`
	RequestID string   `json:"request_id,omitempty"`
	User      string   `json:"user"`
	Method    string   `json:"method,omitempty"`
	Op        string   `json:"op"`
	Bucket    string   `json:"bucket,omitempty"`
	Key       string   `json:"key,omitempty"`
	Keys      []string `json:"keys,omitempty"`
	Status    int      `json:"status"`
	Error     string   `json:"error,omitempty"`
	Remote    string   `json:"remote,omitempty"`
}

// Audit writes the audit log: one JSON object per line per mutation. It is
// a stream of its own, separate from the request log, so that it can be
// shipped to and retained in a different place (audit logs are usually kept
// longer and read by other people than debug logs). A nil *Audit discards.
type Audit struct {
	mu     sync.Mutex // one Write per line, so concurrent lines never interleave
	w      io.Writer
	redact *redactor
}

// NewAuditLogger returns an Audit writing to w. For a file, open it with
// O_APPEND so that each line lands whole even if another process (a log
// shipper truncating, say) touches the file.
func NewAuditLogger(w io.Writer) *Audit {
	return &Audit{w: w, redact: newRedactor()}
}

// maxAuditError bounds the error field; the request log has the rest.
const maxAuditError = 1024

// Record writes ev as one line. ctx is accepted for symmetry with the
// request path and future trace correlation; the write is not cancelled by
// it, because an audit line for a mutation that happened must not be lost
// to the client hanging up. The error is the writer's.
func (a *Audit) Record(ctx context.Context, ev AuditEvent) error {
	if a == nil {
		return nil
	}
	_ = ctx
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	user := ev.User
	if user == "" {
		user = Anonymous
	}
	line := auditLine{
		Time:      t.UTC().Format(time.RFC3339Nano),
		Kind:      "audit",
		RequestID: ev.RequestID,
		User:      ValidUTF8(user),
		Method:    ev.Method,
		Op:        cmp.Or(ev.Op, UnknownOperation),
		Bucket:    ValidUTF8(ev.Bucket),
		Key:       ValidUTF8(ev.Key),
		Status:    ev.Status,
		Error:     a.redact.clean(ev.Error, maxAuditError),
		Remote:    ev.Remote,
	}
	if len(ev.Keys) > 0 {
		line.Keys = make([]string, len(ev.Keys))
		for i, k := range ev.Keys {
			line.Keys[i] = ValidUTF8(k)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keys are shown as they are: "<" in a photo's name is not HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err := a.w.Write(buf.Bytes())
	return err
}

// ValidUTF8 keeps keys with invalid UTF-8 (S3 allows any bytes) readable
// and the line valid JSON; encoding/json would do the same replacement, but
// doing it here makes the behaviour explicit.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
}

// redactor removes credentials that could appear inside error messages:
// presigned-URL signatures and credentials, Authorization header values,
// and userinfo in URLs (a backend endpoint written as http://key:secret@host).
// Error text reaches the audit log and the unauthenticated /readyz answer.
type redactor struct {
	patterns []*regexp.Regexp
	repl     []string
}

func newRedactor() *redactor {
	return &redactor{
		patterns: []*regexp.Regexp{
			regexp.MustCompile(`(?i)(x-amz-(?:signature|credential|security-token)=)[^&\s"']+`),
			regexp.MustCompile(`(?i)((?:signature|credential)=)[^,&\s"']+`),
			regexp.MustCompile(`(?i)(authorization:\s*)[^\r\n"]+`),
			// Everything up to the next "@", "/" included: a secret may
			// contain "/", and over-redacting a path with "@" in it is
			// the safe mistake.
			regexp.MustCompile(`(://)[^\s@"']*@`),
		},
		repl: []string{"${1}REDACTED", "${1}REDACTED", "${1}REDACTED", "${1}REDACTED@"},
	}
}

// clean redacts s and cuts it to at most max bytes (on a rune boundary).
func (r *redactor) clean(s string, max int) string {
	if s == "" {
		return s
	}
	for i, p := range r.patterns {
		s = p.ReplaceAllString(s, r.repl[i])
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return ValidUTF8(s)
}
