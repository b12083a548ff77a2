package timerheap_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/timerheap"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) {
	scopetest.VerifyTestMain(m)
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }

func TestZeroHeapIsEmpty(t *testing.T) {
	var h timerheap.Heap[int]
	assert.Equal(t, 0, h.Len())
	assert.Nil(t, h.Peek())
	assert.Nil(t, h.Pop())
	assert.Nil(t, h.PopDue(at(0)))
	var n timerheap.Node[int]
	assert.False(t, n.Scheduled())
	assert.False(t, h.Remove(&n))
}

func TestHeapPopsInDeadlineOrderAndTiesInSeqOrder(t *testing.T) {
	var h timerheap.Heap[string]
	nodes := map[string]*timerheap.Node[string]{}
	push := func(name string, ms int, seq uint64) {
		n := &timerheap.Node[string]{Value: name}
		nodes[name] = n
		h.Push(n, at(ms), seq)
	}
	push("c", 30, 1)
	push("a2", 10, 5)
	push("b", 20, 3)
	push("a1", 10, 4)
	push("a3", 10, 6)
	assert.True(t, nodes["b"].Scheduled())
	assert.Equal(t, at(20), nodes["b"].When())
	assert.Equal(t, uint64(3), nodes["b"].Seq())

	var got []string
	for n := h.Pop(); n != nil; n = h.Pop() {
		assert.False(t, n.Scheduled())
		got = append(got, n.Value)
	}
	assert.Equal(t, []string{"a1", "a2", "a3", "b", "c"}, got)
}

func TestHeapPopDueStopsAtTheFirstFutureDeadline(t *testing.T) {
	var h timerheap.Heap[int]
	for _, ms := range []int{5, 1, 9, 3} {
		h.Push(&timerheap.Node[int]{Value: ms}, at(ms), 0)
	}
	var due []int
	for n := h.PopDue(at(5)); n != nil; n = h.PopDue(at(5)) {
		due = append(due, n.Value)
	}
	assert.Equal(t, []int{1, 3, 5}, due)
	require.Equal(t, 1, h.Len())
	assert.Equal(t, 9, h.Peek().Value)
}

func TestHeapRemoveUnschedulesOnlyItsOwnNodes(t *testing.T) {
	var h, other timerheap.Heap[int]
	a, b := &timerheap.Node[int]{Value: 1}, &timerheap.Node[int]{Value: 2}
	h.Push(a, at(1), 0)
	other.Push(b, at(2), 0)

	assert.False(t, h.Remove(b), "b belongs to another heap")
	assert.True(t, b.Scheduled())
	assert.True(t, h.Remove(a))
	assert.False(t, a.Scheduled())
	assert.False(t, h.Remove(a), "second Remove")
	assert.Equal(t, 0, h.Len())

	// A removed node can be pushed again, and with its old seq it keeps
	// its place among nodes due at the same time.
	c := &timerheap.Node[int]{Value: 3}
	h.Push(a, at(3), 1)
	h.Push(c, at(3), 2)
	require.True(t, h.Remove(a))
	h.Push(a, at(3), 1)
	assert.Same(t, a, h.Pop())
	assert.Same(t, c, h.Pop())
}

func TestHeapPushOfAScheduledNodePanics(t *testing.T) {
	var h timerheap.Heap[int]
	n := &timerheap.Node[int]{}
	h.Push(n, at(1), 0)
	assert.PanicsWithValue(t, "timerheap: Push of a scheduled node", func() { h.Push(n, at(2), 1) })
}

// TestHeapMatchesASortedModel runs random pushes, removals and pops against
// a sorted slice that is the obviously correct implementation.
func TestHeapMatchesASortedModel(t *testing.T) {
	type item struct {
		node *timerheap.Node[int]
		ms   int
		seq  int
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var h timerheap.Heap[int]
	var model []item // kept sorted by (ms, seq)
	seq := 0
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5:
			seq++
			it := item{node: &timerheap.Node[int]{Value: step}, ms: rng.IntN(50), seq: seq}
			h.Push(it.node, at(it.ms), uint64(it.seq))
			i, _ := slices.BinarySearchFunc(model, it, func(a, b item) int {
				if a.ms != b.ms {
					return a.ms - b.ms
				}
				return a.seq - b.seq
			})
			model = slices.Insert(model, i, it)
		case op < 7 && len(model) > 0:
			i := rng.IntN(len(model))
			require.True(t, h.Remove(model[i].node))
			model = slices.Delete(model, i, i+1)
		case op < 9:
			n := h.Pop()
			if len(model) == 0 {
				require.Nil(t, n)
				continue
			}
			require.Same(t, model[0].node, n, "step %d", step)
			model = model[1:]
		default:
			now := at(rng.IntN(50))
			var want []*timerheap.Node[int]
			for len(model) > 0 && !at(model[0].ms).After(now) {
				want = append(want, model[0].node)
				model = model[1:]
			}
			var got []*timerheap.Node[int]
			for n := h.PopDue(now); n != nil; n = h.PopDue(now) {
				got = append(got, n)
			}
			require.Equal(t, want, got)
		}
		require.Equal(t, len(model), h.Len())
	}
}

func TestHeapPushAndRemoveDoNotAllocateOnceGrown(t *testing.T) {
	var h timerheap.Heap[int]
	nodes := make([]timerheap.Node[int], 64)
	for i := range nodes {
		h.Push(&nodes[i], at(i), 0)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		n := &nodes[i%len(nodes)]
		h.Remove(n)
		h.Push(n, at(64+i), 0)
		i++
	})
	assert.Zero(t, allocs)
}

func BenchmarkHeapRemovePush64(b *testing.B) {
	var h timerheap.Heap[int]
	nodes := make([]timerheap.Node[int], 64)
	for i := range nodes {
		h.Push(&nodes[i], at(i), 0)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := &nodes[i%len(nodes)]
		h.Remove(n)
		h.Push(n, at(64+i), 0)
	}
}
