package security_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/test/harness"
)

// A SigV2 signature covers only the sub-resources in its fixed list; the
// newer ones (policyStatus, ownershipControls, publicAccessBlock,
// attributes, ...) are not in the string to sign. A presigned URL for a
// listing or a download, with one of them appended, still verifies, and
// would reach MinIO as an operation nobody signed: it must be refused.
// The signer has full access, as the owner sharing a download link would,
// so only the signature's coverage stands between the link's holder and
// the bucket's configuration.
func TestSigV2PresignedURLPointedAtUnsignedSubresourceIsRefused(t *testing.T) {
	e := start(t, "")
	owner := e.admin()
	b := harness.BucketName("v2")
	makeBuckets(t, minio.MakeBucketOptions{}, b)
	seed(t, b, "a.jpg", photo(t))

	presign := func(path string) string {
		req := newRequest(t, http.MethodGet, e.url(path), nil)
		return signer.PreSignV2(*req, owner.AccessKey, owner.SecretKey, 600, false).URL.String()
	}
	for _, base := range []string{"/" + b, "/" + b + "/a.jpg"} {
		u := presign(base)
		if r := send(t, newRequest(t, http.MethodGet, u, nil)); r.Status != http.StatusOK {
			t.Fatalf("precondition: the SigV2 presigned URL for %s: %s", base, r)
		}
		for _, sub := range []string{"policyStatus", "ownershipControls", "publicAccessBlock", "attributes", "object-lock"} {
			r := send(t, newRequest(t, http.MethodGet, u+"&"+sub, nil))
			what := "presigned GET " + base + " pointed at ?" + sub
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: got %s, want 403", what, r)
			}
			body := string(r.Body)
			for _, answer := range []string{"<PolicyStatus", "<OwnershipControls", "<PublicAccessBlockConfiguration", "<GetObjectAttributes", "<ObjectLockConfiguration"} {
				if strings.Contains(body, answer) {
					t.Errorf("%s: MinIO's answer reached the client: %.200s", what, body)
				}
			}
		}
	}
}
