package handles

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/internal/track"
)

// ErrRefClosed is returned by [Ref.Close] when the reference was already
// closed, through this copy or another, and by Close of the zero Ref.
var ErrRefClosed = errors.New("handles: Ref already closed")

// Ref is a reference to a shared handle, returned by [Cache.Get]. The
// handle stays open at least until the reference is closed.
//
// A Ref is a small value that may be copied, but the reference it stands
// for is closed once: the first Close, through any copy, releases it, and
// every later Close returns [ErrRefClosed] and changes nothing, so a
// duplicate Close can never release a reference someone else holds. Value
// panics once the reference is closed ("handles: Ref used after Close").
// The zero Ref is closed.
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
	t    *refTracker // non-nil when the reference is tracked
}

// Value returns the handle. It panics if the reference is closed.
func (r Ref[K, V]) Value() V {
	if r.slot == nil || r.slot.gen.Load() != r.gen {
		panic("handles: Ref used after Close")
	}
	return r.v
}

// Close releases the reference. When it was the handle's last reference,
// the handle becomes idle and is closed after IdleTimeout, or at once if
// more than MaxOpen handles are open or the cache is closed; an error from
// closing it then goes to the configured handlers (see
// [Config.Logger]), not to the caller. Close returns [ErrRefClosed]
// if the reference was already closed, and nil otherwise.
//
// Close takes no lock when the handle stays open: it can run in parallel
// with Closes of other references and with Gets.
func (r Ref[K, V]) Close() error {
	s := r.slot
	// The compare-and-swap makes exactly one Close of this reference win,
	// and retires the generation so that no copy of it matches the slot
	// again, even once the slot serves another Get.
	if s == nil || !s.gen.CompareAndSwap(r.gen, r.gen+1) {
		return ErrRefClosed
	}
	if r.t != nil {
		r.t.end()
	}
	h, e := s.h, s.e
	if s != &e.slots.first { // first is free once its generation is even
		e.slots.put(s)
	}
	// The deadline goes first, as whoever sees refs at 0 reads it. It only
	// moves forward, so that a release racing with a later one cannot pull
	// it back.
	deadline := int64(time.Since(h.epoch) + h.cfg.IdleTimeout)
	for old := e.deadline.Load(); old < deadline && !e.deadline.CompareAndSwap(old, deadline); {
		old = e.deadline.Load()
	}
	if e.refs.Add(-1) > 0 {
		return nil
	}
	// Last reference. The handle may stay idle without the lock when it is
	// still queued (then the janitor or an evictor will look at it) and
	// nothing asks for it to be closed now. Each of these reads comes after
	// refs dropped, and each flag is set before its setter looks at refs,
	// so one of the two sides always sees the other.
	if e.queued.Load() && !h.closed.Load() &&
		(h.cfg.MaxOpen == 0 || h.open.Load() <= int64(h.cfg.MaxOpen)) {
		return nil
	}
	h.releaseSlow(e)
	return nil
}

// holder is the state of one reference. An entry recycles its holders, so
// Get allocates nothing once enough exist for the references held at once.
// The generation is odd while the holder is in use; it tells a live
// reference from an old copy.
type holder[K comparable, V any] struct {
	h   *Cache[K, V]
	e   *handleEntry[K, V]
	gen atomic.Uint64 // odd while in use; bumped by Get and by Close

	next  *holder[K, V] // in holderSlots.returned
	trace stack.Trace   // where Get was called, with TrackHolders; guarded by h.mu
	since time.Time     // when Get returned, with TrackHolders; guarded by h.mu
}

// inUse reports whether a reference holds x.
func (x *holder[K, V]) inUse() bool { return x.gen.Load()%2 == 1 }

// holderSlots recycles the holders of one entry. The first is inline and
// free whenever its generation is even: a handle held by one holder at a
// time, the common case, needs nothing more. Get takes the others under
// Cache.mu; Ref.Close gives them back without it, onto returned, a stack
// with one consumer (Get, under the lock), so it needs no ABA protection.
type holderSlots[K comparable, V any] struct {
	first    holder[K, V]
	returned atomic.Pointer[holder[K, V]]
	free     []*holder[K, V] // guarded by Cache.mu
	more     []*holder[K, V] // every other holder, for Cache.Close's report; guarded by Cache.mu
}

