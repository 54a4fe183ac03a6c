package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
)

const testAdminToken = "cli-test-token-0123456789"

func testRecords() []metastore.Record {
	alt := 35.0
	return []metastore.Record{
		{
			Bucket: "photos", Key: "2024/paris.jpg", Size: 5 << 20, ContentType: "image/jpeg",
			Format: "jpeg", Width: 8192, Height: 5464, DisplayWidth: 8192, DisplayHeight: 5464, Orientation: 1,
			Megapixels: 44.8, Aspect: "landscape", Make: "Canon", Model: "Canon EOS R5", Lens: "RF50mm F1.2 L USM", ISO: 100,
			TakenAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), TakenOffset: "+02:00",
			GPS:  &metastore.GPS{Lat: 48.8566, Lon: 2.3522, Alt: &alt},
			Tags: map[string]string{"album": "paris", "rating": "5"}, Status: "ok",
		},
		{
			Bucket: "photos", Key: "2024/fiji.heic", Size: 2 << 20, ContentType: "image/heic",
			Format: "heic", Width: 4032, Height: 3024, DisplayWidth: 3024, DisplayHeight: 4032, Orientation: 6,
			Megapixels: 12.2, Aspect: "portrait", Make: "Apple", Model: "iPhone 15 Pro", ISO: 800,
			TakenAt: time.Date(2024, 6, 15, 18, 30, 0, 0, time.UTC),
			GPS:     &metastore.GPS{Lat: -17.7, Lon: 179.5}, Tags: map[string]string{"album": "travel"}, Status: "ok",
		},
		{
			Bucket: "photos", Key: "2023/scan.png", Size: 300_000, ContentType: "image/png",
			Format: "png", Width: 800, Height: 600, Megapixels: 0.48, Aspect: "landscape",
			Status: "partial", Reason: "no EXIF",
		},
		{
			Bucket: "archive", Key: "nyc\x1b[31m.jpg", Size: 8_000_000, ContentType: "image/jpeg", // a hostile key
			Format: "jpeg", Width: 4000, Height: 4000, Orientation: 3, Megapixels: 16, Aspect: "square",
			Make: "NIKON CORPORATION", Model: "NIKON D750", ISO: 3200,
			TakenAt: time.Date(2019, 1, 1, 9, 0, 0, 0, time.UTC),
			GPS:     &metastore.GPS{Lat: 40.7128, Lon: -74.0060}, Status: "ok",
		},
	}
}

// testAdmin serves the admin API over a real temporary index, mounted as
// serve mounts it. With tlsOn it is HTTPS with httptest's own CA.
func testAdmin(t *testing.T, token string, tlsOn bool) *httptest.Server {
	t.Helper()
	st := testIndex(t)
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Index: st, Token: token, Backup: st.Backup}))
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	return srv
}

// testIndex is a real temporary index holding testRecords.
func testIndex(t *testing.T) *metastore.Store {
	t.Helper()
	st, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, r := range testRecords() {
		if err := st.Commit(context.Background(), 0, metastore.Put(r)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

type cliResult struct {
	stdout, stderr string
	err            error
}

func runSearch(t *testing.T, environ map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := searchCommand(context.Background(), args, &out, &errOut, env(environ))
	return cliResult{out.String(), errOut.String(), err}
}

func adminEnv(srv *httptest.Server) map[string]string {
	return map[string]string{"PHOTOGATE_ADMIN_URL": srv.URL, "PHOTOGATE_ADMIN_TOKEN": testAdminToken}
}

// tableKeys returns the KEY column of a table.
func tableKeys(t *testing.T, table string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	if table == "" {
		return nil
	}
	if !strings.HasPrefix(lines[0], "BUCKET") {
		t.Fatalf("no header:\n%s", table)
	}
	var keys []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "BUCKET" {
			continue // a header repeated per page is a bug, caught below
		}
		keys = append(keys, f[0]+"/"+f[1])
	}
	return keys
}

func TestSearchTable(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	r := runSearch(t, adminEnv(srv))
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 rows:\n%s", r.stdout)
	}
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"BUCKET", "KEY", "TAKEN", "CAMERA", "SIZE", "DIMENSIONS", "GPS"}) {
		t.Fatalf("header %q", got)
	}
	for _, want := range []string{
		`archive  "nyc\x1b[31m.jpg"`, // control bytes are quoted, never sent to the terminal
		"2024-05-01 12:00:00 +02:00", // the photographer's wall clock
		"2019-01-01 09:00:00 UTC",
		"Canon EOS R5", "Apple iPhone 15 Pro", "NIKON D750",
		"5.0 MiB", "293.0 KiB", "8192x5464", "3024x4032", "800x600",
		"48.85660,2.35220", "-17.70000,179.50000",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("a raw escape sequence reached the terminal")
	}
	if strings.Contains(r.stdout, "NIKON CORPORATION") {
		t.Errorf("camera stutters:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr on the last page: %q", r.stderr)
	}
	// Columns line up: every row's KEY column starts where the header's does.
	col := strings.Index(lines[0], "KEY")
	for _, l := range lines[1:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row %q", l)
		}
	}

	r = runSearch(t, adminEnv(srv), "--make", "sony")
	if r.err != nil || r.stdout != "" || !strings.Contains(r.stderr, "no matching objects") {
		t.Fatalf("empty result: %v %q %q", r.err, r.stdout, r.stderr)
	}
}

