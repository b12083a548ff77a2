package scope_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
)

// Past its eight inline entries a Scope keeps cleanups in chunks of 64.
// These tests cross those edges: 8, 8+64, 8+128...

// orderLog records the numbers of the cleanups that ran, in order.
type orderLog struct {
	mu  sync.Mutex
	ran []int
}

func (l *orderLog) cleanup(i int) func() error {
	return func() error {
		l.mu.Lock()
		l.ran = append(l.ran, i)
		l.mu.Unlock()
		return nil
	}
}

func (l *orderLog) take() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.ran
	l.ran = nil
	return r
}

// newestFirst returns ids in reverse.
func newestFirst(ids []int) []int {
	r := slices.Clone(ids)
	slices.Reverse(r)
	return r
}

func TestChunkEdgesKeepTheOrder(t *testing.T) {
	for _, n := range []int{7, 8, 9, 71, 72, 73, 135, 136, 137, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var l orderLog
			var s scope.Scope
			ids := make([]int, n)
			for i := range n {
				ids[i] = i
				s.Defer(l.cleanup(i))
			}
			assert.Equal(t, n, s.Len())
			require.NoError(t, s.Close())
			assert.Equal(t, newestFirst(ids), l.take())
			assert.Zero(t, s.Len())
		})
	}
}

// TestHandlesTakeEntriesOutOfChunks registers cleanups, then cancels and
// runs them at random positions of the Scope (inline entries, first,
// middle and last entries of chunks, chunks emptied and merged), in phases
// of growth and of shrinking, and checks it against a slice: Len, which
// cleanups ran, and the order of the rest at Close.
func TestHandlesTakeEntriesOutOfChunks(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var l orderLog
		var s scope.Scope
		type pending struct {
			id int
			h  scope.Handle
		}
		var model []pending
		next := 0
		for range 8 {
			for target := 50 + rng.IntN(300); len(model) < target; next++ {
				model = append(model, pending{next, s.Defer(l.cleanup(next))})
			}
			for low := rng.IntN(len(model) / 2); len(model) > low; {
				k := rng.IntN(len(model))
				if rng.IntN(4) == 0 { // at a chunk edge
					k = min(len(model)-1, [...]int{0, 7, 8, 71, 72, 73, 135, 136}[rng.IntN(8)])
				}
				p := model[k]
				model = slices.Delete(model, k, k+1)
				if rng.IntN(2) == 0 {
					require.True(t, p.h.Cancel(), "cancel of %d", p.id)
					require.Empty(t, l.take())
				} else {
					require.NoError(t, p.h.Run())
					require.Equal(t, []int{p.id}, l.take())
				}
				require.False(t, p.h.Cancel(), "a taken entry is gone")
				require.Equal(t, len(model), s.Len())
			}
		}
		require.NoError(t, s.Close())
		want := make([]int, len(model))
		for i, p := range model {
			want[i] = p.id
		}
		require.Equal(t, newestFirst(want), l.take(), "seed %d", seed)
	}
}

// TestCleanupsRegisteredDuringCloseCrossChunks has a cleanup in the middle
// of a chunk register enough new ones, while the Scope closes, to fill
// chunks of their own: they run next, newest first, then the older ones.
func TestCleanupsRegisteredDuringCloseCrossChunks(t *testing.T) {
	var l orderLog
	var s scope.Scope
	var want []int
	for i := range 150 {
		if i == 100 {
			s.DeferFunc(func() {
				for j := 1000; j < 1150; j++ {
					s.Defer(l.cleanup(j))
				}
				s.DeferFunc(func() {
					for j := 2000; j < 2070; j++ {
						s.Defer(l.cleanup(j))
					}
				})
			})
			continue
		}
		s.Defer(l.cleanup(i))
	}
	for i := 149; i > 100; i-- {
		want = append(want, i)
	}
	for j := 2069; j >= 2000; j-- {
		want = append(want, j)
	}
	for j := 1149; j >= 1000; j-- {
		want = append(want, j)
	}
	for i := 99; i >= 0; i-- {
		want = append(want, i)
	}
	require.NoError(t, s.Close())
	assert.Equal(t, want, l.take())
}

// TestConcurrentRegistrationDuringCloseAcrossChunks registers from other
// goroutines while Close runs a large Scope: whatever lands while it
// closes runs before Close returns, and what comes after runs at once;
// each cleanup exactly once.
func TestConcurrentRegistrationDuringCloseAcrossChunks(t *testing.T) {
	const goroutines, each, old = 4, 300, 200
	var runs [goroutines*each + old]atomic.Int32
	var registered atomic.Int32
	var s scope.Scope
	for i := range old {
		s.DeferFunc(func() {
			runs[goroutines*each+i].Add(1)
			if i == old/2 {
				// Hold the unwinding until the others registered plenty
				// into a closing Scope.
				for registered.Load() < goroutines*each/2 {
					runtime.Gosched()
				}
			}
		})
	}
	var wg sync.WaitGroup
	closing := make(chan struct{})
	s.DeferFunc(func() { close(closing) })
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-closing
			for i := range each {
				n := &runs[g*each+i]
				s.DeferFunc(func() { n.Add(1) })
				registered.Add(1)
			}
		}()
	}
	require.NoError(t, s.Close())
	wg.Wait()
	for i := range runs {
		require.Equal(t, int32(1), runs[i].Load(), "cleanup %d", i)
	}
	assert.Zero(t, s.Len())
}

// bigCloser is large enough to be allocated on its own, so that a weak
// pointer to it tells whether it is still reachable.
type bigCloser struct{ _ [64]byte }

func (*bigCloser) Close() error { return nil }

//go:noinline
func registerWatched(s *scope.Scope, n int) ([]weak.Pointer[bigCloser], []scope.Handle) {
	ws := make([]weak.Pointer[bigCloser], n)
	hs := make([]scope.Handle, n)
	for i := range ws {
		c := &bigCloser{}
		ws[i] = weak.Make(c)
		hs[i] = s.DeferClose(c)
	}
	return ws, hs
}

// TestTakenCleanupsAreCollectable checks that neither the Scope, still in
// use, nor the chunks it gave back to their pool keep a cleanup reachable
// once it ran or was cancelled. A single collection must free them: a
// pooled chunk that kept them would hold them past one.
func TestTakenCleanupsAreCollectable(t *testing.T) {
	for _, tc := range []struct {
		name string
		take func(s *scope.Scope, hs []scope.Handle)
	}{
		{"Close", func(s *scope.Scope, _ []scope.Handle) { _ = s.Close() }},
		{"Cancel", func(_ *scope.Scope, hs []scope.Handle) {
			for i := range hs { // from the middle out: entries move, chunks merge
				hs[(i*7)%len(hs)].Cancel()
			}
		}},
		{"Run", func(_ *scope.Scope, hs []scope.Handle) {
			for _, h := range hs {
				_ = h.Run()
			}
		}},
		{"Release", func(s *scope.Scope, _ []scope.Handle) { _ = s.Release().Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := new(scope.Scope)
			ws, hs := registerWatched(s, 300) // 7 is prime to 300: the Cancel walk visits all
			require.Equal(t, 300, s.Len())
			tc.take(s, hs)
			require.Zero(t, s.Len())
			runtime.GC()
			for i, w := range ws {
				require.Nil(t, w.Value(), "cleanup %d is still reachable", i)
			}
			runtime.KeepAlive(s)
		})
	}
}
