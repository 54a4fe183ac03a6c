// Package readme runs the README's and docs' runnable shell blocks, in
// order, as a new user would: photogate started the way `make run` starts
// it (zero configuration, embedded backend, fresh data dir), then the
// example `make run` prints, then every block marked runnable. A README
// that drifts from the product fails here.
//
// A block is runnable when its fence's info string is "sh runnable":
//
//	```sh runnable
//	aws --endpoint-url http://127.0.0.1:9080 s3 ls
//	```
//
// The blocks name the default addresses 127.0.0.1:9080 and :9081; the test
// substitutes free ports so that it can run next to other tests.
package readme

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// runnableFence opens a block the test runs.
const runnableFence = "```sh runnable"

// block is one runnable code block and where it comes from.
type block struct {
	file string
	line int
	code string
}

// runnableBlocks extracts the runnable blocks of a Markdown file in order.
func runnableBlocks(t *testing.T, path string) []block {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == runnableFence:
			cur = &block{file: filepath.Base(path), line: n}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: runnable block is never closed", path, cur.line)
	}
	return out
}

func TestRunnableBlocksParse(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "x.md")
	os.WriteFile(md, []byte("```sh\nnot me\n```\n```sh runnable\necho one\necho two\n```\ntext\n```sh runnable\necho three\n```\n"), 0o600)
	got := runnableBlocks(t, md)
	if len(got) != 2 || got[0].code != "echo one\necho two\n" || got[0].line != 4 || got[1].code != "echo three\n" {
		t.Fatalf("blocks = %+v", got)
	}
}

// quickStartExample is the command block serve prints on a zero-config
// start: the indented lines after "In another terminal:".
func quickStartExample(stdout string) string {
	_, after, ok := strings.Cut(stdout, "In another terminal:\n\n")
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		b.WriteString(strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

func TestReadmeRunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs photogate and every S3 client")
	}
	for _, tool := range []string{"aws", "rclone", "s3cmd", "boto3", "curl", "bash"} {
		harness.Require(t, tool)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	bin, err := harness.BuildGateway(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	// What `make run` prints is run first, in a checkout of its own: the
	// README's blocks create the same bucket.
	first := makeRun(t, bin)
	if !strings.Contains(first.example, "search") {
		t.Errorf("the quick-start example has no search command:\n%s", first.example)
	}
	if out, err := first.shell(ctx, "set -e\n"+first.example); err != nil {
		t.Fatalf("make run's printed example failed: %v\n%s", err, out)
	}

	u := makeRun(t, bin)
	work, env, s3Addr, adminAddr := u.work, u.env, u.s3Addr, u.adminAddr
	// The blocks, in reading order, as one shell session: the first one
	// sets the keys the others use, as in the user's terminal.
	script := []string{"set -e"}
	ports := strings.NewReplacer("127.0.0.1:9080", s3Addr, "127.0.0.1:9081", adminAddr)
	files := []string{filepath.Join(root, "README.md")}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	slices.Sort(docs)
	files = append(files, docs...)
	count := 0
	for _, f := range files {
		for _, b := range runnableBlocks(t, f) {
			count++
			script = append(script, fmt.Sprintf("echo '== %s:%d'", b.file, b.line), ports.Replace(b.code))
		}
	}
	if count < 4 {
		t.Fatalf("found %d runnable blocks; the README marks at least 4 (quick start, search, curl, clients)", count)
	}
	out, err := u.shell(ctx, strings.Join(script, "\n"))
	if err != nil {
		t.Fatalf("a README block failed (the last '==' line names it): %v\n%s", err, out)
	}
	t.Logf("README blocks output:\n%s", out)

	// What the blocks uploaded is in the index, with its photo metadata.
	search := exec.CommandContext(ctx, "./bin/photogate", "search", "--admin-url", "http://"+adminAddr, "--bucket", "photos", "--json", "--all")
	search.Dir, search.Env = work, env
	raw, err := search.Output()
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	var items []struct {
		Key  string `json:"key"`
		Make string `json:"make"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatalf("search --json: %v\n%s", err, raw)
	}
	keys := map[string]string{}
	for _, it := range items {
		keys[it.Key] = it.Make
	}
	for _, want := range []string{"IMG_0001.jpg", "2024/IMG_0001.jpg", "2024/IMG_0002.jpg", "2024/IMG_0003.jpg"} {
		if _, ok := keys[want]; !ok {
			t.Errorf("photos/%s is not in the index after the README's examples; index has %v", want, keys)
		}
	}
	if mk := keys["IMG_0001.jpg"]; !strings.EqualFold(mk, "apple") {
		t.Errorf("IMG_0001.jpg make = %q, want Apple", mk)
	}
	// The README's own search found it too.
	if !regexp.MustCompile(`photos\s+IMG_0001\.jpg`).Match(out) {
		t.Errorf("the README's search examples did not list photos/IMG_0001.jpg:\n%s", out)
	}
}

// userSetup is a fresh checkout with bin/photogate, photos to upload and
// no data dir, where photogate was started as `make run` starts it.
type userSetup struct {
	work, s3Addr, adminAddr string
	env                     []string
	example                 string // what serve printed to paste
}

func makeRun(t *testing.T, bin string) userSetup {
	t.Helper()
	u := userSetup{work: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(u.work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(u.work, "bin", "photogate")); err != nil {
		t.Fatal(err)
	}
	photos := harness.PhotosDir(t)
	for _, c := range []struct{ src, dst string }{
		{"jpeg/iphone4s_lensinfo_gps_orient6.jpg", "IMG_0001.jpg"},
		{"jpeg/pentax_k3ii_sunrise.jpg", "some-photo.jpg"},
		{"jpeg/iphone4s_lensinfo_gps_orient6.jpg", "photos/IMG_0002.jpg"},
		{"jpeg/canon_sx60hs_orient6.jpg", "photos/IMG_0003.jpg"},
	} {
		copyFile(t, filepath.Join(photos, c.src), filepath.Join(u.work, c.dst))
	}
	for _, addr := range []*string{&u.s3Addr, &u.adminAddr} {
		port, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		*addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	// PHOTOGATE_ADMIN_URL stands in for the CLI's default admin URL, as
	// the replaced ports do for the blocks' addresses.
	u.env = harness.ClientEnv(t.TempDir(), "PHOTOGATE_LISTEN="+u.s3Addr, "PHOTOGATE_ADMIN_LISTEN="+u.adminAddr,
		"PHOTOGATE_ADMIN_URL=http://"+u.adminAddr)

	serve := exec.Command("./bin/photogate", "serve") // what make run runs
	serve.Dir, serve.Env = u.work, u.env
	var serveOut, serveErr syncBuffer
	serve.Stdout, serve.Stderr = &serveOut, &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("photogate in %s, stderr:\n%s", u.work, serveErr.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); u.example == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("photogate printed no quick-start example:\nstdout:\n%s\nstderr:\n%s", serveOut.String(), serveErr.String())
		}
		u.example = quickStartExample(serveOut.String())
	}
	return u
}

// shell runs script with bash in the checkout, as the user's terminal.
func (u userSetup) shell(ctx context.Context, script string) ([]byte, error) {
	sh := exec.CommandContext(ctx, "bash", "-c", script)
	sh.Dir, sh.Env = u.work, u.env
	return sh.CombinedOutput()
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
