// Package lock provides a mutex that lets the value holding it stay on the
// stack.
//
// Since Go 1.24, sync.Mutex.Lock leaks its receiver to the heap as far as
// escape analysis can tell (its slow path hands the address to the runtime),
// so any struct with a sync.Mutex that is locked escapes. scope.Scope
// promises that a Scope on the stack takes registrations without allocating,
// so it locks with this Mutex instead: the lock word is touched only with
// sync/atomic, and contended waiters park on a process-wide table of
// sync.Cond, keyed by a hash of the Mutex's address. Only a value another
// goroutine can reach can be contended, and such a value lives on the heap,
// so its address is stable while anyone waits.
package lock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A Mutex is a mutual exclusion lock. The zero Mutex is unlocked. A Mutex
// must not be copied after first use.
type Mutex struct {
	// 0: unlocked; 1: locked, no waiter; 2: locked, waiters may be parked.
	state atomic.Int32
}

// Lock locks m, waiting until it is available.
func (m *Mutex) Lock() {
	if m.state.CompareAndSwap(0, 1) {
		return
	}
	m.lockSlow()
}

func (m *Mutex) lockSlow() {
	// Critical sections are a few instructions long: yielding briefly
	// usually finds the lock free without parking.
	for range 4 {
		runtime.Gosched()
		if m.state.CompareAndSwap(0, 1) {
			return
		}
	}
	l := lotOf(m)
	l.mu.Lock()
	// Swapping in 2 both tries to take the lock and tells the holder that
	// someone may be parked; the holder's Unlock broadcasts under l.mu, so a
	// wake-up between the Swap and Wait cannot be lost.
	for m.state.Swap(2) != 0 {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

// Unlock unlocks m. Unlocking an unlocked Mutex panics.
func (m *Mutex) Unlock() {
	switch m.state.Swap(0) {
	case 1:
	case 2:
		l := lotOf(m)
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	default:
		panic("lock: Unlock of unlocked Mutex")
	}
}

type lot struct {
	mu   sync.Mutex
	cond sync.Cond
	_    [40]byte // keep lots on separate cache lines
}

var lots = func() *[64]lot {
	var t [64]lot
	for i := range t {
		t[i].cond.L = &t[i].mu
	}
	return &t
}()

func lotOf(m *Mutex) *lot {
	// Converting to uintptr hides nothing from the garbage collector that it
	// needs: the address is only hashed.
	h := uintptr(unsafe.Pointer(m))
	h ^= h >> 7
	return &lots[(h>>3)%uintptr(len(lots))]
}
