package main

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	notTerminals := []io.Writer{w, &bytes.Buffer{}}
	if runtime.GOOS == "linux" {
		notTerminals = append(notTerminals, devNull) // a character device, not a terminal
	}
	for _, x := range notTerminals {
		if isTerminal(x) {
			t.Errorf("%T is taken for a terminal", x)
		}
	}
	if runtime.GOOS == "linux" {
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("open a pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		if !isTerminal(ptmx) {
			t.Errorf("a pseudo-terminal is not taken for a terminal")
		}
	}
	var quiet bytes.Buffer
	p := startProgress(&quiet, "checking")
	p.stop()
	if quiet.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", quiet.String())
	}

	// Only drawProgress's goroutine writes, and stop waits for it: the
	// buffer is read after that.
	var out bytes.Buffer
	p = drawProgress(&out, "checking", 5*time.Millisecond)
	p.Write(make([]byte, 3<<20))
	time.Sleep(50 * time.Millisecond)
	p.stop()
	p.stop() // idempotent
	got := out.String()
	if !strings.Contains(got, "\r\033[Kchecking… 0s, 3.0 MiB") || !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("progress line %q: want redraws of \"checking… <elapsed>, 3.0 MiB\" and a cleared line at the end", got)
	}
}
