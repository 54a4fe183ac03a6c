package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// isTerminal reports whether w is a terminal, where a progress line
// helps; in a pipe, a file, /dev/null or CI it would only be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && fileIsTerminal(f)
}

// progress redraws one status line on a terminal every second until stop;
// elsewhere it writes nothing. bytes, if counted with add, are shown too.
type progress struct {
	bytes atomic.Int64
	stop  func()
}

// startProgress shows what is being done on w once a second, if w is a
// terminal.
func startProgress(w io.Writer, what string) *progress {
	if !isTerminal(w) {
		return &progress{stop: func() {}}
	}
	return drawProgress(w, what, time.Second)
}

// drawProgress redraws the status line on w every interval until stop.
func drawProgress(w io.Writer, what string, interval time.Duration) *progress {
	p := &progress{}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K") // clear the line for what follows
				return
			case <-tick.C:
				line := fmt.Sprintf("%s… %s", what, time.Since(start).Round(time.Second))
				if n := p.bytes.Load(); n > 0 {
					line += ", " + humanSize(n)
				}
				fmt.Fprint(w, "\r\033[K"+line)
			}
		}
	}()
	p.stop = sync.OnceFunc(func() { close(done); wg.Wait() })
	return p
}

// Write counts bytes that pass through an io.TeeReader.
func (p *progress) Write(b []byte) (int, error) {
	p.bytes.Add(int64(len(b)))
	return len(b), nil
}

// progressBar draws "what [=====>    ] 45% 4500/10000" on a terminal,
// redrawn at most every 200 ms; elsewhere it writes nothing.
type progressBar struct {
	w        io.Writer
	what     string
	total    int64
	drawn    time.Time
	terminal bool
	stopped  bool
}

func newProgressBar(w io.Writer, what string, total int64) *progressBar {
	return &progressBar{w: w, what: what, total: total, terminal: isTerminal(w)}
}

// set moves the bar to done of total.
func (b *progressBar) set(done int64) {
	if !b.terminal || b.stopped || time.Since(b.drawn) < 200*time.Millisecond && done < b.total {
		return
	}
	b.drawn = time.Now()
	fmt.Fprint(b.w, "\r\033[K"+barLine(b.what, done, b.total, 30))
}

// stop clears the bar; later calls do nothing.
func (b *progressBar) stop() {
	if b.terminal && !b.stopped {
		fmt.Fprint(b.w, "\r\033[K")
	}
	b.stopped = true
}

// barLine renders the bar, width characters wide between the brackets.
// A total of 0 (unknown, or an empty index) shows the count alone.
func barLine(what string, done, total int64, width int) string {
	if total <= 0 {
		return fmt.Sprintf("%s %d", what, done)
	}
	done = min(done, total)
	filled := int(int64(width) * done / total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("%s [%s] %3d%% %d/%d", what, bar, 100*done/total, done, total)
}
