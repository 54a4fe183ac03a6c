// Package security_test attacks photogate end to end: real photogate, real
// MinIO behind it (whose root credential is photogate's backend
// credential, so anything photogate forwards runs with full power), raw
// HTTP requests crafted the way an attacker would send them.
//
// Every test names its attack and checks the outcome at MinIO itself, with
// MinIO's own client: a status code can lie, the backend cannot. Nothing
// may be stored, changed, deleted or leaked that the attacker's grants do
// not allow, and the index must keep describing what MinIO holds.
//
// TestMain builds photogate once and starts one MinIO that the tests share;
// each test starts its own gateway with the config it needs and uses its
// own randomly named buckets.
package security_test

import (
	"os"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// suite is set up once by TestMain: the photogate binary and the shared
// MinIO.
var suite harness.Suite

func TestMain(m *testing.M) { os.Exit(suite.Run(m, "security")) }

func requireSetup(t *testing.T) {
	t.Helper()
	suite.Require(t)
}
