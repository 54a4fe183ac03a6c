package s3xml

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileBodies are DeleteObjects bodies of MaxDeleteBodyBytes built to make
// an XML parser allocate: deep nesting (the attack that cost ~40 MiB per
// request with xml.Unmarshal), many elements, many attributes, one huge
// name, text, comment or attribute value, and a valid maximal request.
func hostileBodies() [][]byte {
	const size = MaxDeleteBodyBytes
	fill := func(head, unit, tail string) []byte {
		n := (size - len(head) - len(tail)) / len(unit)
		return []byte(head + strings.Repeat(unit, n) + tail)
	}
	valid := "<Delete>" + strings.Repeat("<Object><Key>"+strings.Repeat("&amp;", 250)+strings.Repeat("k", 774)+"</Key><VersionId>v</VersionId></Object>", 1000) + "</Delete>"
	return [][]byte{
		fill("<Delete>", "<Object>", ""),
		fill("<Delete>", "<Object><Key>a</Key></Object>", "</Delete>"),
		fill("<Delete>", "<a/>", "</Delete>"),
		fill("<Delete ", `a="" `, "/>"),
		fill("<Delete", "x", "/>"),
		fill("<Delete><Object><Key>", "x", "</Key></Object></Delete>"),
		fill("<Delete><Object><Key>", "&amp;", "</Key></Object></Delete>"),
		fill("<Delete><!--", "x", "--></Delete>"),
		fill(`<Delete a="`, "x", `"/>`),
		fill("<Delete><![CDATA[", "x", "]]></Delete>"),
		fill("", "<Delete/>", ""),
		fill("<Delete>", "</Delete>", ""),
		fill("<?xml version='1.0'?><Delete><Object><Key>", "<", "</Key></Object></Delete>"),
		[]byte(valid),
		fill("<Delete>", "<Object><Key>a</Key><Key>b</Key></Object>", "</Delete>"),
		fill("<Delete>", "<Quiet>1</Quiet>", "</Delete>"),
	}
}

func TestHostileBodiesBoundedMemory(t *testing.T) {
	bodies := hostileBodies()
	if len(bodies) != 16 {
		t.Fatalf("%d bodies", len(bodies))
	}
	for i, b := range bodies {
		if len(b) > MaxDeleteBodyBytes || len(b) < MaxDeleteBodyBytes*9/10 {
			t.Fatalf("body %d is %d bytes", i, len(b))
		}
	}
	if objs, err := ParseDelete(bodies[13]); err != nil || len(objs) != MaxDeleteObjects {
		t.Fatalf("the valid maximal body: %d objects, %v", len(objs), err)
	}

	// A low GC target makes HeapAlloc track live memory rather than the
	// garbage the pacer lets accumulate on top of the bodies themselves.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			for range 2 {
				objs, err := ParseDelete(b)
				if i != 13 && err == nil {
					t.Errorf("hostile body %d accepted (%d objects)", i, len(objs))
				}
				_, _ = ParseTagging(b)
				_, _ = ParseComplete(b)
				_, _ = DeleteFailures(b)
				_, _ = ParseListParts(b)
			}
		})
	}
	wg.Wait()
	close(done)
	<-sampled

	const limit = 32 << 20
	growth := int64(peak) - int64(base.HeapAlloc)
	t.Logf("heap: %.1f MiB before, peak %.1f MiB, growth %.1f MiB", mib(base.HeapAlloc), mib(peak), float64(growth)/(1<<20))
	if growth > limit {
		t.Fatalf("parsing 16 hostile bodies in parallel grew the heap by %.1f MiB; want < %d MiB", float64(growth)/(1<<20), limit>>20)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
