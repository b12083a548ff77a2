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
// The zero Heap is empty and ready to use. A Heap is not safe for concurrent
// use: its owner guards it with its own lock.
type Heap[T any] struct {
	nodes []*Node[T]
	// base is the first deadline ever pushed. Keys are offsets from it, so
	// comparing two deadlines is one integer comparison, and Sub uses the
	// monotonic clock when both times carry it.
	base  time.Time
	based bool
}

// Len returns the number of scheduled nodes.
func (h *Heap[T]) Len() int { return len(h.nodes) }

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
	h.nodes = append(h.nodes, n)
	n.index = len(h.nodes)
	h.up(len(h.nodes) - 1)
}

// Remove unschedules n and reports whether it was scheduled in h.
func (h *Heap[T]) Remove(n *Node[T]) bool {
	i := n.index - 1
	if i < 0 || i >= len(h.nodes) || h.nodes[i] != n {
		return false
	}
	last := len(h.nodes) - 1
	if i != last {
		h.swap(i, last)
	}
	h.nodes[last] = nil
	h.nodes = h.nodes[:last]
	n.index, n.when = 0, time.Time{}
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	return true
}

// Peek returns the node with the earliest deadline, or nil when h is empty.
func (h *Heap[T]) Peek() *Node[T] {
	if len(h.nodes) == 0 {
		return nil
	}
	return h.nodes[0]
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

func (h *Heap[T]) less(i, j int) bool {
	a, b := h.nodes[i], h.nodes[j]
	if a.key == b.key {
		return a.seq < b.seq
	}
	return a.key < b.key
}

func (h *Heap[T]) swap(i, j int) {
	h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i]
	h.nodes[i].index = i + 1
	h.nodes[j].index = j + 1
}

func (h *Heap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down sifts the node at i towards the leaves and reports whether it moved.
func (h *Heap[T]) down(i int) bool {
	start, n := i, len(h.nodes)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
