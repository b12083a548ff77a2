package pool

import (
	"errors"
	"io"
	"reflect"
	"runtime"

	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/internal/track"
)

// ErrLeaseDone is returned by [Lease.Close] when the lease has already been
// released or closed, through this copy or another, and by Close of the
// zero Lease.
var ErrLeaseDone = errors.New("pool: lease already released or destroyed")

// Lease is a resource lent by [Pool.Acquire]. The holder uses the resource
// through [Lease.Value] and gives it back exactly once: [Lease.Release] (or
// Close) when it can be reused, [Lease.Destroy] when it is broken.
//
// A Lease is a small value that may be copied; the copies stand for the
// same lease. Once it is given back, through any copy, it can never reach
// the resource again, which may already be lent to someone else: Value,
// Release and Destroy panic with "pool: lease used after Release or
// Destroy", and Close returns [ErrLeaseDone], except after Destroy (see
// below). The zero Lease behaves as one given back.
//
// How: each resource's slot counts the leases it has been lent under, and
// a Lease carries the number of its own. Giving it back advances the count
// with a compare-and-swap, which only one caller can win; every later use
// finds a number that no longer matches. Slots are reused for as long as
// their resource lives, so lending allocates nothing, where a lease object
// per Acquire would cost an allocation and recycling lease objects would
// let a stale pointer reach its successor.
//
// Lease implements io.Closer, so the usual pattern is
//
//	l, err := p.Acquire(ctx)
//	if err != nil {
//		return err
//	}
//	s.DeferClose(l) // s is a *scope.Scope; or defer l.Close()
//	s.OnFailure(func() error { l.Destroy(); return nil })
//
// Close after Destroy does nothing and returns nil, so that the two
// combine: when the function fails, the scope destroys the resource (the
// newest cleanup runs first) and the Close that follows is a no-op; when
// it succeeds, Close releases it. A resource known to be broken can also
// be destroyed at once, with the Close still pending.
//
// Converting a Lease to an interface allocates, as it is larger than a
// pointer; call its methods directly on hot paths.
//
// A Lease is for one holder at a time: Value may be called from several
// goroutines, but giving the lease back concurrently with another use is a
// race of the holder's making.
type Lease[T any] struct {
	s   *poolSlot[T]
	gen uint64           // s.gen when the lease started
	t   *leaseTracker[T] // non-nil when the lease is tracked
}

var _ io.Closer = Lease[int]{}

const (
	msgLeaseDone = "pool: lease used after Release or Destroy"
	msgZeroLease = "pool: use of a zero Lease"
)

// Value returns the resource. It panics if the lease was given back.
func (l Lease[T]) Value() T {
	if l.s == nil {
		panic(msgZeroLease)
	}
	if l.s.gen.Load() != l.gen {
		panic(msgLeaseDone)
	}
	return l.s.value
}

// Release gives the resource back to be reused: it goes to the first
// waiting Acquire, or becomes idle. A resource past its MaxLifetime, or
// released after [Pool.Close], is destroyed instead, in the calling
// goroutine. Release panics if the lease was already given back.
func (l Lease[T]) Release() {
	if !l.end() {
		l.misuse()
	}
	l.s.p.giveBack(l.s, false, leaseEnded)
}

// Destroy gives the resource back as broken: the pool destroys it, in the
// calling goroutine, and frees its place for a new one. Destroy panics if
// the lease was already given back.
func (l Lease[T]) Destroy() {
	if !l.end() {
		l.misuse()
	}
	// A destroyed slot is never lent again, so this mark stays valid.
	l.s.destroyedBy.Store(l.gen + 1)
	l.s.p.giveBack(l.s, true, leaseEnded)
}

// Close is Release, as an io.Closer. It returns nil; if the lease was
// already given back it does nothing, and returns [ErrLeaseDone] unless
// the lease was destroyed: Close after Destroy is a no-op by design (see
// [Lease]).
func (l Lease[T]) Close() error {
	if !l.end() {
		if l.s != nil && l.s.destroyedBy.Load() == l.gen+1 {
			return nil
		}
		return ErrLeaseDone
	}
	l.s.p.giveBack(l.s, false, leaseEnded)
	return nil
}

