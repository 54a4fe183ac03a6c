package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/policy"
	"github.com/photogate/photogate/s3/classify"
)

const (
	adminAK, adminSK   = "PGADMINKEY0000000001", "admin-secret-0123456789abcdef"
	readerAK, readerSK = "PGREADERKEY000000002", "reader-secret-0123456789abcdef"
)

// signedAdmin serves the admin API over a real index with no token: only
// SigV4 requests of users with admin on every bucket get in, checked by
// the gateway's real verifier against a real policy.
func signedAdmin(t *testing.T) *httptest.Server {
	t.Helper()
	st := testIndex(t)
	engine, err := policy.Compile(policy.Config{Users: []policy.UserConfig{
		{Name: "admin", AccessKey: adminAK, SecretKey: adminSK, Grants: policy.FullAccess()},
		{Name: "reader", AccessKey: readerAK, SecretKey: readerSK, Grants: []policy.Grant{
			{Buckets: policy.Patterns{"*"}, Actions: []classify.Action{classify.ActionRead, classify.ActionList}}}},
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.NewHolder(engine, policy.Options{})
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Index: st, Signed: gateway.SignedAdmin(pol), Backup: st.Backup}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func runCLI(environ map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, env(environ))
	return code, out.String(), errOut.String()
}

// TestAdminCommandsSignWithSigV4: without a token, search, facets and
// stats sign with the user's S3 keys: from the environment, from
// --credentials, or from the data dir's credentials.env that the
// zero-config start writes. A user without admin is told why.
func TestAdminCommandsSignWithSigV4(t *testing.T) {
	srv := signedAdmin(t)
	dataDir := t.TempDir()
	credFile := filepath.Join(dataDir, "credentials.env")
	os.WriteFile(credFile, []byte("AWS_ACCESS_KEY_ID="+adminAK+"\nAWS_SECRET_ACCESS_KEY="+adminSK+"\n"), 0o600)
	readerFile := filepath.Join(t.TempDir(), "reader.env")
	os.WriteFile(readerFile, []byte("export AWS_ACCESS_KEY_ID="+readerAK+"\nexport AWS_SECRET_ACCESS_KEY=\""+readerSK+"\"\n"), 0o600)
	base := map[string]string{"PHOTOGATE_ADMIN_URL": srv.URL}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		environ map[string]string
		args    []string
	}{
		{"environment keys", with(map[string]string{"AWS_ACCESS_KEY_ID": adminAK, "AWS_SECRET_ACCESS_KEY": adminSK}), nil},
		{"--credentials", base, []string{"--credentials", credFile}},
		{"data dir credentials.env", with(map[string]string{"PHOTOGATE_DATA_DIR": dataDir}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.environ, append([]string{"search", "--bucket", "photos"}, tc.args...)...)
			if code != 0 || !strings.Contains(out, "BUCKET") {
				t.Fatalf("search: exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			code, out, errOut = runCLI(tc.environ, append([]string{"facets", "--field", "make"}, tc.args...)...)
			if code != 0 || !strings.Contains(out, "MAKE") {
				t.Fatalf("facets: exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			code, out, errOut = runCLI(tc.environ, append([]string{"stats"}, tc.args...)...)
			if code != 0 || !strings.Contains(out, "bucket photos") {
				t.Fatalf("stats: exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
		})
	}

	code, _, errOut := runCLI(base, "search", "--credentials", readerFile)
	if code == 0 || !strings.Contains(errOut, readerAK) || !strings.Contains(errOut, "admin grant") {
		t.Errorf("search as a user without admin: exit %d, %s; want the key named and the admin grant explained", code, errOut)
	}
	code, _, errOut = runCLI(with(map[string]string{"AWS_ACCESS_KEY_ID": adminAK, "AWS_SECRET_ACCESS_KEY": "wrong"}), "stats")
	if code == 0 || !strings.Contains(errOut, adminAK) || strings.Contains(errOut, adminSK) {
		t.Errorf("stats with a wrong secret: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(with(map[string]string{"PHOTOGATE_DATA_DIR": t.TempDir()}), "search")
	if code == 0 || !strings.Contains(errOut, "credentials.env") || !strings.Contains(errOut, "PHOTOGATE_ADMIN_TOKEN") {
		t.Errorf("search without any credentials: exit %d, %s", code, errOut)
	}
}

// TestAdminOverHTTPSIsExplained: with TLS on, the admin listener serves
// HTTPS, and a plain-HTTP admin URL gets a hint instead of Go's 400.
func TestAdminOverHTTPSIsExplained(t *testing.T) {
	srv := testAdmin(t, testAdminToken, true)
	plain := "http://" + strings.TrimPrefix(srv.URL, "https://")
	code, _, errOut := runCLI(map[string]string{"PHOTOGATE_ADMIN_URL": plain, "PHOTOGATE_ADMIN_TOKEN": testAdminToken}, "search")
	if code == 0 || !strings.Contains(errOut, "--admin-url "+srv.URL) || !strings.Contains(errOut, "--ca-cert") {
		t.Errorf("search over http against HTTPS: exit %d, %s", code, errOut)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "search", "facets", "stats", "check", "repair", "backup", "restore", "dev-cert"} {
		code, _, errOut := runCLI(nil, cmd, "-h")
		if code != 0 || strings.Contains(errOut, "help requested") || !strings.Contains(errOut, "-") {
			t.Errorf("photogate %s -h: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}

func TestBackupIntoDirectory(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	dir := t.TempDir()
	for _, out := range []string{dir + string(os.PathSeparator), dir} {
		r := runCommand(t, backupWith(adminEnv(srv)), "--out", out)
		if r.err != nil {
			t.Fatalf("backup --out %s: %v", out, r.err)
		}
		if r.stderr != "" {
			t.Errorf("backup wrote progress to a non-terminal: %q", r.stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "photogate-index-*.db"))
	if len(files) == 0 {
		t.Fatalf("no photogate-index-*.db in %s", dir)
	}
	if objectsIn(t, files[0]) != int64(len(testRecords())) {
		t.Errorf("%s holds the wrong number of objects", files[0])
	}
}

func TestRestoreTakesTheDataDirFromTheConfig(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	backup := filepath.Join(t.TempDir(), "b.db")
	if r := runCommand(t, backupWith(adminEnv(srv)), "--out", backup); r.err != nil {
		t.Fatal(r.err)
	}
	dataDir := filepath.Join(t.TempDir(), "pgdata")
	cfg := filepath.Join(t.TempDir(), "photogate.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\n"), 0o600)
	r := runCommand(t, restoreWith(nil), "--from", backup, "--config", cfg)
	if r.err != nil {
		t.Fatalf("restore --config: %v", r.err)
	}
	if objectsIn(t, filepath.Join(dataDir, "index.db")) != int64(len(testRecords())) {
		t.Errorf("restore did not put the index into the config's data_dir")
	}
}

// TestConfigErrorsSpeakYAML: an error names the user's position in the
// file, even with an environment user, and an unknown key is named with
// its section, the allowed keys and the likely one.
func TestConfigErrorsSpeakYAML(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte("users:\n  - name: ana\n    access_key: ANAKEY0000000001\n"), 0o600)
	cfg, err := loadConfig([]string{"--config", users}, env(map[string]string{
		"PHOTOGATE_ACCESS_KEY": "ENVKEY0000000001", "PHOTOGATE_SECRET_KEY": "env-secret-0123456789",
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = compilePolicy(cfg)
	if err == nil || !strings.Contains(err.Error(), "users[0]") || strings.Contains(err.Error(), "users[1]") {
		t.Errorf("the file's first (invalid) user is not reported as users[0]: %v", err)
	}

	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("backend:\n  endpont: http://127.0.0.1:9000\n"), 0o600)
	_, err = loadConfig([]string{"--config", typo}, env(nil))
	for _, want := range []string{`line 2: unknown key "endpont" in backend`, `did you mean "endpoint"`, "response_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unknown key error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "main.") {
		t.Errorf("the error names Go types: %v", err)
	}
}

func TestQuickStartPrintsAWorkingSearch(t *testing.T) {
	var b bytes.Buffer
	printQuickStart(&b, quickStartInfo{scheme: "http", listen: "127.0.0.1:9080", adminListen: "127.0.0.1:9081",
		credPath: "data/credentials.env", self: "./bin/photogate"})
	out := b.String()
	for _, want := range []string{". ./data/credentials.env;", "./bin/photogate search --bucket photos\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("quick start lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printQuickStart(&b, quickStartInfo{scheme: "https", listen: "127.0.0.1:9443", adminListen: "127.0.0.1:9444",
		credPath: "/d/credentials.env", self: "photogate"})
	if !strings.Contains(b.String(), "photogate search --bucket photos --admin-url https://127.0.0.1:9444 --ca-cert") {
		t.Errorf("quick start with TLS and other ports:\n%s", b.String())
	}
}
