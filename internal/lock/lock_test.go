package lock_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/lock"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestMutexExcludesUnderContention(t *testing.T) {
	var (
		mu      lock.Mutex
		counter int
		wg      sync.WaitGroup
	)
	const goroutines, rounds = 16, 2000
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				mu.Lock()
				counter++ // the race detector flags this if exclusion fails
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, goroutines*rounds, counter)
}

func TestMutexHandsOverToParkedWaiter(t *testing.T) {
	var mu lock.Mutex
	mu.Lock()
	got := make(chan struct{})
	go func() {
		mu.Lock() // parks: the holder keeps the lock well past the spinning phase
		close(got)
		mu.Unlock()
	}()
	for range 100 {
		select {
		case <-got:
			t.Fatal("waiter took a held lock")
		default:
		}
	}
	mu.Unlock()
	<-got
}

func TestUnlockOfUnlockedMutexPanics(t *testing.T) {
	var mu lock.Mutex
	require.PanicsWithValue(t, "lock: Unlock of unlocked Mutex", mu.Unlock)
}

func TestMutexOnStackDoesNotAllocate(t *testing.T) {
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		var mu lock.Mutex
		mu.Lock()
		n++
		mu.Unlock()
	})
	assert.Equal(t, 101, n)
	assert.Zero(t, allocs)
}

// relock holds and releases mu in a loop until stop is set, as a goroutine
// with a hot critical section does.
func relock(mu interface {
	Lock()
	Unlock()
}, started chan<- struct{}, stop *atomic.Bool) {
	close(started)
	for !stop.Load() {
		mu.Lock()
		for i := 0; i < 2000; i++ { // holds the lock most of the time
			sink++
		}
		mu.Unlock()
	}
}

var sink int

// A waiter against a goroutine that relocks in a loop gets the lock within
// a bound, at GOMAXPROCS 1 and 2, as with sync.Mutex. This is about the
// scheduler, so it runs in real time: synctest's clock stands still while
// goroutines run, and starvation mode is entered by elapsed time. The bound
// is generous for a shared machine; without starvation mode the waiter
// waited 100-600 ms at GOMAXPROCS=2 and never got the lock at 1.
func TestWaiterIsNotStarvedByARelockingGoroutine(t *testing.T) {
	const bound = 50 * time.Millisecond
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			var mu lock.Mutex
			var stop atomic.Bool
			started, stopped := make(chan struct{}), make(chan struct{})
			go func() { defer close(stopped); relock(&mu, started, &stop) }()
			defer func() { stop.Store(true); <-stopped }()
			<-started
			var worst time.Duration
			for range 20 {
				got := make(chan time.Duration, 1)
				go func() {
					start := time.Now()
					mu.Lock()
					got <- time.Since(start)
					mu.Unlock()
				}()
				select {
				case d := <-got:
					worst = max(worst, d)
				case <-time.After(3 * time.Second):
					t.Fatal("the waiter did not get the lock within 3s")
				}
			}
			t.Logf("worst wait %v", worst)
			assert.Less(t, worst, bound)
		})
	}
}

func BenchmarkUncontended(b *testing.B) {
	b.Run("lock.Mutex", func(b *testing.B) {
		var mu lock.Mutex
		for b.Loop() {
			mu.Lock()
			sink++
			mu.Unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			sink++
			mu.Unlock()
		}
	})
}

func BenchmarkContended(b *testing.B) {
	bench := func(b *testing.B, mu interface {
		Lock()
		Unlock()
	}) {
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				for i := 0; i < 10; i++ {
					sink++
				}
				mu.Unlock()
			}
		})
	}
	b.Run("lock.Mutex", func(b *testing.B) { bench(b, new(lock.Mutex)) })
	b.Run("sync.Mutex", func(b *testing.B) { bench(b, new(sync.Mutex)) })
}
