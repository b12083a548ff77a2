package pool

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWaitQueueMatchesAList drives the ring against a plain list: pushes,
// pops at both ends and removals from anywhere, with long-lived waiters at
// the front while others come and go behind them (the case that leaves
// empty entries inside the ring).
func TestWaitQueueMatchesAList(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, seed))
		var q waitQueue[int]
		var model []*poolWaiter[int]
		peak := 0
		for step := range 3000 {
			switch op := rng.IntN(10); {
			case op < 4 || len(model) == 0:
				w := &poolWaiter[int]{start: time.Duration(step), timed: step%3 == 0}
				q.pushBack(w)
				model = append(model, w)
			case op < 6:
				e := q.popFront()
				require.Same(t, model[0], e.w)
				require.Equal(t, model[0].start, e.start)
				require.Equal(t, model[0].timed, e.timed)
				model = model[1:]
			case op < 7:
				w := q.popBack()
				require.Same(t, model[len(model)-1], w)
				model = model[:len(model)-1]
			default: // a waiter whose context is done, but never the first
				i := rng.IntN(len(model))
				if len(model) > 1 {
					i = 1 + rng.IntN(len(model)-1)
				}
				require.True(t, q.queued(model[i]))
				q.remove(model[i])
				require.False(t, q.queued(model[i]))
				model = slices.Delete(model, i, i+1)
			}
			peak = max(peak, len(model))
			require.Equal(t, len(model), q.n)
			require.LessOrEqual(t, len(q.ring), max(8, 4*peak), "the ring holds at most twice the waiters")
			for _, w := range model {
				require.True(t, q.queued(w))
			}
		}
		for _, w := range model {
			require.Same(t, w, q.popFront().w)
		}
		require.Nil(t, q.popFront().w)
		require.Nil(t, q.popBack())
	}
}

// TestWaitQueueRemovingBehindAStuckWaiterStaysBounded: a waiter that waits
// forever at the front while a million others queue behind it and give up
// one by one must not make the ring grow.
func TestWaitQueueRemovingBehindAStuckWaiterStaysBounded(t *testing.T) {
	var q waitQueue[int]
	stuck := &poolWaiter[int]{}
	q.pushBack(stuck)
	prev := &poolWaiter[int]{}
	q.pushBack(prev)
	for range 1_000_000 {
		w := &poolWaiter[int]{}
		q.pushBack(w)
		q.remove(prev) // gives up while a later waiter is queued
		prev = w
	}
	require.Equal(t, 2, q.n)
	require.LessOrEqual(t, len(q.ring), 8)
	require.Same(t, stuck, q.popFront().w)
	require.Same(t, prev, q.popFront().w)
}

func TestWaitQueueRemovingAWaiterNotQueuedPanics(t *testing.T) {
	var q waitQueue[int]
	w := &poolWaiter[int]{}
	require.Panics(t, func() { q.remove(w) })
	q.pushBack(w)
	q.popFront()
	require.Panics(t, func() { q.remove(w) })
}

// TestWaitQueueLetsGoOfALargeRingOnceEmpty: after a burst of waiters the
// queue does not keep a ring sized for the burst, whichever way the last
// waiter left; a small ring is kept for the next wait.
func TestWaitQueueLetsGoOfALargeRingOnceEmpty(t *testing.T) {
	for _, leave := range []string{"served", "gave up"} {
		var q waitQueue[int]
		ws := make([]*poolWaiter[int], 4*maxIdleRing)
		for i := range ws {
			ws[i] = &poolWaiter[int]{}
			q.pushBack(ws[i])
		}
		require.Greater(t, len(q.ring), maxIdleRing)
		for _, w := range ws {
			if leave == "served" {
				require.Same(t, w, q.popFront().w)
			} else {
				q.remove(w)
			}
		}
		require.Nil(t, q.ring, leave)
		require.Nil(t, q.popFront().w, leave)
		w := &poolWaiter[int]{}
		q.pushBack(w)
		require.Same(t, w, q.popFront().w, "usable again")
		require.Len(t, q.ring, 8, "a small ring is kept")
	}
}
