package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/classify"
)

// exampleConfig reads the example of docs/policy.md, the first yaml block
// after "## Example", so that the documented config is the tested one.
func exampleConfig(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	if err != nil {
		t.Fatalf("read the documented example: %v", err)
	}
	_, after, ok := strings.Cut(string(doc), "## Example")
	if ok {
		_, after, ok = strings.Cut(after, "```yaml\n")
	}
	block, _, closed := strings.Cut(after, "```")
	if !ok || !closed {
		t.Fatal("docs/policy.md has no yaml block under ## Example")
	}
	return block
}

func exampleEnv(name string) string {
	switch name {
	case "PHOTOGATE_ADMIN_SECRET":
		return "admin-secret-from-env"
	case "PHOTOGATE_RECORDS_SECRET":
		return "records-secret-from-env"
	}
	return ""
}

func exampleFiles(name string) ([]byte, error) {
	if name == "/run/secrets/phone-backup" {
		return []byte("phone-secret-from-file\n"), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func TestCompileExample(t *testing.T) {
	e, err := Compile(parseConfig(t, exampleConfig(t)), exampleEnv, exampleFiles)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(e, Options{})
	for key, want := range map[string]string{
		"AKIAADMIN0000001": "admin-secret-from-env",
		"AKIAPHONE0000001": "phone-secret-from-file", // trailing newline trimmed
		"AKIAGALLERY00001": "gallery-secret-123",
	} {
		if got, ok := h.Secret(key); !ok || got != want {
			t.Errorf("Secret(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := h.Secret("AKIAUNKNOWN"); ok {
		t.Error("unknown key has a secret")
	}
	if name := h.Caller("AKIAPHONE0000001").Name(); name != "phone-backup" {
		t.Errorf("Name = %q", name)
	}
	u := e.users["AKIAPHONE0000001"]
	if u.limits.requests != 20 || u.limits.burst != 40 || u.limits.upload != 20<<20 || u.limits.maxInFlight != 16 {
		t.Errorf("phone-backup limits = %+v", u.limits)
	}
	if u.quota != (quota{maxBytes: 500 << 30, maxObjects: 1e6}) {
		t.Errorf("phone-backup quota = %+v", u.quota)
	}
	if a := e.users["AKIAADMIN0000001"].limits; a.requests != 100 || a.burst != 200 {
		t.Errorf("admin inherits defaults: %+v", a)
	}
	r := e.rule("photos-2024")
	if r.sizes.maxObject != 200<<20 || r.sizes.maxMultipart != 20<<30 || r.sizes.maxParts != 2000 || r.sizes.maxMetadata != 2048 {
		t.Errorf("photos-* rule = %+v", r)
	}
	if e.maxInFlight != 512 || e.auth != (authSettings{perSecond: 10.0 / 60, burst: 20, maxAddresses: 10000}) {
		t.Errorf("globals: in flight %d, auth %+v", e.maxInFlight, e.auth)
	}
	if u.sizes.maxObject != 100<<20 || u.sizes.maxMetadata != 1<<10 {
		t.Errorf("phone-backup sizes = %+v", u.sizes)
	}
	records := h.Caller("AKIARECORDS00001")
	if records.AuthorizePrivileged(classify.ActionLegalHold, "archive-2024") != nil ||
		records.AuthorizePrivileged(classify.ActionBypassGovernance, "archive-2024") == nil ||
		records.AuthorizePrivileged(classify.ActionBypassGovernance, "archive-scratch") != nil {
		t.Error("records-officer's privileged grants are not as documented")
	}
	if e.Users() != 4 {
		t.Errorf("Users() = %d", e.Users())
	}
}

func TestCompileDefaults(t *testing.T) {
	e := compile(t, `
users:
  - access_key: AKIAONLY
    secret_key: only-secret
    grants: [{buckets: "*", actions: [read]}]
policy:
  buckets:
    - bucket: photos
      max_object_size: 10MB
`)
	u := e.users["AKIAONLY"]
	if u.name != "AKIAONLY" {
		t.Errorf("name defaults to the access key, got %q", u.name)
	}
	if u.limits != (limits{}) || e.maxInFlight != 0 {
		t.Errorf("rates default to unlimited: %+v, in flight %d", u.limits, e.maxInFlight)
	}
	if e.auth != (authSettings{perSecond: 10.0 / 60, burst: 20, maxAddresses: 10000}) {
		t.Errorf("auth limiter defaults: %+v", e.auth)
	}
	if r := e.rule("photos"); r.sizes.maxMultipart != 10e6 {
		t.Errorf("max_multipart_size defaults to max_object_size: %v", r.sizes.maxMultipart)
	}
}

func TestCompileBurstFollowsRate(t *testing.T) {
	e := compile(t, `
users:
  - {name: a, access_key: AKIAA, secret_key: secret-aaaa, grants: [{buckets: "*", actions: [read]}], limits: {requests_per_second: 2.5}}
  - {name: b, access_key: AKIAB, secret_key: secret-bbbb, grants: [{buckets: "*", actions: [read]}], limits: {burst: 7}}
  - {name: c, access_key: AKIAC, secret_key: secret-cccc, grants: [{buckets: "*", actions: [read]}], limits: {requests_per_second: 0}}
policy:
  limits: {requests_per_second: 50, burst: 100}
`)
	for key, want := range map[string]limits{
		"AKIAA": {requests: 2.5, burst: 3}, // own rate: burst is the rate rounded up, not the default 100
		"AKIAB": {requests: 50, burst: 7},
		"AKIAC": {}, // explicit 0: unlimited
	} {
		if got := e.users[key].limits; got != want {
			t.Errorf("%s: %+v, want %+v", key, got, want)
		}
	}
	if e.anonymous.requests != 50 || e.anonymous.burst != 100 || e.anonymous.upload != 0 {
		t.Errorf("anonymous: %+v", e.anonymous)
	}
}

func TestCompileErrors(t *testing.T) {
	const user = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read]}]
`
	for _, tc := range []struct{ name, yaml, want string }{
		{"no users no public", `policy: {}`, "no users configured and no bucket is public_read"},
		{"short access key", `
users: [{access_key: AK, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] (access key "AK"): access_key must be 3 to 128 characters`},
		{"bad access key char", `
users: [{name: x, access_key: "AKIA/1", secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": access_key "AKIA/1": use letters`},
		{"control char in name", `
users: [{name: "a\tb", access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}]}]`, `name "a\tb" must be at most 128 bytes of printable UTF-8`},
		{"no secret", `
users: [{name: x, access_key: AKIA1, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": no secret: set one of secret_key, secret_key_env, secret_key_file`},
		{"two secrets", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, secret_key_env: X, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": set only one of`},
		{"short secret", `
users: [{name: x, access_key: AKIA1, secret_key: short, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": secret_key: the secret key must be at least 8 characters`},
		{"env unset", `
users: [{name: x, access_key: AKIA1, secret_key_env: PG_X_SECRET, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": secret_key_env PG_X_SECRET: the environment variable is not set or empty`},
		{"file missing", `
users: [{name: x, access_key: AKIA1, secret_key_file: /nope/x, grants: [{buckets: "*", actions: [read]}]}]`, `users[0] "x": secret_key_file: no file /nope/x`},
		{"no grants", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough}]`, `users[0] "x": no grants`},
		{"grant without buckets", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{actions: [read]}]}]`, `users[0] "x": grants[0]: no buckets`},
		{"grant without actions", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*"}]}]`, `users[0] "x": grants[0]: no actions`},
		{"unknown action", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read, wirte]}]}]`, `users[0] "x": grants[0]: unknown action "wirte"`},
		{"bad grant pattern", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "photos-[", actions: [read]}]}]`, `users[0] "x": grants[0]: bucket pattern "photos-[" is malformed`},
		{"slash in pattern", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "photos/raw", actions: [read]}]}]`, `contains '/'`},
		{"duplicate access key", user + `
  - {name: bob, access_key: AKIAANA1, secret_key: bob-secret-1, grants: [{buckets: "*", actions: [read]}]}`, `users[1] "bob": access key is also used by users[0]`},
		{"duplicate name", user + `
  - {name: ana, access_key: AKIABOB1, secret_key: bob-secret-1, grants: [{buckets: "*", actions: [read]}]}`, `users[1] "ana": name is also used by users[0]`},
		{"negative user rate", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}], limits: {requests_per_second: -1}}]`, `users[0] "x": limits: requests_per_second -1 must be a non-negative number`},
		{"user burst without rate", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}], limits: {burst: 5}}]`, `users[0] "x": limits: burst 5 without requests_per_second`},
		{"negative user quota", `
