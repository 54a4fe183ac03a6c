package extract

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestDumpAll(t *testing.T) {
	root := "../../../shared/testdata/photos"
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if info.IsDir() || filepath.Ext(p) == ".tsv" || filepath.Ext(p) == ".txt" || filepath.Ext(p) == ".rst" {
			return nil
		}
		b, _ := os.ReadFile(p)
		pre := b
		if len(pre) > PrefixSize {
			pre = pre[:PrefixSize]
		}
		ph := FromPrefix(context.Background(), pre, int64(len(b)))
		fmt.Printf("%s\n  P: %+v\n", p[len(root)+1:], ph)
		if ph.NeedsFullRead || len(b) > PrefixSize {
			ph = FromReaderAt(context.Background(), bytes.NewReader(b), int64(len(b)))
			fmt.Printf("  R: %+v\n", ph)
		}
		return nil
	})
}
