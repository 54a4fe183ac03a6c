package conformance_test

import (
	"path/filepath"
	"testing"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/conformance"
)

// TestBolt holds the embedded engine to the suite, which is written from
// its behaviour: a failure here means the suite or the engine drifted.
func TestBolt(t *testing.T) {
	conformance.Run(t, func(t *testing.T) metastore.Index {
		s, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
