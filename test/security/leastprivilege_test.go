package security_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/photogate/photogate/test/harness"
)

// docs/security.md's hardening checklist tells operators to run photogate
// with a MinIO user holding one documented policy instead of MinIO's root.
// This test follows the doc to the letter: the policy JSON and the mc
// commands are read out of docs/security.md and run against a fresh MinIO,
// so the doc cannot drift from what works. With that user as its backend
// credential photogate must still serve every kind of operation it forwards
// and keep its index in step (each checked at MinIO with its root user),
// and the credential must be worthless against MinIO's admin API: a flaw in
// photogate then cannot become a flaw in MinIO's IAM.
func TestLeastPrivilegeBackendUser(t *testing.T) {
	requireSetup(t)
	doc := readLeastPrivilegeDoc(t)
	doc.wantNoAdminActions(t)

	srv := harness.StartMinIO(t)
	mc := harness.NewMC(t, srv)
	backendKey, backendSecret := doc.createBackendUser(t, mc)

	plain, versioned, locked := harness.BucketName("lp-plain"), harness.BucketName("lp-versioned"), harness.BucketName("lp-locked")
	keeper := newUser("keeper")
	// The quota on the plain bucket makes photogate size uploads itself:
	// it lists an upload's parts before each part and reads copy sources,
	// with the backend credential.
	config := "users:\n" + keeper.entry("    grants: [{buckets: \"*\", actions: [read, write, delete, list, admin, retention, bypass_governance]}]\n") +
		"policy:\n  buckets:\n    - bucket: \"" + plain + "\"\n      quota: {max_bytes: 1GiB}\n"
	e := startWith(t, config, harness.GatewayOptions{BackendEndpoint: srv.Endpoint(), BackendAccessKey: backendKey, BackendSecretKey: backendSecret})
	wantReady(t, e)

	w := &workload{t: t, ctx: t.Context(), e: e, truth: srv.Client(), admin: e.client(t, e.admin()), keeper: e.client(t, keeper)}
	w.objects(plain)
	w.versions(versioned)
	w.retention(locked)
	e.wantNoDrift(t, plain, versioned, locked)
	for _, b := range []string{plain, versioned, locked} {
		w.deleteBucket(b)
	}
	wantReady(t, e)
	w.wantOperationsServed()
	wantNoBackendRefusalLogged(t, e)
	if strings.Contains(e.g.Stderr(), backendSecret) {
		t.Error("photogate logged its backend secret")
	}

	wantAdminAPIRefused(t, srv, mc, backendKey, backendSecret)
}

// --- the doc ---

// leastPrivilegeDoc is item 1 of docs/security.md's hardening checklist.
type leastPrivilegeDoc struct {
	policy   []byte     // the ```json block: the policy document
	commands [][]string // the ```sh block: mc invocations, split into words
}

func readLeastPrivilegeDoc(t *testing.T) leastPrivilegeDoc {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatalf("read the doc: %v", err)
	}
	_, checklist, ok := strings.Cut(string(md), "\n## Hardening checklist\n")
	if !ok {
		t.Fatal(`docs/security.md has no "## Hardening checklist" section`)
	}
	item, _, _ := strings.Cut(checklist, "\n2. ")
	policy, ok := fencedBlock(item, "json")
	if !ok {
		t.Fatal("docs/security.md: hardening checklist item 1 has no ```json block (the backend user's policy)")
	}
	if !json.Valid([]byte(policy)) {
		t.Fatalf("docs/security.md: the backend user's policy is not valid JSON:\n%s", policy)
	}
	script, ok := fencedBlock(item, "sh")
	if !ok {
		t.Fatal("docs/security.md: hardening checklist item 1 has no ```sh block (the mc commands)")
	}
	doc := leastPrivilegeDoc{policy: []byte(policy)}
	for line := range strings.SplitSeq(script, "\n") {
		if words := strings.Fields(line); len(words) > 0 {
			doc.commands = append(doc.commands, words)
		}
	}
	return doc
}

