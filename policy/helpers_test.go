package policy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/photogate/photogate/s3/s3err"
)

// photosDir finds the repository's testdata/photos by walking up from the
// package.
func photosDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "testdata", "photos")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testdata/photos not found above the package")
		}
		dir = parent
	}
}

// parseConfig decodes YAML the way photogate's config loader does (unknown
// keys are errors), proving the yaml tags.
func parseConfig(t *testing.T, src string) Config {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode YAML: %v", err)
	}
	return cfg
}

func noEnv(string) string { return "" }

func noFiles(name string) ([]byte, error) { return nil, errors.New("no file " + name) }

func compile(t *testing.T, src string) *Engine {
	t.Helper()
	e, err := Compile(parseConfig(t, src), noEnv, noFiles)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return e
}

func holder(t *testing.T, src string, opts Options) *Holder {
	t.Helper()
	return NewHolder(compile(t, src), opts)
}

// wantCode fails unless err is an s3err with code c.
func wantCode(t *testing.T, err error, c s3err.Code) *s3err.Error {
	t.Helper()
	if !s3err.Is(err, c) {
		t.Fatalf("got %v, want %s", err, c)
	}
	return s3err.From(err)
}

func wantNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// observer records what the Holder reports.
type observer struct {
	mu      sync.Mutex
	refused []string // "reason user"
	waited  time.Duration
	waits   int
}

func (o *observer) Refused(reason, user string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused = append(o.refused, strings.TrimSpace(reason+" "+user))
}

func (o *observer) RateLimitWait(_ string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waited += d
	o.waits++
}

func (o *observer) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.refused) == 0 {
		return ""
	}
	return o.refused[len(o.refused)-1]
}

// usage is a fake index.
type usage struct {
	mu      sync.Mutex
	buckets map[string][2]int64 // objects, bytes
	users   map[string][2]int64
	err     error
	calls   int
}

func (u *usage) BucketUsage(_ context.Context, bucket string) (int64, int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	v := u.buckets[bucket]
	return v[0], v[1], u.err
}

func (u *usage) UserUsage(_ context.Context, user string) (int64, int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	v := u.users[user]
	return v[0], v[1], u.err
}

func yamlStrict(src string, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	return dec.Decode(out)
}

// checkUpload asks Reserve and gives the reservation back at once: the
// rules alone, for tests that are not about concurrent uploads.
func checkUpload(ctx context.Context, h *Holder, u Upload) error {
	release, err := h.Caller(u.User).Reserve(ctx, u)
	if err != nil {
		return err
	}
	release(false)
	return nil
}
