// Package postupload_test proves browser uploads (S3 POST Object with a
// signed POST policy, docs/policy.md "CORS") end to end: boto3 with
// requests, minio-go with net/http and a real headless Chromium post forms
// to the real photogate binary in front of a real MinIO. Every outcome is
// checked at MinIO itself (the bytes, type and metadata it holds, or that
// it holds nothing) and in photogate's index through the admin API.
//
// TestMain builds photogate once and starts one MinIO that all tests
// share; each test starts its own gateway with the users and bucket rules
// it needs and uses its own randomly named buckets.
package postupload_test

import (
	"os"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// suite is set up once by TestMain: the photogate binary and the shared
// MinIO.
var suite harness.Suite

func TestMain(m *testing.M) { os.Exit(suite.Run(m, "postupload")) }

func requireSetup(t *testing.T) {
	t.Helper()
	suite.Require(t)
}
