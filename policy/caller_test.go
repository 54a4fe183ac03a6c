package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
)

const callerConfig = `
users:
  - name: ana
    access_key: AKIAANA1
    secret_key: ana-secret-1
    grants: [{buckets: "*", actions: [read, write, list]}]
    limits: {max_in_flight: 2}
  - name: bob
    access_key: AKIABOB1
    secret_key: bob-secret-1
    grants: [{buckets: "*", actions: [read, write]}]
policy:
  limits: {max_in_flight: 10}
  buckets:
    - {bucket: photos}
`

// A request made its Caller before a reload: every decision it asks comes
// from the policy it started with, so facts it skipped fetching under the
// old policy are never judged by the new one.
func TestCallerKeepsItsEngine(t *testing.T) {
	h := holder(t, callerConfig, Options{Usage: &usage{}})
	before := h.Caller("AKIABOB1")
	if before.Name() != "bob" || before.UploadNeeds("photos").Sizes {
		t.Fatalf("name %q, needs %+v", before.Name(), before.UploadNeeds("photos"))
	}
	// The reload limits object sizes in photos and takes bob's write grant.
	h.Swap(compile(t, strings.NewReplacer(
		"{bucket: photos}", "{bucket: photos, max_object_size: 1MiB}",
		"actions: [read, write]}]", "actions: [read]}]",
	).Replace(callerConfig)))

	// The copy's source size was not fetched (needs said so): the old
	// policy, which has no size limit, judges it, and still lets bob write.
	wantNil(t, before.Authorize(classify.CopyObject, "photos", "k"))
	release, err := before.Reserve(context.Background(), Upload{Bucket: "photos", Key: "k", Op: classify.CopyObject, Size: -1})
	wantNil(t, err)
	release(true)

	after := h.Caller("AKIABOB1")
	if !after.UploadNeeds("photos").Sizes {
		t.Error("a new Caller does not see the new size limit")
	}
	wantCode(t, after.Authorize(classify.CopyObject, "photos", "k"), s3err.AccessDenied)
	_, err = after.Reserve(context.Background(), Upload{Bucket: "photos", Key: "k", Op: classify.PutObject, Size: 2 << 20})
	wantCode(t, err, s3err.EntityTooLarge)
	if before.Engine() == after.Engine() {
		t.Error("both Callers report the same Engine")
	}
}

// A key removed by a reload may still be admitted (only the global cap
// applies) but is refused everything else, and has no name.
func TestCallerOfRemovedKey(t *testing.T) {
	h := holder(t, callerConfig, Options{})
	c := h.Caller("AKIAGONE")
	release, err := c.Admit(context.Background())
	wantNil(t, err)
	release()
	if c.Name() != "" {
		t.Errorf("name %q", c.Name())
	}
	wantCode(t, c.Authorize(classify.GetObject, "photos", "k"), s3err.AccessDenied)
	wantCode(t, c.AuthorizePrivileged(classify.ActionLegalHold, "photos"), s3err.AccessDenied)
}

func TestAdmitUserInFlight(t *testing.T) {
	obs := &observer{}
	h := holder(t, callerConfig, Options{Observer: obs})
	ctx := context.Background()
	admit := func(key string) (func(), error) { return h.Caller(key).Admit(ctx) }

	r1, err := admit("AKIAANA1")
	wantNil(t, err)
	r2, err := admit("AKIAANA1")
	wantNil(t, err)
	_, err = admit("AKIAANA1")
	if e := wantCode(t, err, s3err.SlowDown); e.RetryAfter != 1 || !strings.Contains(e.Message, "User ana already has 2 requests in flight") {
		t.Errorf("refusal %+v", e)
	}
	if obs.last() != "user_in_flight ana" {
		t.Errorf("observer %q", obs.last())
	}
	if h.InFlight() != 2 {
		t.Errorf("a refused request still counts globally: %d in flight", h.InFlight())
	}
	// Others are not held back by ana's cap.
	rb, err := admit("AKIABOB1")
	wantNil(t, err)
	rb()

	// The count survives a reload that keeps the cap ...
	h.Swap(compile(t, callerConfig))
	_, err = admit("AKIAANA1")
	wantCode(t, err, s3err.SlowDown)
	// ... and a raised cap applies to the requests already running.
	h.Swap(compile(t, strings.Replace(callerConfig, "max_in_flight: 2", "max_in_flight: 3", 1)))
	r3, err := admit("AKIAANA1")
	wantNil(t, err)
	_, err = admit("AKIAANA1")
	wantCode(t, err, s3err.SlowDown)

	r1()
	r1() // idempotent
	r4, err := admit("AKIAANA1")
	wantNil(t, err)
	for _, r := range []func(){r2, r3, r4} {
		r()
	}
	if h.InFlight() != 0 {
		t.Fatalf("in flight %d", h.InFlight())
	}
	// Released by requests admitted before the reload, the count is 0.
	h.Swap(compile(t, strings.Replace(callerConfig, "max_in_flight: 2", "max_in_flight: 1", 1)))
	r5, err := admit("AKIAANA1")
	wantNil(t, err)
	_, err = admit("AKIAANA1")
	wantCode(t, err, s3err.SlowDown)
	r5()
}

