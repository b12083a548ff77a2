// Package timerheap orders deadlines so that one timer goroutine can serve
// many resources: the owner keeps its idle resources in a [Heap], sleeps until
// the earliest deadline and pops what is due, instead of arming a timer per
// resource or scanning everything at a fixed interval.
package timerheap

import "time"

// Node is an element of a [Heap]. It lives inside the value it schedules
// (Value usually points back at that value), so pushing and removing never
// allocate. The zero Node is not scheduled.
//
// A Node belongs to at most one Heap at a time; its fields other than Value
// are owned by that Heap and guarded by whatever guards the Heap.
type Node[T any] struct {
	// Value is the payload handed back by [Heap.Peek] and [Heap.Pop].
	Value T

	when  time.Time
	key   time.Duration // when, relative to the heap's base: cheap to compare
	seq   uint64        // breaks ties between equal deadlines
	index int           // position in the heap plus one; 0 when not scheduled
}

// When returns the deadline n was pushed with, or the zero Time when n is not
// scheduled.
func (n *Node[T]) When() time.Time { return n.when }

// Seq returns the sequence number n was pushed with.
func (n *Node[T]) Seq() uint64 { return n.seq }

// Scheduled reports whether n is in a Heap.
func (n *Node[T]) Scheduled() bool { return n.index > 0 }

// Heap is a min-heap of Nodes ordered by deadline, earliest first, and by
// sequence number among equal deadlines. With a counter as sequence number,
// a heap of release times is an exact least-recently-used order, even on a
// clock too coarse to tell two releases apart, and a node taken out and
// pushed again with its old number keeps its place among its peers.
//
// It is a 4-ary heap whose slots hold each node's key next to the pointer:
// with a million nodes most of them are out of the CPU caches, and sifting
// then compares keys without touching the nodes, half as many levels deep
// as a binary heap, each level's children on adjacent cache lines.
//
// The zero Heap is empty and ready to use. A Heap is not safe for concurrent
// use: its owner guards it with its own lock.
type Heap[T any] struct {
	slots []slot[T]
	// base is the first deadline ever pushed. Keys are offsets from it, so
	// comparing two deadlines is one integer comparison, and Sub uses the
	// monotonic clock when both times carry it.
	base  time.Time
	based bool
}

// A slot is a place in the heap: a node and its order.
type slot[T any] struct {
	key time.Duration
	seq uint64
	n   *Node[T]
}

func (a *slot[T]) before(b *slot[T]) bool {
	if a.key == b.key {
		return a.seq < b.seq
	}
	return a.key < b.key
}

// arity is the number of children of a slot.
const arity = 4

// Len returns the number of scheduled nodes.
func (h *Heap[T]) Len() int { return len(h.slots) }

// Push schedules n at when, after the nodes due at the same time with a
// smaller seq. It panics if n is already scheduled.
func (h *Heap[T]) Push(n *Node[T], when time.Time, seq uint64) {
	if n.index != 0 {
		panic("timerheap: Push of a scheduled node")
	}
	if !h.based {
		h.base, h.based = when, true
	}
	n.when, n.key, n.seq = when, when.Sub(h.base), seq
	h.slots = append(h.slots, slot[T]{key: n.key, seq: seq, n: n})
	h.up(len(h.slots) - 1)
}

// Remove unschedules n and reports whether it was scheduled in h.
func (h *Heap[T]) Remove(n *Node[T]) bool {
	i := n.index - 1
	if i < 0 || i >= len(h.slots) || h.slots[i].n != n {
		return false
	}
	last := len(h.slots) - 1
	moved := h.slots[last]
	h.slots[last] = slot[T]{}
	h.slots = h.slots[:last]
	n.index, n.when = 0, time.Time{}
	if i != last {
		h.slots[i] = moved
		if !h.down(i) {
			h.up(i)
		}
	}
	return true
}

// Peek returns the node with the earliest deadline, or nil when h is empty.
func (h *Heap[T]) Peek() *Node[T] {
	if len(h.slots) == 0 {
		return nil
	}
	return h.slots[0].n
}

// Pop removes and returns the node with the earliest deadline, or nil when h
// is empty.
func (h *Heap[T]) Pop() *Node[T] {
	n := h.Peek()
	if n != nil {
		h.Remove(n)
	}
	return n
}

// PopDue removes and returns the node with the earliest deadline if that
// deadline is not after now; otherwise it returns nil and leaves h unchanged.
func (h *Heap[T]) PopDue(now time.Time) *Node[T] {
	n := h.Peek()
	if n == nil || n.when.After(now) {
		return nil
	}
	h.Remove(n)
	return n
}

// up moves the slot at j towards the root until its parent is before it,
// shifting the parents it passes down, and sets the index of every node it
// moves.
func (h *Heap[T]) up(j int) {
	x := h.slots[j]
	for j > 0 {
		i := (j - 1) / arity
		if !x.before(&h.slots[i]) {
			break
		}
		h.slots[j] = h.slots[i]
		h.slots[j].n.index = j + 1
		j = i
	}
	h.slots[j] = x
	x.n.index = j + 1
}

// down moves the slot at i towards the leaves, shifting up the earliest
// child it passes, and reports whether it moved.
func (h *Heap[T]) down(i int) bool {
	start, n := i, len(h.slots)
	x := h.slots[i]
	for {
		first := arity*i + 1
		if first >= n {
			break
		}
		j := first
		for c := first + 1; c < min(first+arity, n); c++ {
			if h.slots[c].before(&h.slots[j]) {
				j = c
			}
		}
		if !h.slots[j].before(&x) {
			break
		}
		h.slots[i] = h.slots[j]
		h.slots[i].n.index = i + 1
		i = j
	}
	h.slots[i] = x
	x.n.index = i + 1
	return i > start
}
