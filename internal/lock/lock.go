// Package lock provides a mutex that lets the value holding it stay on the
// stack.
//
// sync.Mutex.Lock leaks its receiver to the heap as far as escape analysis
// can tell (its slow path hands the address to the runtime), so any struct
// holding a sync.Mutex that is locked escapes; this is so already in Go 1.22
// and 1.23, not only since 1.24. scope.Scope promises that a Scope on the
// stack takes registrations without allocating, so it locks with this Mutex
// instead: the lock word is touched only with sync/atomic, and contended
// waiters park on a process-wide table of wait queues, keyed by the
// Mutex's address. Only a value another goroutine can reach can be
// contended, and such a value lives on the heap, so its address is stable
// while anyone waits.
//
// Like sync.Mutex, the Mutex has two modes. Normally an unlocking goroutine
// wakes one waiter to compete for the lock, and a running goroutine that
// asks at that moment usually wins, which is fast but can starve the
// waiter. A waiter that has waited more than starvationThreshold switches
// the Mutex to starvation mode: Unlock then hands the lock directly to the
// first waiter, newcomers queue behind the waiters instead of taking it, and
// the unlocking goroutine yields so that the new owner runs at once. Unlock
// also hands the lock over when the waiter it wakes has waited that long,
// and on a single P it yields after every wake-up, so that the waiter does
// not wait for the holder's time slice to end. The Mutex leaves starvation
// mode when the last waiter gets the lock.
package lock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A Mutex is a mutual exclusion lock. The zero Mutex is unlocked. A Mutex
// must not be copied after first use.
type Mutex struct {
	// locked and starving bits, and above them the number of parked waiters.
	// The waiter count and the starving bit change only under the lot's lock.
	state atomic.Int32
}

const (
	locked      = 1
	starving    = 2
	waiterShift = 2
	oneWaiter   = 1 << waiterShift

	// starvationThreshold is sync.Mutex's: a waiter that has waited this
	// long asks for the lock to be handed to it.
	starvationThreshold = time.Millisecond
)

// Lock locks m, waiting until it is available.
func (m *Mutex) Lock() {
	if m.state.CompareAndSwap(0, locked) {
		return
	}
	m.lockSlow()
}

func (m *Mutex) lockSlow() {
	// Critical sections are a few instructions long: yielding briefly
	// usually finds the lock free without parking. On a single P, yielding
	// hands the P to the holder for a whole time slice, so park at once.
	if runtime.GOMAXPROCS(0) > 1 {
		for range 4 {
			runtime.Gosched()
			if m.tryBarge() {
				return
			}
		}
	}
	key := uintptr(unsafe.Pointer(m)) // only hashed and compared: m does not escape
	l := lotOf(key)
	w := waiters.Get().(*waiter)
	defer waiters.Put(w)
	var since time.Time // when this goroutine first parked
	requeued := false
	for {
		l.mu.Lock()
		s := m.state.Load()
		if s&(locked|starving) == 0 {
			ok := m.state.CompareAndSwap(s, s|locked)
			l.mu.Unlock()
			if ok {
				return
			}
			continue
		}
		ns := s + oneWaiter
		if requeued && time.Since(since) > starvationThreshold {
			ns |= starving
		}
		if !m.state.CompareAndSwap(s, ns) {
			l.mu.Unlock()
			continue
		}
		if !requeued {
			since = time.Now()
		}
		w.key, w.handed, w.since = key, false, since
		l.enqueue(w, requeued) // a waiter woken in vain keeps its place in front
		l.mu.Unlock()
		<-w.wake
		if w.handed {
			return // Unlock gave us the lock in starvation mode
		}
		requeued = true
	}
}

// tryBarge takes the lock if it is free and nobody is owed it.
func (m *Mutex) tryBarge() bool {
	s := m.state.Load()
	return s&(locked|starving) == 0 && m.state.CompareAndSwap(s, s|locked)
}

// Unlock unlocks m. Unlocking an unlocked Mutex panics.
func (m *Mutex) Unlock() {
	if m.state.CompareAndSwap(locked, 0) {
		return
	}
	m.unlockSlow()
}

func (m *Mutex) unlockSlow() {
	key := uintptr(unsafe.Pointer(m))
	l := lotOf(key)
	l.mu.Lock()
	w := l.dequeue(key)
	for {
		s := m.state.Load()
		if s&locked == 0 {
			if w != nil {
				l.enqueue(w, true)
			}
			l.mu.Unlock()
			panic("lock: Unlock of unlocked Mutex")
		}
		if w == nil {
			if m.state.CompareAndSwap(s, s&^locked) {
				l.mu.Unlock()
				return
			}
			continue
		}
		ns := s - oneWaiter
		handoff := s&starving != 0 || time.Since(w.since) > starvationThreshold
		if !handoff {
			ns &^= locked // wake w to compete
		} else if !l.holds(key) {
			ns &^= starving // w is the last waiter: back to normal mode
		}
		if !m.state.CompareAndSwap(s, ns) {
			continue
		}
		w.handed = handoff
		l.mu.Unlock()
		w.wake <- struct{}{}
		if handoff || runtime.GOMAXPROCS(0) == 1 {
			// Let the woken waiter run now: on a single P it would
			// otherwise wait for this goroutine's time slice to end.
			runtime.Gosched()
		}
		return
	}
}

// A waiter is one parked Lock. Waiters are pooled so that contention does
// not allocate in steady state.
type waiter struct {
	key    uintptr
	since  time.Time // when its Lock first parked
	handed bool
	wake   chan struct{} // buffered: a wake-up before the wait is kept
	next   *waiter
}

var waiters = sync.Pool{New: func() any { return &waiter{wake: make(chan struct{}, 1)} }}

// A lot holds the waiters of the mutexes whose addresses hash to it, in
// the order they are to be woken.
type lot struct {
	mu         sync.Mutex
	head, tail *waiter
	_          [40]byte // keep lots on separate cache lines
}

func (l *lot) enqueue(w *waiter, front bool) {
	w.next = nil
	switch {
	case l.head == nil:
		l.head, l.tail = w, w
	case front:
		w.next, l.head = l.head, w
	default:
		l.tail.next, l.tail = w, w
	}
}

// dequeue removes and returns the first waiter for key, or nil.
func (l *lot) dequeue(key uintptr) *waiter {
	var prev *waiter
	for w := l.head; w != nil; prev, w = w, w.next {
		if w.key != key {
			continue
		}
		if prev == nil {
			l.head = w.next
		} else {
			prev.next = w.next
		}
		if l.tail == w {
			l.tail = prev
		}
		w.next = nil
		return w
	}
	return nil
}

// holds reports whether a waiter for key is queued.
func (l *lot) holds(key uintptr) bool {
	for w := l.head; w != nil; w = w.next {
		if w.key == key {
			return true
		}
	}
	return false
}

var lots [64]lot

func lotOf(key uintptr) *lot {
	h := key ^ key>>7
	return &lots[(h>>3)%uintptr(len(lots))]
}
