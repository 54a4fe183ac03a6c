package observe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuditRecordOneLine(t *testing.T) {
	var buf bytes.Buffer
	a := NewAuditLogger(&buf)
	when := time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("CET", 3600))
	err := a.Record(context.Background(), AuditEvent{
		Time: when, RequestID: "18A2B", User: "alice", Method: "PUT", Op: "PutObject",
		Bucket: "photos", Key: "2024/<beach>.jpg", Status: 200, Remote: "10.0.0.7:51234",
	})
	if err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want exactly one line, got %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": "2026-03-01T11:00:00.000000005Z", "kind": "audit", "request_id": "18A2B", "user": "alice",
		"method": "PUT", "op": "PutObject", "bucket": "photos", "key": "2024/<beach>.jpg", "status": float64(200), "remote": "10.0.0.7:51234",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, has := got["error"]; has {
		t.Errorf("empty error written: %s", line)
	}
	if strings.Contains(line, `\u003c`) {
		t.Errorf("key HTML-escaped: %s", line)
	}
}

func TestAuditDefaultsAndKeys(t *testing.T) {
	var buf bytes.Buffer
	a := NewAuditLogger(&buf)
	before := time.Now().Add(-time.Second)
	if err := a.Record(context.Background(), AuditEvent{Op: "DeleteObjects", Bucket: "photos", Keys: []string{"a.jpg", "b\xff.jpg"}, Status: 403, Error: "AccessDenied"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(context.Background(), AuditEvent{Method: "DELETE", Bucket: "photos", Status: 403, Error: "SignatureDoesNotMatch"}); err != nil {
		t.Fatal(err)
	}
	first, second, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	if !bytes.Contains(second, []byte(`"op":"unknown"`)) || !bytes.Contains(second, []byte(`"method":"DELETE"`)) {
		t.Errorf("unclassified request: %s", second)
	}
	var got struct {
		Time  time.Time `json:"time"`
		User  string    `json:"user"`
		Keys  []string  `json:"keys"`
		Error string    `json:"error"`
	}
	if err := json.Unmarshal(first, &got); err != nil {
		t.Fatal(err)
	}
	if got.Time.Before(before) || got.User != "anonymous" || got.Error != "AccessDenied" {
		t.Fatalf("%+v", got)
	}
	if len(got.Keys) != 2 || got.Keys[1] != "b\uFFFD.jpg" {
		t.Fatalf("keys %q", got.Keys)
	}
}

func TestAuditNeverWritesSecrets(t *testing.T) {
	var buf bytes.Buffer
	a := NewAuditLogger(&buf)
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	errText := fmt.Sprintf(
		"PUT http://admin:%s@minio:9000/photos/a.jpg?X-Amz-Credential=AKIDEXAMPLE%%2F20260301&X-Amz-Signature=%s: "+
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=%s",
		secret, secret, secret)
	if err := a.Record(context.Background(), AuditEvent{User: "alice", Op: "PutObject", Status: 503, Error: errText}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{secret, "AKIDEXAMPLE", "admin:"} {
		if strings.Contains(out, s) {
			t.Errorf("audit line contains %q: %s", s, out)
		}
	}
	if !strings.Contains(out, "REDACTED") {
		t.Errorf("nothing marked as redacted: %s", out)
	}
}

func TestAuditLongErrorIsCut(t *testing.T) {
	var buf bytes.Buffer
	a := NewAuditLogger(&buf)
	if err := a.Record(context.Background(), AuditEvent{Op: "PutObject", Error: strings.Repeat("é", 2000)}); err != nil {
		t.Fatal(err)
	}
	var got struct{ Error string }
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Error) > maxAuditError+len("…") || !strings.HasSuffix(got.Error, "…") || strings.ContainsRune(got.Error, '\uFFFD') {
		t.Fatalf("error of %d bytes, ends %q", len(got.Error), got.Error[len(got.Error)-8:])
	}
}

func TestAuditConcurrentLinesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	a := NewAuditLogger(&buf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				_ = a.Record(context.Background(), AuditEvent{User: fmt.Sprint("u", g), Op: "PutObject", Key: strings.Repeat("k", 500) + fmt.Sprint(i), Status: 200})
			}
		}()
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	n := 0
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not JSON: %v", n, err)
		}
		n++
	}
	if n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAuditErrorsAndNil(t *testing.T) {
	if err := NewAuditLogger(failingWriter{}).Record(context.Background(), AuditEvent{Op: "PutObject"}); err == nil {
		t.Fatal("write error swallowed")
	}
	var a *Audit
	if err := a.Record(context.Background(), AuditEvent{Op: "PutObject"}); err != nil {
		t.Fatalf("nil Audit: %v", err)
	}
}