users: [{name: x, access_key: AKIA1, secret_key: long-enough, grants: [{buckets: "*", actions: [read]}], quota: {max_objects: -1}}]`, `users[0] "x": quota: max_objects -1 is negative`},
		{"default burst without rate", user + `
policy: {limits: {burst: 10}}`, `policy.limits: burst 10 without requests_per_second`},
		{"negative default burst", user + `
policy: {limits: {requests_per_second: 1, burst: -1}}`, `policy.limits: burst -1 is negative`},
		{"negative in flight", user + `
policy: {limits: {max_in_flight: -1}}`, `policy.limits: max_in_flight -1 is negative`},
		{"negative auth rate", user + `
policy: {limits: {auth_failures_per_minute: -3}}`, `policy.limits: auth_failures_per_minute -3 must be a non-negative number`},
		{"auth burst zero", user + `
policy: {limits: {auth_failure_burst: 0}}`, `policy.limits: auth_failure_burst 0 must be at least 1`},
		{"negative auth addresses", user + `
policy: {limits: {auth_failure_max_addresses: -1}}`, `policy.limits: auth_failure_max_addresses -1 is negative`},
		{"bad bucket pattern", user + `
policy: {buckets: [{bucket: "[a-", max_parts: 10}]}`, `policy.buckets[0] "[a-": bucket pattern "[a-" is malformed`},
		{"empty bucket pattern", user + `
