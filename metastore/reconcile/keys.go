package reconcile

import (
	"slices"
	"sync"
)

// keyLocks orders index writes per object key.
//
// Two requests for the same key can reach the backend in one order and
// finish in photogate in the other, so "the response photogate saw last"
// is not "the state the backend kept". Every index write for a key holds the
// key's lock, and a write whose key saw another mutation in flight (or
// applied) since its intent began does not trust its own response: it reads
// the key back from the backend under the lock, after both backend writes
// have finished, and so records the state the backend kept.
type keyLocks struct {
	mu   sync.Mutex
	keys map[string]*keyState
}

type keyState struct {
	mu       sync.Mutex // held while reading back and committing
	inflight int        // intents begun and not yet applied or abandoned
	gen      uint64     // bumped by every index write of the key
	refs     int        // users of this entry; it is dropped at zero
}

// ticket is what begin hands out: the keys and their generations then.
type ticket struct {
	names []string
	gens  []uint64
}

func lockName(bucket, key string) string { return bucket + "\x00" + key }

func (l *keyLocks) get(name string) *keyState {
	st := l.keys[name]
	if st == nil {
		st = &keyState{}
		l.keys[name] = st
	}
	st.refs++
	return st
}

func (l *keyLocks) put(name string, st *keyState) {
	if st.refs--; st.refs == 0 {
		delete(l.keys, name)
	}
}

// begin registers an intent on keys.
func (l *keyLocks) begin(bucket string, keys []string) ticket {
	t := ticket{names: uniqueNames(bucket, keys)}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range t.names {
		st := l.get(n)
		st.inflight++
		t.gens = append(t.gens, st.gen)
	}
	return t
}

// end ends an intent without writing (abandoned).
func (l *keyLocks) end(t ticket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range t.names {
		st := l.keys[n]
		st.inflight--
		l.put(n, st)
	}
}

// write locks the keys (in sorted order, so writers never deadlock) and
// reports whether any of them is contended relative to t. The returned
// function bumps the generations, ends t's intent and unlocks. A zero
// ticket (recovery, jobs, repair) locks names without an intent of its own.
func (l *keyLocks) write(t ticket, names []string) (contended bool, done func()) {
	l.mu.Lock()
	states := make([]*keyState, len(names))
	for i, n := range names {
		states[i] = l.get(n)
	}
	l.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
	}
	own := 0
	if len(t.names) > 0 {
		own = 1
	}
	l.mu.Lock()
	for i, st := range states {
		if st.inflight > own {
			contended = true
		}
		if j := slices.Index(t.names, names[i]); j >= 0 && st.gen != t.gens[j] {
			contended = true
		}
	}
	l.mu.Unlock()
	return contended, func() {
		l.mu.Lock()
		for i, st := range states {
			st.gen++
			if slices.Contains(t.names, names[i]) {
				st.inflight--
				st.refs-- // the reference begin took
			}
			st.mu.Unlock()
			l.put(names[i], st)
		}
		l.mu.Unlock()
	}
}

func uniqueNames(bucket string, keys []string) []string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, lockName(bucket, k))
	}
	slices.Sort(names)
	return slices.Compact(names)
}
