package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

type auditLine struct {
	RequestID string `json:"request_id"`
	User      string `json:"user"`
	Op        string `json:"op"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
}

func (s *stack) auditLines(t *testing.T) []auditLine {
	t.Helper()
	var lines []auditLine
	for _, raw := range strings.Split(strings.TrimSpace(s.audit.String()), "\n") {
		if raw == "" {
			continue
		}
		var l auditLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("audit line %q: %v", raw, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// TestAuditRecordsMutations: every write and delete, allowed or refused, is
// one audit line; reads are not audited.
func TestAuditRecordsMutations(t *testing.T) {
	s := newStack(t, embeddedKind, stackOptions{policy: readerAndFullAccess(t)})
	ctx := context.Background()
	s.bucket(t, "audited")
	c, reader := s.client(t), s.clientAs(t, readerKey, readerSecret)
	if _, err := c.PutObject(ctx, "audited", "k", strings.NewReader("v"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, "audited", "k", minio.StatObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := reader.RemoveObject(ctx, "audited", "k", minio.RemoveObjectOptions{}); err == nil {
		t.Fatal("the reader deleted an object")
	}
	if err := c.RemoveObject(ctx, "audited", "k", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	want := []auditLine{
		{User: userKey, Op: "PutObject", Bucket: "audited", Key: "k", Status: 200},
		{User: readerKey, Op: "DeleteObject", Bucket: "audited", Key: "k", Status: 403, Error: "AccessDenied"},
		{User: userKey, Op: "DeleteObject", Bucket: "audited", Key: "k", Status: 204},
	}
	got := s.auditLines(t)
	if len(got) != len(want) {
		t.Fatalf("audit log has %d lines, want %d:\n%s", len(got), len(want), s.audit.String())
	}
	for i, l := range got {
		if l.RequestID == "" || !strings.Contains(s.logs.String(), `"request_id":"`+l.RequestID+`"`) {
			t.Errorf("audit line %d: request id %q is not in the request log", i, l.RequestID)
		}
		l.RequestID = ""
		if l != want[i] {
			t.Errorf("audit line %d: %+v, want %+v", i, l, want[i])
		}
	}
}