// fencedBlock returns the body of the first ```lang block in md, with the
// indentation of its fence (a block inside a list item) taken off.
func fencedBlock(md, lang string) (string, bool) {
	lines := strings.Split(md, "\n")
	for i, fence := range lines {
		if strings.TrimSpace(fence) != "```"+lang {
			continue
		}
		indent := fence[:len(fence)-len(strings.TrimLeft(fence, " "))]
		var body []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) == "```" {
				return strings.Join(body, "\n"), true
			}
			body = append(body, strings.TrimPrefix(l, indent))
		}
		return "", false
	}
	return "", false
}

// wantNoAdminActions holds the doc to its promise of "no admin:* action at
// all", and of naming actions rather than granting wildcards.
func (d leastPrivilegeDoc) wantNoAdminActions(t *testing.T) {
	t.Helper()
	var p struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(d.policy, &p); err != nil {
		t.Fatalf("docs/security.md: the backend user's policy: %v", err)
	}
	if len(p.Statement) == 0 {
		t.Fatal("docs/security.md: the backend user's policy has no statements")
	}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if s.Effect == "Allow" && (!strings.HasPrefix(a, "s3:") || strings.Contains(a, "*")) {
				t.Errorf("docs/security.md: the backend user's policy allows %q: only named s3: actions belong there", a)
			}
		}
	}
}

// createBackendUser runs the doc's mc commands against MinIO, with the
// doc's placeholders (alias myminio, the policy file, $BACKEND_SECRET)
// filled in, and returns the user they created. It then asks MinIO
// whether the user really holds the policy and nothing else.
func (d leastPrivilegeDoc) createBackendUser(t *testing.T, mc *harness.MC) (accessKey, secretKey string) {
	t.Helper()
	policyFile := filepath.Join(mc.ConfigDir(), "photogate-policy.json")
	if err := os.WriteFile(policyFile, d.policy, 0o600); err != nil {
		t.Fatal(err)
	}
	secretKey = harness.RandomString(40)
	mc.Redact(secretKey)
	var policyName string
	for _, words := range d.commands {
		if words[0] != "mc" {
			t.Fatalf("docs/security.md: %q is not an mc command", strings.Join(words, " "))
		}
		args := slices.Clone(words[1:])
		for i, w := range args {
			switch w {
			case "myminio":
				args[i] = mc.Alias()
			case "photogate-policy.json":
				args[i] = policyFile
			case `"$BACKEND_SECRET"`, "$BACKEND_SECRET":
				args[i] = secretKey
			default:
				if strings.ContainsAny(w, `$"'`) {
					t.Fatalf("docs/security.md: the test does not know the placeholder %s in %q", w, strings.Join(words, " "))
				}
			}
		}
		// mc admin policy create ALIAS NAME FILE; mc admin user add ALIAS USER SECRET.
		switch {
		case len(args) == 6 && args[0] == "admin" && args[1] == "policy" && args[2] == "create":
			policyName = args[4]
		case len(args) == 6 && args[0] == "admin" && args[1] == "user" && args[2] == "add":
			accessKey = args[4]
		}
		if _, err := mc.Run(t.Context(), args...); err != nil {
			t.Fatalf("docs/security.md's command fails: %v", err)
		}
	}
	if accessKey == "" || policyName == "" {
		t.Fatalf("docs/security.md's commands create no policy and user (mc admin policy create, mc admin user add): %q", d.commands)
	}
	if got := userPolicy(t, mc, accessKey); got != policyName {
		t.Fatalf("after docs/security.md's commands MinIO's user %s has policy %q, want %q", accessKey, got, policyName)
	}
	return accessKey, secretKey
}

