package classify

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the operations table in docs/security.md")

const (
	tableStart = "<!-- operations table: generated from s3/classify/ops.go by `go test ./s3/classify/ -update` -->"
	tableEnd   = "<!-- end of operations table -->"
)

// The operations table in docs/security.md is what the code forwards: this
// test fails when they differ, and -update rewrites the doc.
func TestSecurityDocListsTheOperationTable(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "security.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(doc), tableStart)
	end := strings.Index(string(doc), tableEnd)
	if start < 0 || end < start {
		t.Fatalf("%s has no operations table between %q and %q", path, tableStart, tableEnd)
	}
	want := tableStart + "\n" + renderTable() + tableEnd
	got := string(doc[start : end+len(tableEnd)])
	if got == want {
		return
	}
	if *update {
		out := string(doc[:start]) + want + string(doc[end+len(tableEnd):])
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the operations table in %s differs from s3/classify/ops.go; run go test ./s3/classify/ -update", path)
}

func renderTable() string {
	ops := Operations()
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, string(op))
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("| operation | grant | also needs | anonymous on public_read | headers forwarded | bytes into an object | index after success |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, name := range names {
		s := ops[Op(name)]
		public := ""
		if s.Public {
			public = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", name, s.Action, s.Privileged, public,
			headerNames(s.Headers), bytesName(s), effectName(s.Index))
	}
	return b.String()
}

var groupNames = []struct {
	group Headers
	name  string
}{
	{HeaderPayload, "payload checksums"},
	{HeaderContentType, "body type"},
	{HeaderConditionalRead, "read conditions"},
	{HeaderConditionalWrite, "write conditions"},
	{HeaderObject, "object metadata"},
	{HeaderSSEC, "SSE-C"},
	{HeaderCopy, "copy source"},
	{HeaderCopyDirectives, "copy directives"},
	{HeaderCopyRange, "copy range"},
	{HeaderMultipartChecksum, "multipart checksum type"},
	{HeaderObjectLock, "object lock (privileged)"},
	{HeaderBypassGovernance, "bypass governance (privileged)"},
	{HeaderBucketCreate, "bucket object lock"},
	{HeaderAttributes, "attributes asked for"},
	{HeaderCannedACL, "canned ACL (private only)"},
}

func headerNames(h Headers) string {
	var out []string
	for _, g := range groupNames {
		if h&g.group != 0 {
			out = append(out, g.name)
		}
	}
	if len(out) == 0 {
		return "—"
	}
	return strings.Join(out, ", ")
}

func bytesName(s Spec) string {
	name := map[Bytes]string{NoBytes: "", BodyBytes: "body", CopiedBytes: "copy source", PartBytes: "its parts", DeclaredObject: "declares type"}[s.Bytes]
	if s.Part && name != "" {
		name += " (a part)"
	}
	if s.Aborts {
		name = "discards the upload's parts"
	}
	return name
}

func effectName(e Effect) string {
	return map[Effect]string{NoEffect: "", Streamed: "indexed from the stream", Composed: "read back", Deleted: "deleted",
		DeletedMany: "deleted per report", Tagged: "tags set", Untagged: "tags cleared", BucketGone: "bucket dropped",
		BucketMade: "audited"}[e]
}

// Every header group has a name in the doc.
func TestEveryHeaderGroupIsNamed(t *testing.T) {
	var named Headers
	for _, g := range groupNames {
		named |= g.group
	}
	for g := Headers(1); g <= HeaderCannedACL; g <<= 1 {
		if named&g == 0 {
			t.Errorf("header group %b has no name in the doc table", g)
		}
	}
}