func TestSearchFlagsReachTheAPI(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--bucket", "archive"}, []string{"archive/\"nyc\\x1b[31m.jpg\""}},
		{[]string{"--prefix", "2024/"}, []string{"photos/2024/fiji.heic", "photos/2024/paris.jpg"}},
		{[]string{"--taken-after", "2024-05-01", "--taken-before", "2024-06-01"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--taken-after", "2024-05-01T12:00:00+02:00", "--taken-before", "2024-05-01T10:00:01Z"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--make", "CANON"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--model", "iphone 15 pro"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--lens", "rf50mm f1.2 l usm"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--format", "png"}, []string{"photos/2023/scan.png"}},
		{[]string{"--content-type", "image/heic"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--tag", "album=paris", "--tag", "rating=5"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--tag", "album=paris", "--tag", "rating=4"}, nil},
		{[]string{"--has-gps", "--bucket", "photos"}, []string{"photos/2024/fiji.heic", "photos/2024/paris.jpg"}},
		{[]string{"--has-gps=true", "--bucket", "photos"}, []string{"photos/2024/fiji.heic", "photos/2024/paris.jpg"}},
		{[]string{"--has-gps=false"}, []string{"photos/2023/scan.png"}},
		{[]string{"--bbox", "170,-30,-170,0"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--bbox=-10,35,20,60"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--near", "48.85,2.35,5"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--orientation", "6"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--aspect", "portrait"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--min-width", "5000"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--min-height", "4032"}, []string{"photos/2024/fiji.heic", "photos/2024/paris.jpg"}},
		{[]string{"--min-megapixels", "15", "--bucket", "photos"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--min-size", "5MiB", "--bucket", "photos"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--min-size", "5242880", "--bucket", "photos"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--max-size", "2MiB"}, []string{"photos/2023/scan.png", "photos/2024/fiji.heic"}},
		{[]string{"--max-size", "300KB"}, []string{"photos/2023/scan.png"}},
		{[]string{"--iso-min", "800", "--bucket", "photos"}, []string{"photos/2024/fiji.heic"}},
		{[]string{"--iso-max", "100"}, []string{"photos/2024/paris.jpg"}},
		{[]string{"--sort", "-size", "--bucket", "photos"}, []string{"photos/2024/paris.jpg", "photos/2024/fiji.heic", "photos/2023/scan.png"}},
		{[]string{"--sort", "taken", "--bucket", "photos", "--taken-after", "2000-01-01"}, []string{"photos/2024/paris.jpg", "photos/2024/fiji.heic"}},
		{[]string{"--limit", "1", "--bucket", "photos"}, []string{"photos/2023/scan.png"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runSearch(t, adminEnv(srv), tc.args...)
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.stderr)
			}
			if got := tableKeys(t, r.stdout); !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q\n%s", got, tc.want, r.stdout)
			}
		})
	}
}

// Every API parameter has a flag of the same name, so the CLI cannot fall
// behind the API unnoticed.
func TestSearchFlagsCoverTheAPI(t *testing.T) {
	var usage bytes.Buffer
	_, err := parseSearchFlags([]string{"-h"}, &usage, env(nil))
	if err == nil {
		t.Fatal("-h did not stop parsing")
	}
	for _, p := range api.SearchParams() {
		if !regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(flagName(p)) + `(\s|$)`).MatchString(usage.String()) {
			t.Errorf("no --%s flag for API parameter %s", flagName(p), p)
		}
	}
}

func TestSearchJSON(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	r := runSearch(t, adminEnv(srv), "--json", "--bucket", "photos", "--sort", "-size")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, r.stdout)
	}
	if len(items) != 3 || items[0]["key"] != "2024/paris.jpg" || items[0]["gps"] == nil || items[0]["taken_at"] != "2024-05-01T10:00:00Z" {
		t.Fatalf("items %v", items)
	}
	if _, ok := items[2]["gps"]; ok {
		t.Errorf("gps present for a photo without one: %v", items[2])
	}
	// The items are the API's, byte for byte.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/search?bucket=photos&sort=-size", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var direct struct{ Items []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&direct); err != nil {
		t.Fatal(err)
	}
	var fromCLI []json.RawMessage
	_ = json.Unmarshal([]byte(r.stdout), &fromCLI)
	for i := range direct.Items {
		if !bytes.Equal(direct.Items[i], fromCLI[i]) {
			t.Errorf("item %d differs:\n%s\n%s", i, direct.Items[i], fromCLI[i])
		}
	}

	r = runSearch(t, adminEnv(srv), "--json", "--make", "sony")
	if r.err != nil || r.stdout != "[]\n" {
		t.Fatalf("empty JSON: %v %q", r.err, r.stdout)
	}
}