policy: {buckets: [{max_parts: 10}]}`, `policy.buckets[0] "": empty bucket pattern`},
		{"duplicate bucket pattern", user + `
policy: {buckets: [{bucket: "p-*", max_parts: 10}, {bucket: "p-*", public_read: true}]}`, `policy.buckets[1] "p-*": the same pattern as policy.buckets[0]`},
		{"too many parts", user + `
policy: {buckets: [{bucket: photos, max_parts: 10001}]}`, `policy.buckets[0] "photos": max_parts 10001 must be between 0`},
		{"bad type", user + `
policy: {buckets: [{bucket: photos, allowed_types: [jpeg]}]}`, `policy.buckets[0] "photos": allowed type "jpeg": want type/subtype`},
		{"partial wildcard type", user + `
policy: {buckets: [{bucket: photos, allowed_types: ["image/x-*"]}]}`, `allowed type "image/x-*": * must stand for a whole type or subtype`},
		{"star subtype of star", user + `
policy: {buckets: [{bucket: photos, allowed_types: ["*/jpeg"]}]}`, `allowed type "*/jpeg": */jpeg is not a pattern`},
		{"type with parameters", user + `
policy: {buckets: [{bucket: photos, allowed_types: ["text/plain; charset=utf-8"]}]}`, `without parameters`},
		{"negative bucket quota", user + `
policy: {buckets: [{bucket: photos, quota: {max_objects: -5}}]}`, `policy.buckets[0] "photos": quota: max_objects -5 is negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(parseConfig(t, tc.yaml), noEnv, noFiles)
			if err == nil {
				t.Fatalf("compiled %v; want error containing %q", e, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			if e != nil {
				t.Error("an Engine came back with the error")
			}
		})
	}
}

