// Package policy_test proves the policy rules of docs/policy.md end to end:
// real clients (aws-sdk-go-v2, minio-go, curl, net/http) talk to the real
// photogate binary in front of a real MinIO, and every refused upload is
// checked against MinIO itself, which must hold nothing of it.
//
// TestMain builds photogate once and starts one MinIO that all tests share.
// Each test starts its own gateway with the YAML config it needs (users:
// and policy: as in docs/policy.md, passed with PHOTOGATE_CONFIG), so rate
// limiter and auth-failure state never leak between tests, and uses its
// own randomly named buckets.
package policy_test

import (
	"os"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

const region = harness.Region

// suite is set up once by TestMain: the photogate binary and the shared
// MinIO.
var suite harness.Suite

func TestMain(m *testing.M) { os.Exit(suite.Run(m, "policy")) }

func requireSetup(t *testing.T) {
	t.Helper()
	suite.Require(t)
}
