package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/photogate/photogate/metastore"
)

func runCommand(t *testing.T, cmd func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmd(context.Background(), args, &out, &errOut)
	return cliResult{out.String(), errOut.String(), err}
}

func backupWith(environ map[string]string) func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error {
	return func(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
		return backupCommand(ctx, args, out, errOut, env(environ))
	}
}

func restoreWith(environ map[string]string) func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error {
	return func(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
		return restoreCommand(ctx, args, out, errOut, env(environ))
	}
}

// objectsIn opens an index file and returns its object count.
func objectsIn(t *testing.T, path string) int64 {
	t.Helper()
	st, err := verifyIndexFile(context.Background(), path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st.Objects
}

func TestBackupAndRestore(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	dir := t.TempDir()
	out := filepath.Join(dir, "index-backup.db")

	r := runCommand(t, backupWith(adminEnv(srv)), "--out", out)
	if r.err != nil {
		t.Fatalf("backup: %v\n%s", r.err, r.stderr)
	}
	want := int64(len(testRecords()))
	if !strings.Contains(r.stdout, "objects") || objectsIn(t, out) != want {
		t.Fatalf("backup output %q; file holds %d objects, want %d", r.stdout, objectsIn(t, out), want)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600 (it holds GPS positions)", fi.Mode().Perm())
	}

	// Restore into a data dir whose index holds something else: the old
	// index is kept, the new one is the backup.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	old, err := metastore.Open(filepath.Join(data, "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Commit(context.Background(), 0, metastore.Put(metastore.Record{Bucket: "other", Key: "only-here.jpg", Size: 1})); err != nil {
		t.Fatal(err)
	}

	// While something holds the index (a running photogate), restore
	// refuses and changes nothing.
	r = runCommand(t, restoreWith(map[string]string{"PHOTOGATE_DATA_DIR": data}), "--from", out)
	if r.err == nil || !strings.Contains(r.err.Error(), "stop photogate first") {
		t.Fatalf("restore over an index in use: %v", r.err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if n := objectsIn(t, filepath.Join(data, "index.db")); n != 1 {
		t.Fatalf("the refused restore changed the index: %d objects", n)
	}

	r = runCommand(t, restoreWith(map[string]string{"PHOTOGATE_DATA_DIR": data}), "--from", out)
	if r.err != nil {
		t.Fatalf("restore: %v", r.err)
	}
	if n := objectsIn(t, filepath.Join(data, "index.db")); n != want {
		t.Fatalf("restored index holds %d objects, want %d", n, want)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "index.db.before-restore-*"))
	if len(kept) != 1 || objectsIn(t, kept[0]) != 1 || !strings.Contains(r.stdout, kept[0]) {
		t.Fatalf("previous index not kept (or not said): %v\n%s", kept, r.stdout)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(data, ".index.db.restore.*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBackupRefusesBadSnapshots(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	if err := os.WriteFile(out, []byte("the previous backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A server that answers 200 with something that is not an index, and
	// one whose stream breaks half way.
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("not bbolt "), 1000))
	}))
	defer garbage.Close()
	real := testAdmin(t, testAdminToken, false)
	snapshot := func() []byte {
		req, _ := http.NewRequest(http.MethodGet, real.URL+"/api/v1/backup", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	// Half a snapshot, sent as if it were all of it: only opening the
	// result can tell.
	truncated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(snapshot[:len(snapshot)/2])
	}))
	defer truncated.Close()
	// Half a snapshot of a declared full length: the transfer breaks.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(snapshot)))
		_, _ = w.Write(snapshot[:len(snapshot)/2])
	}))
	defer broken.Close()

	for name, url := range map[string]string{"garbage": garbage.URL, "truncated": truncated.URL, "broken transfer": broken.URL} {
		r := runCommand(t, backupWith(map[string]string{"PHOTOGATE_ADMIN_URL": url, "PHOTOGATE_ADMIN_TOKEN": testAdminToken}), "--out", out)
		if r.err == nil {
			t.Errorf("%s: backup succeeded", name)
		}
		if b, _ := os.ReadFile(out); string(b) != "the previous backup" {
			t.Errorf("%s: the previous backup was replaced", name)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".b.db.*")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}

	// Wrong token: the API's error, nothing written.
	r := runCommand(t, backupWith(map[string]string{"PHOTOGATE_ADMIN_URL": real.URL, "PHOTOGATE_ADMIN_TOKEN": "wrong"}), "--out", filepath.Join(dir, "x.db"))
	if r.err == nil || !strings.Contains(r.err.Error(), "401") {
		t.Errorf("wrong token: %v", r.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Error("a refused backup wrote a file")
	}
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte{0xAB}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"PHOTOGATE_DATA_DIR": data}
	for _, args := range [][]string{
		{"--from", junk},
		{"--from", filepath.Join(dir, "missing.db")},
		{},
	} {
		r := runCommand(t, restoreWith(environ), args...)
		if r.err == nil {
			t.Errorf("restore %v succeeded", args)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "index.db")); err == nil {
		t.Error("a refused restore created an index")
	}
}