// end ends the lease and reports whether this call did it.
func (l Lease[T]) end() bool {
	if l.s == nil || !l.s.gen.CompareAndSwap(l.gen, l.gen+1) {
		return false
	}
	if l.t != nil {
		l.t.cleanup.Stop()
		l.t.entry.Done()
		// The tracker is reachable up to here, so its cleanup cannot run
		// while the lease is being given back.
		runtime.KeepAlive(l.t)
	}
	return true
}

func (l Lease[T]) misuse() {
	if l.s == nil {
		panic(msgZeroLease)
	}
	panic(msgLeaseDone)
}

// leaseTracker is the heap object that stands for one tracked lease: every
// copy of the Lease points to it, nothing in the pool does, so it becomes
// unreachable exactly when the lease is dropped. Tracking costs its
// allocation, a stack capture and a runtime cleanup per Acquire, which is
// why it is opt-in (LeakThreshold, or the process-wide level of
// RECLAIM_LEAKS and scopetest.VerifyTestMain) and the default Lease
// carries no tracker.
type leaseTracker[T any] struct {
	cleanup runtime.Cleanup
	entry   *track.Entry // in the registry (reclaim.leases) until given back
	s       *poolSlot[T] // also keeps the tracker out of the tiny allocator
}

// droppedLease is what the cleanup of a tracker sees: it must not point to the
// tracker.
type droppedLease[T any] struct {
	s     *poolSlot[T]
	gen   uint64
	entry *track.Entry
}

// trackLease tracks the lease of s numbered gen, just lent by the caller of
// lease, and returns its tracker, or nil when the sampled level leaves it
// out. Every lease is tracked when LeakThreshold is set.
func (p *Pool[T]) trackLease(s *poolSlot[T], gen uint64) *leaseTracker[T] {
	l := track.Current()
	if p.track {
		l = track.Full
	}
	if !track.Leases.Want(l) {
		return nil
	}
	trace := s.trace // Acquire's, with LeakThreshold; written before s was lent
	if trace.Empty() {
		trace = stack.Capture(2) // from the caller of lease on
	}
	e := track.Leases.TrackAt(p.name(), trace, 1)
	t := &leaseTracker[T]{s: s, entry: e}
	t.cleanup = runtime.AddCleanup(t, leaseDropped[T], droppedLease[T]{s: s, gen: gen, entry: e})
	return t
}

// name says which pool a lease is from, in leak reports.
func (p *Pool[T]) name() string { return "pool.Pool[" + reflect.TypeFor[T]().String() + "]" }

// leaseDropped runs in the runtime's cleanup goroutine when a tracked
// lease became unreachable. If the lease was never given back, it ends it
// and hands the resource to the pool to destroy. It only takes the lock:
// it must not touch the pool's channels or start goroutines, since the
// pool may live in a testing/synctest bubble, which this goroutine is
// outside of. The pool's own goroutines destroy the resource: the next
// Acquire or release, or the janitor, which runs while tracked leases are
// out.
func leaseDropped[T any](d droppedLease[T]) {
	s := d.s
	if !s.gen.CompareAndSwap(d.gen, d.gen+1) {
		return
	}
	p := s.p
	p.mu.Lock()
	if s.state != slotLeased { // destroyed under its holder by Close
		p.mu.Unlock()
		d.entry.Done()
		return
	}
	s.state = slotDropped
	p.leased--
	p.dropped = append(p.dropped, s)
	held := max(0, p.now()-s.acquired)
	trace := s.trace
	if trace.Empty() { // tracked for the registry alone
		trace = d.entry.Trace()
	}
	p.mu.Unlock()
	d.entry.Dropped("never released; its resource was destroyed")
	p.leakLogger().Error("pool: lease dropped without Release; its resource will be destroyed",
		"held", held, "acquired_at", trace.String())
	// Counted once reported, so that whoever sees the count sees the
	// report too.
	p.mu.Lock()
	p.stats.LeasesDropped++
	p.mu.Unlock()
}

// takeDroppedLocked retires the resources of dropped leases and returns
// them for the caller to destroy. Caller must hold p.mu.
func (p *Pool[T]) takeDroppedLocked() []*poolSlot[T] {
	doomed := p.dropped
	p.dropped = nil
	for _, s := range doomed {
		p.retireLocked(s, destroyDropped)
	}
	return doomed
}
