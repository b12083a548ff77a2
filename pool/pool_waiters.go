package pool

import (
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// poolWaiter is an Acquire waiting for a resource. Waiters are recycled
// through Pool.waiterPool, channel included, so waiting allocates nothing
// in steady state.
type poolWaiter[T any] struct {
	// ch receives exactly one waitResult per wait, sent by whoever takes
	// the waiter out of the queue, under Pool.mu or just after; its buffer
	// of one means the sender never blocks.
	ch chan waitResult[T]

	// guarded by Pool.mu
	pos   uint          // its position in waitQueue.ring, while queued
	start time.Duration // when Acquire was called; see Pool.waitLocked
	timed bool          // the wait is timed: see Pool.sampleLocked
	trace stack.Trace   // the Acquire's stack, when tracking
}

// serve wakes w, lent s by handLocked after a wait counted as waited. The
// caller may have let go of Pool.mu: nothing else sends to w once it is
// out of the queue.
func (w *poolWaiter[T]) serve(s *poolSlot[T], waited time.Duration) {
	w.ch <- waitResult[T]{s: s, waited: waited} // never blocks: one delivery per wait
}

// waitResult is what a waiter is woken with: a resource lent to it, the
// error to return, or the panic of the Open that was to serve it.
type waitResult[T any] struct {
	s      *poolSlot[T]
	waited time.Duration // with s: the wait the stats counted
	err    error
	pe     *PanicError
}

// failure returns r's error, or panics with r's panic in the waiter's
// goroutine: the panic of an Open reaches the caller it was meant for. A
// Goexit is returned as an error rather than ending the caller.
func (r waitResult[T]) failure() error {
	if r.pe != nil && !r.pe.Goexit {
		panic(r.pe)
	}
	if r.pe != nil {
		return r.pe
	}
	return r.err
}

// waitQueue is a FIFO of waiters: a ring of entries that carry what
// serving a waiter needs, so that serving it touches the ring, not the
// waiter (cold: its goroutine is parked) nor its neighbours. A waiter
// whose context is done leaves in O(1), leaving an empty entry behind; the
// empty entries at either end are dropped at once, and those between
// waiters when the ring is full, so the ring holds at most twice the
// waiters. Guarded by Pool.mu.
type waitQueue[T any] struct {
	ring       []waitEntry[T] // len is a power of two, or zero
	head, tail uint           // positions of the first entry and past the last; ring[pos&mask]
	n          int            // waiters queued: the entries that are not empty
}

// waitEntry is a queued waiter, with copies of what handLocked reads.
type waitEntry[T any] struct {
	w     *poolWaiter[T] // nil: empty
	start time.Duration  // w.start
	timed bool           // w.timed
}

func (q *waitQueue[T]) pushBack(w *poolWaiter[T]) {
	if q.tail-q.head == uint(len(q.ring)) {
		q.compact()
	}
	w.pos = q.tail
	q.ring[q.tail&uint(len(q.ring)-1)] = waitEntry[T]{w: w, start: w.start, timed: w.timed}
	q.tail++
	q.n++
}

// compact makes room in a full ring: it moves the waiters, in order, to
// the front of a ring twice as large, or as large when half of it is
// empty.
func (q *waitQueue[T]) compact() {
	size := max(8, 2*len(q.ring))
	if len(q.ring) > 0 && q.n <= len(q.ring)/2 {
		size = len(q.ring)
	}
	ring := make([]waitEntry[T], size)
	var i uint
	for pos := q.head; pos != q.tail; pos++ {
		if e := q.ring[pos&uint(len(q.ring)-1)]; e.w != nil {
			e.w.pos = i
			ring[i] = e
			i++
		}
	}
	q.ring, q.head, q.tail = ring, 0, i
}

// queued reports whether w is in the queue. A waiter is in the ring at
// most once, and only while queued, so its entry is its own exactly then.
func (q *waitQueue[T]) queued(w *poolWaiter[T]) bool {
	return len(q.ring) > 0 && q.ring[w.pos&uint(len(q.ring)-1)].w == w
}

// popFront takes out the first waiter; e.w is nil if there is none. It
// reads nothing from the waiter.
func (q *waitQueue[T]) popFront() (e waitEntry[T]) {
	if q.n == 0 {
		return e
	}
	mask := uint(len(q.ring) - 1)
	e = q.ring[q.head&mask] // not empty: see trim
	q.ring[q.head&mask] = waitEntry[T]{}
	q.head++
	q.n--
	q.trim(mask)
	return e
}

// popBack takes out the last waiter, or returns nil.
func (q *waitQueue[T]) popBack() *poolWaiter[T] {
	if q.n == 0 {
		return nil
	}
	w := q.ring[(q.tail-1)&uint(len(q.ring)-1)].w // not empty: see trim
	q.remove(w)
	return w
}

// remove takes w out of the queue, from anywhere in it.
func (q *waitQueue[T]) remove(w *poolWaiter[T]) {
	if !q.queued(w) {
		panic("bug: pool: removing a waiter that is not queued")
	}
	mask := uint(len(q.ring) - 1)
	q.ring[w.pos&mask] = waitEntry[T]{}
	q.n--
	q.trim(mask)
}

// trim drops the empty entries at both ends of the ring, so that the
// first and the last entry are waiters whenever there are any. A large
// ring left empty is let go: a burst of waiters should not make the pool
// hold its ring for good.
func (q *waitQueue[T]) trim(mask uint) {
	if q.n == 0 {
		q.head, q.tail = 0, 0
		if len(q.ring) > maxIdleRing {
			q.ring = nil
		}
		return
	}
	for q.ring[q.head&mask].w == nil {
		q.head++
	}
	for q.ring[(q.tail-1)&mask].w == nil {
		q.tail--
	}
}

// maxIdleRing is the size of the largest ring an empty queue keeps.
const maxIdleRing = 1024
