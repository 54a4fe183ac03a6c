package main

import (
	"bytes"
	"testing"
)

// Keys photogate signs its own things with: shared by replicas of one
// backend credential, one per purpose, and random per process on the
// embedded backend (whose credential is a constant). The gallery's session
// key must not depend on renditions being on.
func TestDeploymentKeys(t *testing.T) {
	a := deploymentKey(false, "backend-secret", "photogate gallery session key v1")
	if !bytes.Equal(a, deploymentKey(false, "backend-secret", "photogate gallery session key v1")) {
		t.Error("replicas of one backend derive different keys")
	}
	if bytes.Equal(a, deploymentKey(false, "backend-secret", "photogate rendition URL key v1")) {
		t.Error("two purposes share a key")
	}
	if bytes.Equal(a, deploymentKey(false, "rotated-secret", "photogate gallery session key v1")) {
		t.Error("a rotated backend credential keeps the key")
	}
	if bytes.Equal(deploymentKey(true, "", "p"), deploymentKey(true, "", "p")) {
		t.Error("the embedded backend's key is not random")
	}
	if bytes.Equal(a, deploymentKey(false, "", "photogate gallery session key v1")) || len(a) != 32 {
		t.Error("the key does not depend on the backend secret")
	}
}