func TestCompileNegativeSizesFromGo(t *testing.T) {
	cfg := Config{
		Users: []UserConfig{{Name: "x", AccessKey: "AKIA1", SecretKey: "long-enough", Grants: FullAccess(),
			Limits: &UserLimits{UploadBytesPerSecond: new(Size(-1))}, SizeLimits: SizeLimits{MaxObjectSize: -5, MaxParts: 10001}}},
		Policy: PolicyConfig{Buckets: []BucketConfig{{Bucket: "b", SizeLimits: SizeLimits{MaxObjectSize: -1, MaxMultipartSize: -2, MaxMetadataBytes: -3}, Quota: &Quota{MaxBytes: -4}}}},
	}
	_, err := Compile(cfg, noEnv, noFiles)
	for _, want := range []string{
		`users[0] "x": limits: upload_bytes_per_second -1 is negative`,
		`policy.buckets[0] "b": max_object_size -1 is negative`,
		`max_multipart_size -2 is negative`,
		`max_metadata_bytes -3 is negative`,
		`quota: max_bytes -4 is negative`,
		`users[0] "x": max_object_size -5 is negative`,
		`users[0] "x": max_parts 10001 must be between 0`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not contain %q", err, want)
		}
	}
}

// Every problem is reported at once, so an operator fixes a config in one go.
func TestCompileReportsAllProblems(t *testing.T) {
	_, err := Compile(parseConfig(t, `
users:
  - {name: a, access_key: AKIAA, secret_key: short, grants: [{buckets: "*", actions: [read]}]}
  - {name: b, access_key: AKIAB, secret_key: long-enough, grants: [{buckets: "*", actions: [fly]}]}
policy:
  buckets: [{bucket: photos, max_parts: -1}]
`), noEnv, noFiles)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`users[0] "a"`, `users[1] "b"`, `policy.buckets[0] "photos"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestCompileSecretFile(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"s3cr3t-value\n", "s3cr3t-value"},
		{"s3cr3t-value\r\n", "s3cr3t-value"},
		{"s3cr3t-value", "s3cr3t-value"},
	} {
		cfg := Config{Users: []UserConfig{{AccessKey: "AKIA1", SecretKeyFile: "/s", Grants: FullAccess()}}}
		e, err := Compile(cfg, noEnv, func(string) ([]byte, error) { return []byte(tc.content), nil })
		if err != nil {
			t.Fatal(err)
		}
		if got := e.users["AKIA1"].secret.Reveal(); got != tc.want {
			t.Errorf("%q: secret %q", tc.content, got)
		}
	}
	cfg := Config{Users: []UserConfig{{AccessKey: "AKIA1", SecretKeyFile: "/s", Grants: FullAccess()}}}
	_, err := Compile(cfg, noEnv, func(string) ([]byte, error) { return []byte("line-one-xx\nline-two-xx\n"), nil })
	if err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("two-line secret file: %v", err)
	}
	_, err = Compile(cfg, noEnv, func(string) ([]byte, error) { return nil, fs.ErrPermission })
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("read error is not wrapped: %v", err)
	}
}

func TestCompileNilSourcesUseProcess(t *testing.T) {
	t.Setenv("PHOTOGATE_POLICY_TEST_SECRET", "from-process-env")
	e, err := Compile(Config{Users: []UserConfig{{AccessKey: "AKIA1", SecretKeyEnv: "PHOTOGATE_POLICY_TEST_SECRET", Grants: FullAccess()}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.users["AKIA1"].secret.Reveal(); got != "from-process-env" {
		t.Errorf("secret %q", got)
	}
}

func TestGrantBucketsScalarOrList(t *testing.T) {
	cfg := parseConfig(t, `
users:
  - access_key: AKIA1
    secret_key: long-enough
    grants:
      - {buckets: one, actions: [read]}
      - {buckets: [two, "three-*"], actions: [write]}
`)
	g := cfg.Users[0].Grants
	if len(g[0].Buckets) != 1 || g[0].Buckets[0] != "one" || len(g[1].Buckets) != 2 || g[1].Buckets[1] != "three-*" {
		t.Fatalf("grants: %+v", g)
	}
	if g[1].Actions[0] != classify.ActionWrite {
		t.Fatalf("actions: %+v", g[1].Actions)
	}
}

func TestUnknownYAMLKeyIsAnError(t *testing.T) {
	var cfg Config
	err := yamlStrict(`policy: {buckets: [{bucket: x, max_object_sise: 1}]}`, &cfg)
	if err == nil || !strings.Contains(err.Error(), "max_object_sise") {
		t.Fatalf("misspelt key: %v", err)
	}
}