// each calls fn with every holder of the entry. Caller must hold
// Cache.mu.
func (s *holderSlots[K, V]) each(fn func(*holder[K, V])) {
	fn(&s.first)
	for _, x := range s.more {
		fn(x)
	}
}

func (s *holderSlots[K, V]) put(x *holder[K, V]) {
	for {
		top := s.returned.Load()
		x.next = top
		if s.returned.CompareAndSwap(top, x) {
			return
		}
	}
}

// refLocked hands out a reference to e, whose refs the caller has counted.
// Caller must hold h.mu.
func (h *Cache[K, V]) refLocked(e *handleEntry[K, V], trace stack.Trace) Ref[K, V] {
	s := &e.slots
	x := &s.first
	if x.inUse() {
		if len(s.free) == 0 {
			for y := s.returned.Swap(nil); y != nil; y = y.next {
				s.free = append(s.free, y)
			}
		}
		if n := len(s.free); n > 0 {
			x = s.free[n-1]
			s.free = s.free[:n-1]
		} else {
			x = &holder[K, V]{h: h, e: e}
			s.more = append(s.more, x)
		}
	}
	if h.cfg.TrackHolders {
		x.trace, x.since = trace, time.Now()
	}
	r := Ref[K, V]{slot: x, gen: x.gen.Add(1), v: e.value}
	if h.cfg.TrackHolders || track.Current() != track.Off {
		r.t = trackRef(x, r.gen, e.key, trace)
	}
	return r
}

// refTracker is the heap object that stands for one tracked reference:
// every copy of the Ref points to it, nothing in the cache does, so it
// becomes unreachable exactly when the reference is dropped. Tracking costs
// its allocation, a stack capture and a runtime cleanup per Get, which is
// why it is opt-in (TrackHolders, or the process-wide level of
// RECLAIM_LEAKS and scopetest.VerifyTestMain).
type refTracker struct {
	cleanup runtime.Cleanup
	entry   *track.Entry // in the registry (reclaim.refs) until closed
}

// end ends the tracking of a reference just closed.
func (t *refTracker) end() {
	t.cleanup.Stop()
	t.entry.Done()
	// The tracker is reachable up to here, so its cleanup cannot run while
	// the reference is being closed.
	runtime.KeepAlive(t)
}

// trackRef tracks the reference to x numbered gen, taken by the Get of
// key whose stack is trace (empty without TrackHolders), and returns its
// tracker, or nil when the sampled level leaves it out.
func trackRef[K comparable, V any](x *holder[K, V], gen uint64, key K, trace stack.Trace) *refTracker {
	if trace.Empty() { // tracked at the process-wide level alone
		if !track.Refs.Want(track.Current()) {
			return nil
		}
		trace = stack.Capture(2) // from Get on
	}
	e := track.Refs.TrackAt(fmt.Sprintf("handles.Cache key %v", key), trace, 1)
	t := &refTracker{entry: e}
	t.cleanup = runtime.AddCleanup(t, refDropped[K, V], droppedRef[K, V]{x: x, gen: gen, entry: e})
	return t
}

// droppedRef is what the cleanup of a tracker sees: it must not point to
// the tracker.
type droppedRef[K comparable, V any] struct {
	x     *holder[K, V]
	gen   uint64
	entry *track.Entry
}

// refDropped runs in the runtime's cleanup goroutine when a tracked
// reference became unreachable. If it was never closed, it is recorded as
// dropped. The reference stays counted, as nothing may be assumed about
// the handle's use: the handle stays open until [Cache.Close], which
// reports it as still held.
func refDropped[K comparable, V any](d droppedRef[K, V]) {
	if d.x.gen.Load() != d.gen {
		d.entry.Done()
		return
	}
	d.entry.Dropped("never closed; its handle stays open until Cache.Close")
}
