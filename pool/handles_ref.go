package pool

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// ErrRefClosed is returned by [Ref.Close] when the reference was already
// closed, through this copy or another, and by Close of the zero Ref.
var ErrRefClosed = errors.New("pool: Ref already closed")

// Ref is a reference to a shared handle, returned by [Handles.Get]. The
// handle stays open at least until the reference is closed.
//
// A Ref is a small value that may be copied, but the reference it stands
// for is closed once: the first Close, through any copy, releases it, and
// every later Close returns [ErrRefClosed] and changes nothing, so a
// duplicate Close can never release a reference someone else holds. Value
// panics once the reference is closed. The zero Ref is closed.
//
// Ref implements io.Closer. Converting it to an interface (to pass it to
// scope.DeferClose, say) allocates, since it is larger than a pointer; call
// Close directly on hot paths.
//
// Methods of different Refs, to the same handle or not, may be called
// concurrently; whether the handle itself may be used concurrently is up to
// V.
type Ref[K comparable, V any] struct {
	slot *holder[K, V]
	gen  uint64 // the slot's generation when the reference was taken
	v    V
}

// Value returns the handle. It panics if the reference is closed.
func (r Ref[K, V]) Value() V {
	if r.slot == nil || r.slot.gen.Load() != r.gen {
		panic("pool: Value of a closed Ref")
	}
	return r.v
}

// Close releases the reference. When it was the handle's last reference,
// the handle becomes idle and is closed after IdleTimeout, or at once if
// more than MaxOpen handles are open or the cache is closed; an error from
// closing it then goes to the configured handlers (see
// [HandlesConfig.Logger]), not to the caller. Close returns [ErrRefClosed]
// if the reference was already closed, and nil otherwise.
func (r Ref[K, V]) Close() error {
	s := r.slot
	// The compare-and-swap makes exactly one Close of this reference win,
	// and retires the generation so that no copy of it matches the slot
	// again, even once the slot serves another Get.
	if s == nil || !s.gen.CompareAndSwap(r.gen, r.gen+1) {
		return ErrRefClosed
	}
	h := s.h
	now := time.Now() // outside the lock, which it would lengthen
	h.mu.Lock()
	e := s.e
	h.holders.put(s)
	h.releaseLocked(e, now)
	return nil
}

// holder is the state of one reference. Slots are recycled, so Get
// allocates nothing once enough exist for the references held at once; the
// generation tells a live reference from an old copy.
type holder[K comparable, V any] struct {
	h   *Handles[K, V]
	gen atomic.Uint64 // bumped by each Close

	// guarded by h.mu
	e     *handleEntry[K, V] // nil while the slot is free
	trace stack.Trace        // where Get was called, with TrackHolders
	since time.Time          // when Get returned, with TrackHolders
}

// holderSlots recycles holders. Guarded by Handles.mu.
type holderSlots[K comparable, V any] struct {
	all   []*holder[K, V] // every slot, for Handles.Close's report
	free  []*holder[K, V]
	inUse int
}

func (s *holderSlots[K, V]) get(h *Handles[K, V]) *holder[K, V] {
	s.inUse++
	if n := len(s.free); n > 0 {
		x := s.free[n-1]
		s.free = s.free[:n-1]
		return x
	}
	x := &holder[K, V]{h: h}
	s.all = append(s.all, x)
	return x
}

func (s *holderSlots[K, V]) put(x *holder[K, V]) {
	x.e, x.trace, x.since = nil, stack.Trace{}, time.Time{}
	s.free = append(s.free, x)
	s.inUse--
}

// refLocked hands out a reference to e, whose refs the caller has counted.
// Caller must hold h.mu.
func (h *Handles[K, V]) refLocked(e *handleEntry[K, V], trace stack.Trace) Ref[K, V] {
	s := h.holders.get(h)
	s.e = e
	if h.cfg.TrackHolders {
		s.trace, s.since = trace, time.Now()
	}
	return Ref[K, V]{slot: s, gen: s.gen.Load(), v: e.value}
}
