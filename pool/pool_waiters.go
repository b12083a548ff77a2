package pool

import (
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// poolWaiter is an Acquire waiting for a resource. Waiters are recycled
// through Pool.waiterPool, channel included, so waiting allocates nothing
// in steady state.
type poolWaiter[T any] struct {
	// ch receives exactly one waitResult per wait, sent under Pool.mu by
	// whoever takes the waiter out of the queue; its buffer of one means
	// the sender never blocks.
	ch chan waitResult[T]

	// guarded by Pool.mu
	prev, next *poolWaiter[T]
	queued     bool
	start      time.Duration // when Acquire was called
	waited     time.Duration // set when served
	trace      stack.Trace   // the Acquire's stack, when tracking
}

// waitResult is what a waiter is woken with: a resource lent to it, the
// error to return, or the panic of the Open that was to serve it.
type waitResult[T any] struct {
	s   *poolSlot[T]
	err error
	pe  *PanicError
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

// waitQueue is a FIFO of waiters: a doubly linked list, so that a waiter
// whose context is done leaves from anywhere in O(1). Guarded by Pool.mu.
type waitQueue[T any] struct {
	head, tail *poolWaiter[T]
	n          int
}

func (q *waitQueue[T]) pushBack(w *poolWaiter[T]) {
	w.prev, w.next, w.queued = q.tail, nil, true
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

func (q *waitQueue[T]) popFront() *poolWaiter[T] {
	w := q.head
	if w != nil {
		q.remove(w)
	}
	return w
}

func (q *waitQueue[T]) popBack() *poolWaiter[T] {
	w := q.tail
	if w != nil {
		q.remove(w)
	}
	return w
}

func (q *waitQueue[T]) remove(w *poolWaiter[T]) {
	if !w.queued {
		panic("bug: pool: removing a waiter that is not queued")
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n--
}