func TestSearchPagination(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	all := runSearch(t, adminEnv(srv))
	want := tableKeys(t, all.stdout)
	if len(want) != 4 {
		t.Fatalf("fixture: %q", want)
	}

	// By hand: one page at a time, the cursor on stderr.
	var got []string
	args := []string{"--limit", "1"}
	for i := 0; ; i++ {
		if i > len(want) {
			t.Fatal("pagination does not end")
		}
		r := runSearch(t, adminEnv(srv), args...)
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, tableKeys(t, r.stdout)...)
		cursor, ok := strings.CutPrefix(strings.TrimSpace(r.stderr), "next cursor: ")
		if !ok {
			if r.stderr != "" {
				t.Fatalf("stderr %q", r.stderr)
			}
			break
		}
		args = []string{"--limit", "1", "--cursor", cursor}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("by hand:\n got %q\nwant %q", got, want)
	}

	// --all follows the cursor itself and prints one header.
	r := runSearch(t, adminEnv(srv), "--all", "--limit", "1")
	if r.err != nil || r.stderr != "" {
		t.Fatalf("--all: %v %q", r.err, r.stderr)
	}
	if got := tableKeys(t, r.stdout); !slices.Equal(got, want) || strings.Count(r.stdout, "BUCKET") != 1 {
		t.Fatalf("--all:\n%s", r.stdout)
	}

	// --all --json is one array across pages.
	r = runSearch(t, adminEnv(srv), "--all", "--json", "--limit", "3")
	var items []api.Item
	if err := json.Unmarshal([]byte(r.stdout), &items); r.err != nil || err != nil || len(items) != 4 {
		t.Fatalf("--all --json: %v %v\n%s", r.err, err, r.stdout)
	}
}

func TestSearchErrors(t *testing.T) {
	srv := testAdmin(t, testAdminToken, false)
	for _, tc := range []struct {
		name    string
		environ map[string]string
		args    []string
		want    []string // all must appear in the error
	}{
		{"bad bbox", adminEnv(srv), []string{"--bbox", "1,2,3"}, []string{"--bbox", "bbox", "minLon,minLat,maxLon,maxLat"}},
		{"bad date", adminEnv(srv), []string{"--taken-after", "yesterday"}, []string{"--taken-after", "taken_after", "RFC 3339"}},
		{"bad sort", adminEnv(srv), []string{"--sort", "name"}, []string{"--sort", "must be one of"}},
		{"empty bucket", adminEnv(srv), []string{"--bucket", ""}, []string{"--bucket", "must not be empty"}},
		{"bad tag", adminEnv(srv), []string{"--tag", "album"}, []string{"--tag", "key=value"}},
		{"limit too big", adminEnv(srv), []string{"--limit", "5000"}, []string{"--limit", "1 to 1000"}},
		{"foreign cursor", adminEnv(srv), []string{"--cursor", "AQ"}, []string{"--cursor", "malformed"}},
		{"bad size unit", adminEnv(srv), []string{"--min-size", "10XB"}, []string{"--min-size", "unknown unit"}},
		{"bool with space", adminEnv(srv), []string{"--has-gps", "false"}, []string{"--has-gps=false"}},
		{"unknown flag", adminEnv(srv), []string{"--camera", "x"}, []string{"camera"}},
		{"no token", map[string]string{"PHOTOGATE_ADMIN_URL": srv.URL}, nil, []string{"PHOTOGATE_ADMIN_TOKEN"}},
		{"wrong token", adminEnv(srv), []string{"--token", "wrong"}, []string{"401", "token"}},
		{"bad url", adminEnv(srv), []string{"--admin-url", "127.0.0.1:9081"}, []string{"--admin-url"}},
		{"ca-cert over http", adminEnv(srv), []string{"--ca-cert", "ca.pem"}, []string{"--ca-cert", "not https"}},
		{"nothing listening", adminEnv(srv), []string{"--admin-url", "http://127.0.0.1:1"}, []string{"127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSearch(t, tc.environ, tc.args...)
			if r.err == nil {
				t.Fatalf("no error; stdout %q", r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.err.Error(), w) && !strings.Contains(r.stderr, w) {
					t.Errorf("error %q (stderr %q) lacks %q", r.err, r.stderr, w)
				}
			}
			if strings.Contains(r.err.Error()+r.stderr, testAdminToken) {
				t.Errorf("the token is in the output")
			}
		})
	}

	disabled := testAdmin(t, "", false)
	r := runSearch(t, adminEnv(disabled))
	if r.err == nil || !strings.Contains(r.err.Error(), "PHOTOGATE_ADMIN_TOKEN") || !strings.Contains(r.err.Error(), "403") {
		t.Fatalf("disabled API: %v", r.err)
	}

	// Pointed at something that is not the admin API.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	r = runSearch(t, adminEnv(other))
	if r.err == nil || !strings.Contains(r.err.Error(), "404") || !strings.Contains(r.err.Error(), "--admin-url") {
		t.Fatalf("not the admin API: %v", r.err)
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "<html>hello</html>")
	}))
	defer html.Close()
	r = runSearch(t, adminEnv(html))
	if r.err == nil || !strings.Contains(r.err.Error(), "not search results") {
		t.Fatalf("200 with HTML: %v", r.err)
	}
	redirect := httptest.NewServer(http.RedirectHandler("http://example.invalid/", http.StatusFound))
	defer redirect.Close()
	r = runSearch(t, adminEnv(redirect))
	if r.err == nil || !strings.Contains(r.err.Error(), "302") || !strings.Contains(r.err.Error(), "example.invalid") {
		t.Fatalf("redirect: %v", r.err)
	}
}