// The user's cap is below the global one; a refusal by the global cap
// does not leave the user's count raised.
func TestAdmitGlobalCapBeforeUserCap(t *testing.T) {
	h := holder(t, strings.Replace(callerConfig, "max_in_flight: 10", "max_in_flight: 1", 1), Options{})
	ctx := context.Background()
	rb, err := h.Caller("AKIABOB1").Admit(ctx)
	wantNil(t, err)
	for range 3 {
		_, err = h.Caller("AKIAANA1").Admit(ctx)
		if e := wantCode(t, err, s3err.SlowDown); !strings.Contains(e.Message, "photogate is serving its limit of 1") {
			t.Errorf("message %q", e.Message)
		}
	}
	rb()
	ra, err := h.Caller("AKIAANA1").Admit(ctx)
	wantNil(t, err)
	ra()
}

func TestCompileUserMaxInFlight(t *testing.T) {
	_, err := Compile(parseConfig(t, strings.Replace(callerConfig, "max_in_flight: 2", "max_in_flight: -1", 1)), noEnv, noFiles)
	if err == nil || !strings.Contains(err.Error(), `users[0] "ana": limits: max_in_flight -1 is negative`) {
		t.Fatalf("error %v", err)
	}
}

const privilegedConfig = `
users:
  - name: root
    access_key: AKIAROOT
    secret_key: root-secret
    grants: [{buckets: "*", actions: [read, write, delete, list, admin]}]
  - name: compliance
    access_key: AKIACOMP
    secret_key: comp-secret
    grants:
      - {buckets: "*", actions: [read, write]}
      - {buckets: "vault-*", actions: [retention, legal_hold]}
      - {buckets: vault-tmp, actions: [bypass_governance]}
policy:
  buckets:
    - {bucket: "vault-*", public_read: true}
`

func TestAuthorizePrivileged(t *testing.T) {
	obs := &observer{}
	h := holder(t, privilegedConfig, Options{Observer: obs})
	privileged := []classify.Action{classify.ActionBypassGovernance, classify.ActionRetention, classify.ActionLegalHold}
	for _, tc := range []struct {
		key    string
		action classify.Action
		bucket string
		ok     bool
	}{
		{"AKIACOMP", classify.ActionRetention, "vault-a", true},
		{"AKIACOMP", classify.ActionLegalHold, "vault-a", true},
		{"AKIACOMP", classify.ActionBypassGovernance, "vault-a", false},
		{"AKIACOMP", classify.ActionBypassGovernance, "vault-tmp", true},
		{"AKIACOMP", classify.ActionRetention, "photos", false},
	} {
		err := h.Caller(tc.key).AuthorizePrivileged(tc.action, tc.bucket)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s %s: %v, want allowed=%v", tc.key, tc.action, tc.bucket, err, tc.ok)
		}
	}
	// write, delete and admin on every bucket imply none of them.
	for _, a := range privileged {
		err := h.Caller("AKIAROOT").AuthorizePrivileged(a, "vault-a")
		if e := wantCode(t, err, s3err.AccessDenied); !strings.Contains(e.Message, "no grant allows "+string(a)+" on bucket vault-a") {
			t.Errorf("message %q", e.Message)
		}
		if obs.last() != "access_denied root" {
			t.Errorf("observer %q", obs.last())
		}
		// Public read is no way in either.
		if e := wantCode(t, h.Caller("").AuthorizePrivileged(a, "vault-a"), s3err.AccessDenied); !strings.Contains(e.Message, string(a)) {
			t.Errorf("anonymous message %q", e.Message)
		}
	}
	// A privileged grant alone allows no ordinary operation.
	wantCode(t, h.Caller("AKIACOMP").Authorize(classify.DeleteObject, "vault-a", "k"), s3err.AccessDenied)
}

// The administrator made from PHOTOGATE_ACCESS_KEY gets FullAccess, which
// does not hold the privileged actions.
func TestFullAccessIsNotPrivileged(t *testing.T) {
	e, err := Compile(Config{Users: []UserConfig{{AccessKey: "AKIAENV", SecretKey: "env-secret", Grants: FullAccess()}}}, noEnv, noFiles)
	wantNil(t, err)
	c := NewHolder(e, Options{}).Caller("AKIAENV")
	wantNil(t, c.Authorize(classify.CreateBucket, "any", ""))
	wantNil(t, c.Authorize(classify.DeleteObject, "any", "k"))
	for _, a := range []classify.Action{classify.ActionBypassGovernance, classify.ActionRetention, classify.ActionLegalHold} {
		wantCode(t, c.AuthorizePrivileged(a, "any"), s3err.AccessDenied)
	}
}

func TestCompilePrivilegedActions(t *testing.T) {
	e := compile(t, privilegedConfig)
	u := e.users["AKIACOMP"]
	if len(u.grants) != 3 || !u.grants[1].actions.has(classify.ActionRetention) || u.grants[1].actions.has(classify.ActionBypassGovernance) {
		t.Fatalf("grants %+v", u.grants)
	}
	_, err := Compile(parseConfig(t, strings.Replace(privilegedConfig, "[retention, legal_hold]", "[retention, legalhold]", 1)), noEnv, noFiles)
	if err == nil || !strings.Contains(err.Error(), `unknown action "legalhold" (want one of read, write, delete, list, admin, bypass_governance, retention, legal_hold)`) {
		t.Fatalf("error %v", err)
	}
}