// userPolicy asks MinIO (as root, through mc) which policies user holds.
func userPolicy(t *testing.T, mc *harness.MC, user string) string {
	t.Helper()
	out, err := mc.Run(t.Context(), "admin", "user", "info", mc.Alias(), user, "--json")
	if err != nil {
		t.Fatalf("MinIO user info %s: %v", user, err)
	}
	var info struct {
		UserStatus string `json:"userStatus"`
		PolicyName string `json:"policyName"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("mc admin user info %s: %v in %s", user, err, out)
	}
	if info.UserStatus != "enabled" {
		t.Fatalf("MinIO's user %s is %q, not enabled", user, info.UserStatus)
	}
	return info.PolicyName
}

// --- the workload through photogate, checked at MinIO ---

// workload drives photogate's clients and checks each step at MinIO with
// its root user. A step photogate answers with an error fails the test
// with MinIO's error (relayed by photogate), which names what the
// documented policy lacks.
type workload struct {
	t      *testing.T
	ctx    context.Context
	e      *env
	truth  *minio.Client // MinIO's root, straight to MinIO
	admin  *minio.Core   // photogate's full-access user
	keeper *minio.Core   // a photogate user granted retention and bypass_governance
}

// via fails the test if photogate refused or failed step.
func (w *workload) via(step string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s through photogate with the least-privilege backend user: %v (code %s)", step, err, minio.ToErrorResponse(err).Code)
	}
}

// at fails the test if the check at MinIO itself failed.
func (w *workload) at(check string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("MinIO (root) %s: %v", check, err)
	}
}

// objects: bucket creation, PUT, multipart, copy, ranged GET, HEAD,
// tagging, ListObjectsV2, DeleteObjects and an aborted multipart upload.
func (w *workload) objects(b string) {
	t, ctx := w.t, w.ctx
	w.via("CreateBucket", w.admin.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: harness.Region}))
	exists, err := w.truth.BucketExists(ctx, b)
	w.at("HeadBucket", err)
	if !exists {
		t.Fatalf("photogate created bucket %s, but MinIO does not have it", b)
	}

	jpeg := photo(t)
	put, err := w.admin.PutObject(ctx, b, "photo.jpg", bytes.NewReader(jpeg), int64(len(jpeg)), "", "", minio.PutObjectOptions{ContentType: "image/jpeg"})
	w.via("PutObject", err)
	w.wantStored(b, "photo.jpg", jpeg, put.ETag)

	parts := [][]byte{harness.RandomBytes(5 << 20), harness.RandomBytes(1000)}
	id, err := w.admin.NewMultipartUpload(ctx, b, "multi.bin", minio.PutObjectOptions{})
	w.via("CreateMultipartUpload", err)
	var done []minio.CompletePart
	for i, p := range parts {
		part, err := w.admin.PutObjectPart(ctx, b, "multi.bin", id, i+1, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{})
		w.via(fmt.Sprintf("UploadPart %d", i+1), err)
		done = append(done, minio.CompletePart{PartNumber: part.PartNumber, ETag: part.ETag})
	}
	multi, err := w.admin.CompleteMultipartUpload(ctx, b, "multi.bin", id, done, minio.PutObjectOptions{})
	w.via("CompleteMultipartUpload", err)
	w.wantStored(b, "multi.bin", bytes.Join(parts, nil), multi.ETag)

	cp, err := w.admin.CopyObject(ctx, b, "photo.jpg", b, "copy.jpg", nil, minio.CopySrcOptions{}, minio.PutObjectOptions{})
	w.via("CopyObject", err)
	w.wantStored(b, "copy.jpg", jpeg, cp.ETag)
	// A copy is indexed by reading the new object back from MinIO (HEAD,
	// ranged GET for the metadata): with the backend user, too.
	if it, ok := w.e.waitObject(t, b, "copy.jpg", 30*time.Second); !ok || it.ETag != cp.ETag || it.Extraction.Status != "ok" || it.Make == "" {
		t.Errorf("the index's record of the copy %s/copy.jpg (read back from MinIO): %+v, found %v; want etag %s, extraction ok, a camera make", b, it, ok, cp.ETag)
	}

	var rng minio.GetObjectOptions
	w.at("range", rng.SetRange(100, 199))
	body, _, _, err := w.admin.GetObject(ctx, b, "photo.jpg", rng)
	w.via("GetObject (range)", err)
	got, err := io.ReadAll(body)
	body.Close()
	w.via("GetObject (range) body", err)
	if !bytes.Equal(got, jpeg[100:200]) {
		t.Errorf("GetObject bytes=100-199 through photogate returned %d bytes, not bytes 100-199 of what MinIO stored", len(got))
	}

	head, err := w.admin.StatObject(ctx, b, "photo.jpg", minio.StatObjectOptions{})
	w.via("HeadObject", err)
	if head.Size != int64(len(jpeg)) || head.ETag != put.ETag {
		t.Errorf("HeadObject through photogate: size %d etag %s, want %d %s", head.Size, head.ETag, len(jpeg), put.ETag)
	}

	w.tagging(b, "photo.jpg")

	list, err := w.admin.ListObjectsV2(b, "", "", "", "", 1000)
	w.via("ListObjectsV2", err)
	var listedKeys []string
	for _, o := range list.Contents {
		listedKeys = append(listedKeys, o.Key)
	}
	if want := w.keysAtMinIO(b); !slices.Equal(listedKeys, want) {
		t.Errorf("ListObjectsV2 through photogate lists %q, MinIO holds %q", listedKeys, want)
	}

	doomed := []string{"doomed-1.txt", "doomed-2.txt"}
	for _, k := range doomed {
		_, err := w.admin.PutObject(ctx, b, k, strings.NewReader(k), int64(len(k)), "", "", minio.PutObjectOptions{})
		w.via("PutObject "+k, err)
	}
	toDelete := make(chan minio.ObjectInfo, len(doomed))
	for _, k := range doomed {
		toDelete <- minio.ObjectInfo{Key: k}
	}
	close(toDelete)
	for res := range w.admin.RemoveObjects(ctx, b, toDelete, minio.RemoveObjectsOptions{}) {
		w.via("DeleteObjects "+res.ObjectName, res.Err)
	}
	for _, k := range doomed {
		w.wantAbsent(b, k, "")
	}

	id, err = w.admin.NewMultipartUpload(ctx, b, "aborted.bin", minio.PutObjectOptions{})
	w.via("CreateMultipartUpload", err)
	_, err = w.admin.PutObjectPart(ctx, b, "aborted.bin", id, 1, bytes.NewReader(parts[1]), int64(len(parts[1])), minio.PutObjectPartOptions{})
	w.via("UploadPart", err)
	listedParts, err := w.admin.ListObjectParts(ctx, b, "aborted.bin", id, 0, 1000)
	w.via("ListParts", err)
	if len(listedParts.ObjectParts) != 1 || listedParts.ObjectParts[0].Size != int64(len(parts[1])) {
		t.Errorf("ListParts through photogate: %+v, want the one part of %d bytes", listedParts.ObjectParts, len(parts[1]))
	}
	w.via("AbortMultipartUpload", w.admin.AbortMultipartUpload(ctx, b, "aborted.bin", id))
	for u := range w.truth.ListIncompleteUploads(ctx, b, "aborted.bin", true) {
		w.at("ListMultipartUploads", u.Err)
		t.Errorf("photogate aborted upload %s of %s/aborted.bin, but MinIO still has upload %s", id, b, u.UploadID)
	}
	w.wantAbsent(b, "aborted.bin", "")
}

// tagging puts, reads and deletes the tags of b/key.
func (w *workload) tagging(b, key string) {
	t, ctx := w.t, w.ctx
	set, err := tags.NewTags(map[string]string{"album": "least-privilege"}, true)
	w.at("tags", err)
	w.via("PutObjectTagging", w.admin.PutObjectTagging(ctx, b, key, set, minio.PutObjectTaggingOptions{}))
	stored, err := w.truth.GetObjectTagging(ctx, b, key, minio.GetObjectTaggingOptions{})
	w.at("GetObjectTagging", err)
	if got := stored.ToMap(); got["album"] != "least-privilege" || len(got) != 1 {
		t.Errorf("after PutObjectTagging through photogate MinIO has tags %v", got)
	}
	read, err := w.admin.GetObjectTagging(ctx, b, key, minio.GetObjectTaggingOptions{})
	w.via("GetObjectTagging", err)
	if got := read.ToMap(); got["album"] != "least-privilege" || len(got) != 1 {
		t.Errorf("GetObjectTagging through photogate: %v", got)
	}
	w.via("DeleteObjectTagging", w.admin.RemoveObjectTagging(ctx, b, key, minio.RemoveObjectTaggingOptions{}))
	stored, err = w.truth.GetObjectTagging(ctx, b, key, minio.GetObjectTaggingOptions{})
	w.at("GetObjectTagging", err)
	if got := stored.ToMap(); len(got) != 0 {
		t.Errorf("after DeleteObjectTagging through photogate MinIO still has tags %v", got)
	}
}

// versions: enabling versioning and deleting one version.
func (w *workload) versions(b string) {
	t, ctx := w.t, w.ctx
	w.via("CreateBucket", w.admin.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: harness.Region}))
	w.via("PutBucketVersioning", w.admin.EnableVersioning(ctx, b))
	cfg, err := w.truth.GetBucketVersioning(ctx, b)
	w.at("GetBucketVersioning", err)
	if !cfg.Enabled() {
		t.Fatalf("photogate enabled versioning on %s, but MinIO says %q", b, cfg.Status)
	}
	var ids []string
	for _, content := range []string{"first", "second"} {
		info, err := w.admin.PutObject(ctx, b, "v.txt", strings.NewReader(content), int64(len(content)), "", "", minio.PutObjectOptions{})
		w.via("PutObject (versioned)", err)
		if info.VersionID == "" {
			t.Fatalf("PutObject into versioned %s through photogate returned no version id", b)
		}
		ids = append(ids, info.VersionID)
	}
	w.via("DeleteObject (a version)", w.admin.RemoveObject(ctx, b, "v.txt", minio.RemoveObjectOptions{VersionID: ids[0]}))
	w.wantAbsent(b, "v.txt", ids[0])
	current, err := w.truth.StatObject(ctx, b, "v.txt", minio.StatObjectOptions{})
	w.at("HeadObject", err)
	if current.VersionID != ids[1] {
		t.Errorf("after deleting version %s MinIO's current version of %s/v.txt is %s, want %s", ids[0], b, current.VersionID, ids[1])
	}
}

// retention: an object-lock bucket, an object under GOVERNANCE retention,
// the retention extended and read, and the version deleted by bypassing
// governance, all by the keeper, who holds the retention grants.
func (w *workload) retention(b string) {
	t, ctx := w.t, w.ctx
	w.via("CreateBucket (object lock)", w.keeper.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: harness.Region, ObjectLocking: true}))
	lock, _, _, _, err := w.truth.GetObjectLockConfig(ctx, b)
	w.at("GetObjectLockConfiguration", err)
	if lock != "Enabled" {
		t.Fatalf("photogate created %s with object lock, but MinIO's object lock is %q", b, lock)
	}
	lock, _, _, _, err = w.keeper.GetObjectLockConfig(ctx, b)
	w.via("GetObjectLockConfiguration", err)
	if lock != "Enabled" {
		t.Errorf("GetObjectLockConfiguration through photogate: %q", lock)
	}

	mode := minio.Governance
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	info, err := w.keeper.PutObject(ctx, b, "kept.txt", strings.NewReader("kept"), 4, "", "", minio.PutObjectOptions{Mode: mode, RetainUntilDate: until})
	w.via("PutObject (with retention)", err)
	w.wantRetention(b, "kept.txt", info.VersionID, until)

	until = until.Add(time.Hour)
	w.via("PutObjectRetention", w.keeper.PutObjectRetention(ctx, b, "kept.txt", minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: info.VersionID}))
	w.wantRetention(b, "kept.txt", info.VersionID, until)
	gotMode, gotUntil, err := w.keeper.GetObjectRetention(ctx, b, "kept.txt", info.VersionID)
	w.via("GetObjectRetention", err)
	if gotMode == nil || *gotMode != mode || gotUntil == nil || !gotUntil.Equal(until) {
		t.Errorf("GetObjectRetention through photogate: %v until %v, want %s until %v", gotMode, gotUntil, mode, until)
	}

	w.via("DeleteObject (a version under governance, bypassing it)",
		w.keeper.RemoveObject(ctx, b, "kept.txt", minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: true}))
	w.wantAbsent(b, "kept.txt", info.VersionID)
}

// deleteBucket empties b through photogate (ListObjectVersions, then
// DeleteObject of every version) and deletes it.
func (w *workload) deleteBucket(b string) {
	ctx := w.ctx
	for o := range w.admin.Client.ListObjects(ctx, b, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		w.via("ListObjectVersions", o.Err)
		w.via("DeleteObject "+o.Key, w.admin.RemoveObject(ctx, b, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}))
	}
	w.via("DeleteBucket", w.admin.RemoveBucket(ctx, b))
	exists, err := w.truth.BucketExists(ctx, b)
	w.at("HeadBucket", err)
	if exists {
		w.t.Errorf("photogate deleted bucket %s, but MinIO still has it", b)
	}
}

// wantStored fails unless MinIO holds want at b/key with etag.
func (w *workload) wantStored(b, key string, want []byte, etag string) {
	w.t.Helper()
	obj, err := w.truth.GetObject(w.ctx, b, key, minio.GetObjectOptions{})
	w.at("GetObject "+key, err)
	defer obj.Close()
	got, err := io.ReadAll(obj)
	w.at("GetObject "+key, err)
	info, err := obj.Stat()
	w.at("HeadObject "+key, err)
	if !bytes.Equal(got, want) || info.ETag != etag {
		w.t.Errorf("MinIO holds %d bytes with etag %s at %s/%s; photogate stored %d bytes with etag %s", len(got), info.ETag, b, key, len(want), etag)
	}
}

// wantAbsent fails unless MinIO has no b/key (of version versionID, if
// given).
func (w *workload) wantAbsent(b, key, versionID string) {
	w.t.Helper()
	_, err := w.truth.StatObject(w.ctx, b, key, minio.StatObjectOptions{VersionID: versionID})
	switch code := minio.ToErrorResponse(err).Code; {
	case err == nil:
		w.t.Errorf("photogate deleted %s/%s (version %q), but MinIO still has it", b, key, versionID)
	case code != "NoSuchKey" && code != "NoSuchVersion":
		w.at("HeadObject "+key, err)
	}
}

// wantRetention fails unless MinIO keeps b/key's version under GOVERNANCE
// until until.
func (w *workload) wantRetention(b, key, versionID string, until time.Time) {
	w.t.Helper()
	mode, got, err := w.truth.GetObjectRetention(w.ctx, b, key, versionID)
	w.at("GetObjectRetention", err)
	if mode == nil || *mode != minio.Governance || got == nil || !got.Equal(until) {
		w.t.Errorf("MinIO's retention of %s/%s (version %s): %v until %v, want GOVERNANCE until %v", b, key, versionID, mode, got, until)
	}
}

func (w *workload) keysAtMinIO(b string) []string {
	var keys []string
	for o := range w.truth.ListObjects(w.ctx, b, minio.ListObjectsOptions{Recursive: true}) {
		w.at("ListObjectsV2", o.Err)
		keys = append(keys, o.Key)
	}
	return keys
}

// wantOperationsServed checks photogate's request log: the workload is
// only representative if each of these operations really went through
// photogate and succeeded.
func (w *workload) wantOperationsServed() {
	w.t.Helper()
	served := map[string]bool{}
	for _, l := range w.e.g.RequestLogs(func(l harness.LogEntry) bool { return l.Status < 300 }) {
		served[l.Op] = true
	}
	for _, op := range []string{
		"CreateBucket", "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
		"CopyObject", "GetObject", "HeadObject", "PutObjectTagging", "GetObjectTagging", "DeleteObjectTagging",
		"ListObjectsV2", "DeleteObjects", "AbortMultipartUpload", "PutBucketVersioning", "DeleteObject",
		"GetObjectLockConfiguration", "PutObjectRetention", "GetObjectRetention", "ListObjectVersions", "DeleteBucket",
		"ListParts",
	} {
		if !served[op] {
			w.t.Errorf("photogate logged no successful %s: the workload did not exercise it", op)
		}
	}
}

// wantReady fails unless photogate's /readyz (which asks the backend with
// the backend credential) answers 200.
func wantReady(t *testing.T, e *env) {
	t.Helper()
	resp, err := e.g.HTTPClient().Get(e.g.AdminEndpoint() + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the least-privilege backend user: %d %s", resp.StatusCode, body)
	}
}

// wantNoBackendRefusalLogged catches refusals of photogate's own backend
// calls, which no client sees (index read-back, recovery, readiness): a
// warning or error naming MinIO's AccessDenied means the policy lacks an
// action photogate needs.
func wantNoBackendRefusalLogged(t *testing.T, e *env) {
	t.Helper()
	for _, l := range e.g.Logs() {
		if l.IsRequest() || (l.Level != "WARN" && l.Level != "ERROR") {
			continue
		}
		if s := l.String(); strings.Contains(s, "AccessDenied") || strings.Contains(s, "Access Denied") {
			t.Errorf("photogate logged a refusal by the backend: %s", s)
		}
	}
}

// --- MinIO's admin API with the backend credential ---

// wantAdminAPIRefused calls MinIO's admin API directly, as photogate could
// if it were tricked into it, signed with the backend user's credential:
// reads of IAM and server state, and writes that would give the user or an
// intruder more power. Each must be refused, and MinIO's IAM must be
// unchanged. The same signed read by root succeeds, so the refusals are the
// policy's doing, not a malformed request's.
func wantAdminAPIRefused(t *testing.T, srv *harness.MinIO, mc *harness.MC, accessKey, secretKey string) {
	t.Helper()
	if r := adminCall(t, srv, http.MethodGet, "/minio/admin/v3/info", nil, srv.AccessKey(), srv.SecretKey()); r.Status != http.StatusOK {
		t.Fatalf("precondition: MinIO's root cannot call its admin API as the test signs it: %d %s", r.Status, r.Body)
	}
	policyBefore := userPolicy(t, mc, accessKey)
	intruder := newUser("intruder")
	escalation := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:*","s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)
	for _, a := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodGet, "/minio/admin/v3/info", nil},
		{http.MethodGet, "/minio/admin/v3/list-users", nil},
		{http.MethodGet, "/minio/admin/v3/list-canned-policies", nil},
		{http.MethodGet, "/minio/admin/v3/export-iam", nil},
		{http.MethodGet, "/minio/admin/v3/config", nil},
		{http.MethodPut, "/minio/admin/v3/add-canned-policy?name=escalate", escalation},
		{http.MethodPut, "/minio/admin/v3/set-user-or-group-policy?policyName=consoleAdmin&userOrGroup=" + accessKey + "&isGroup=false", nil},
		{http.MethodPut, "/minio/admin/v3/add-user?accessKey=" + intruder.AccessKey, []byte(`{"secretKey":"` + intruder.SecretKey + `","status":"enabled"}`)},
		{http.MethodPut, "/minio/admin/v3/import-iam", iamImport(t, intruder)},
		{http.MethodPost, "/minio/admin/v3/service?action=restart", nil},
	} {
		r := adminCall(t, srv, a.method, a.path, a.body, accessKey, secretKey)
		var e struct{ Code string }
		_ = json.Unmarshal(r.Body, &e)
		if r.Status != http.StatusForbidden || e.Code != "AccessDenied" {
			t.Errorf("MinIO's admin API %s %s with the backend user's credential: %d %.300s; want 403 AccessDenied", a.method, a.path, r.Status, r.Body)
		}
	}

	if got := userPolicy(t, mc, accessKey); got != policyBefore {
		t.Errorf("the backend user's policy changed from %q to %q", policyBefore, got)
	}
	if out, err := mc.Run(t.Context(), "admin", "policy", "info", mc.Alias(), "escalate"); err == nil {
		t.Errorf("MinIO has a policy named escalate, created with the backend user's credential: %s", out)
	}
	c, err := minio.New(srv.Addr(), &minio.Options{Creds: miniocreds.NewStaticV4(intruder.AccessKey, intruder.SecretKey, ""), Region: harness.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(t.Context()); err == nil {
		t.Errorf("MinIO accepts the access key %s that the backend user tried to add", intruder.AccessKey)
	}
}

// adminCall sends a SigV4-signed request (as madmin signs them) to MinIO's
// admin API.
func adminCall(t *testing.T, srv *harness.MinIO, method, path string, body []byte, accessKey, secretKey string) harness.S3Response {
	t.Helper()
	req, err := harness.SignedRequest(t.Context(), method, srv.Endpoint()+path, body, accessKey, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	// MinIO may refuse without reading the body and close the connection:
	// a later request must not be sent on it.
	req.Close = true
	return harness.SendS3(t, srv.HTTPClient(), req)
}