func TestSearchHelp(t *testing.T) {
	r := runSearch(t, map[string]string{"PHOTOGATE_ADMIN_TOKEN": testAdminToken}, "-h")
	if r.err != nil {
		t.Fatalf("-h: %v", r.err)
	}
	if !strings.Contains(r.stderr, "--near") && !strings.Contains(r.stderr, "-near") {
		t.Errorf("usage lacks flags:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, testAdminToken) {
		t.Errorf("-h printed the token")
	}
}

func TestSearchHTTPSWithPrivateCA(t *testing.T) {
	srv := testAdmin(t, testAdminToken, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runSearch(t, adminEnv(srv), "--bucket", "photos")
	if r.err == nil || !strings.Contains(r.err.Error(), "certificate") {
		t.Fatalf("untrusted certificate accepted: %v", r.err)
	}
	r = runSearch(t, adminEnv(srv), "--bucket", "photos", "--ca-cert", ca)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := tableKeys(t, r.stdout); len(got) != 3 {
		t.Fatalf("over https: %q", got)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("not a certificate"), 0o600)
	r = runSearch(t, adminEnv(srv), "--ca-cert", empty)
	if r.err == nil || !strings.Contains(r.err.Error(), "no PEM certificates") {
		t.Fatalf("bad CA file: %v", r.err)
	}
}

func TestSearchWarnsAboutPlainHTTP(t *testing.T) {
	// Nothing listens there; only the warning matters.
	r := runSearch(t, adminEnv(testAdmin(t, testAdminToken, false)), "--admin-url", "http://192.0.2.1:9081", "--timeout", "100ms")
	if !strings.Contains(r.stderr, "unencrypted") {
		t.Fatalf("no warning: %q", r.stderr)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "10B": 10, "500KB": 500_000, "500kb": 500_000, "10MiB": 10 << 20,
		"1.5GB": 1_500_000_000, "1.5 GiB": 3 << 29, "2T": 2 << 40, "9223372036854775807": 1<<63 - 1,
	} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "ten", "10XB", "1e3", "99999999999TB", "MB"} {
		if n, err := parseByteSize(in); err == nil {
			t.Errorf("%q accepted as %d", in, n)
		}
	}
}

func TestTableHelpers(t *testing.T) {
	for _, tc := range []struct{ mk, model, want string }{
		{"Canon", "Canon EOS R5", "Canon EOS R5"},
		{"NIKON CORPORATION", "NIKON D750", "NIKON D750"},
		{"Apple", "iPhone 15 Pro", "Apple iPhone 15 Pro"},
		{"", "X100V", "X100V"},
		{"FUJIFILM", "", "FUJIFILM"},
		{"", "", ""},
	} {
		if got := camera(tc.mk, tc.model); got != tc.want {
			t.Errorf("camera(%q, %q) = %q", tc.mk, tc.model, got)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q", n, got)
		}
	}
	for in, want := range map[string]string{"a/b.jpg": "a/b.jpg", "tab\there": `"tab\there"`, "bell\a": `"bell\a"`, "": "-", "ünïcode ok": "ünïcode ok"} {
		if got := safe(in); got != want {
			t.Errorf("safe(%q) = %q", in, got)
		}
	}
}
