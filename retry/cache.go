package retry

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/reclaim-go/reclaim/internal/goid"
)

// Attempts that made nothing are recycled, which keeps calls free of
// allocations while the *Attempt handed to fn lives on the heap. Each
// goroutine has a slot (one of cacheSlots, by a hash of its identity) that
// keeps an Attempt; a call claims it with a compare-and-swap on the
// Attempt's own state word, from idle, and makes it idle again when it
// ends, in the same atomic step that ends the attempt when the first one
// succeeds: two atomic steps where a sync.Pool Get and Put cost more than
// twice as much. When the slot's Attempt is in use (a nested call, another goroutine
// with the same slot), a sync.Pool stands behind the slots. Where
// goroutines cannot be told apart (goid.Known is false), they all share
// the first slot. The slots keep at most cacheSlots
// Attempts, each with at most maxKeptErrs error slots: a few tens of KiB,
// which the garbage collector never takes back, unlike what the sync.Pool
// holds.
const (
	cacheBits  = 6
	cacheSlots = 1 << cacheBits
)

// A cacheSlot keeps an Attempt, idle or in use, or nil. The pointer changes
// only when a slot is filled (from nil) or emptied, by the call that
// claimed its Attempt, when it drops it: otherwise calls claim and free
// the Attempt through its state word, so the slot is read-only and the
// slots can share cache lines.
type cacheSlot struct {
	a atomic.Pointer[Attempt]
}

var (
	cache    [cacheSlots]cacheSlot
	attempts = sync.Pool{New: func() any { return new(Attempt) }}
)

// idle is the state word of an Attempt that no call uses: in a slot it can
// be claimed. It is never the state of an Attempt in use, nor of one that
// ended: begin stores a number of 1 or more, which stays.
const idle = returned

// claimed is the state of a slot's Attempt that a call took, until its
// first attempt begins: returned, so that a method called on it panics.
const claimed = 1<<numShift | returned

// maxKeptErrs bounds the error slice a recycled Attempt keeps for its next
// call: a call with many attempts should not make every later call hold
// its memory.
const maxKeptErrs = 16

// slot returns the calling goroutine's slot. Goroutine descriptors are
// aligned, so their addresses are hashed (Fibonacci hashing) rather than
// masked. Where goroutines cannot be told apart, they share the first.
func slot() *cacheSlot {
	return &cache[uint64(goid.Current())*0x9e3779b97f4a7c15>>(64-cacheBits)]
}

// getAttempt returns an idle Attempt, and its slot if it is s's: only the
// call that claimed it may then make it idle again, or take it out of s.
func getAttempt(s *cacheSlot) (*Attempt, *cacheSlot) {
	if a := s.a.Load(); a != nil && a.st.CompareAndSwap(idle, claimed) {
		return a, s
	}
	return fromPool(), nil
}

// fromPool returns an idle Attempt that is in no slot, so no other call
// can claim it.
func fromPool() *Attempt {
	return attempts.Get().(*Attempt)
}

// toPool recycles an idle Attempt that is in no slot, once its call no
// longer uses it and it holds nothing of the caller's: into s if s is
// empty, else into the pool.
func toPool(a *Attempt, s *cacheSlot) {
	if s.a.Load() == nil && s.a.CompareAndSwap(nil, a) {
		startSweeping.Do(armSweep)
		return
	}
	attempts.Put(a)
}

// An idle Attempt in a slot keeps the context of the last call that
// succeeded at its first attempt: clearing it would take one more atomic
// step on that path, the most common of all. So that a context, and what
// it holds, is not kept for long by a slot no call uses any more, the
// idle Attempts let go of theirs at each garbage collection, as a
// sync.Pool lets go of its items.
var startSweeping sync.Once

// sweepToken is an object made to be collected: its cleanup runs once per
// garbage collection. It holds a pointer so that the tiny allocator, whose
// objects may never be cleaned up, does not take it.
type sweepToken struct{ _ *byte }

func armSweep() {
	runtime.AddCleanup(new(sweepToken), sweepIdle, struct{}{})
}

// sweepIdle clears the context of every idle Attempt in the slots,
// claiming each as a call would, and arms itself for the next collection.
func sweepIdle(struct{}) {
	for i := range cache {
		if a := cache[i].a.Load(); a != nil && a.st.CompareAndSwap(idle, claimed) {
			a.parent = nil
			a.st.Store(idle)
		}
	}
	armSweep()
}

// dropAttempt takes the Attempt claimed from slot s out of it, as it is not
// to be used again: s is then empty until a call fills it.
func dropAttempt(s *cacheSlot) {
	if s != nil {
		s.a.Store(nil)
	}
}
