package sigv4

import (
	"bytes"
	"fmt"
	"testing"
)

func TestSigningKeysAreCachedPerSecretAndScope(t *testing.T) {
	var c signingKeys
	a := c.get("secret-one", "20261202", "us-east-1", "s3")
	if !bytes.Equal(a, signingKey("secret-one", "20261202", "us-east-1", "s3")) {
		t.Fatal("cached key differs from the derived one")
	}
	if b := c.get("secret-one", "20261202", "us-east-1", "s3"); &b[0] != &a[0] {
		t.Error("the same scope was derived again")
	}
	for _, other := range [][4]string{
		{"secret-two", "20261202", "us-east-1", "s3"}, // a rotated secret
		{"secret-one", "20261203", "us-east-1", "s3"},
		{"secret-one", "20261202", "eu-west-1", "s3"},
	} {
		if k := c.get(other[0], other[1], other[2], other[3]); bytes.Equal(k, a) || !bytes.Equal(k, signingKey(other[0], other[1], other[2], other[3])) {
			t.Errorf("scope %v got a wrong key", other)
		}
	}
	for i := range maxSigningKeys + 10 {
		c.get(fmt.Sprint("s", i), "20261202", "us-east-1", "s3")
	}
	if n := len(c.keys); n > maxSigningKeys {
		t.Errorf("cache holds %d keys, bound %d", n, maxSigningKeys)
	}
}
