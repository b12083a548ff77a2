package bench

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/lock"
	"github.com/reclaim-go/reclaim/pool/handles"
)

// lockedFloor is the least a concurrency-safe stack of closers can do: the
// same lock as a Scope taken once per registration, the first eight
// entries inline, and one recover for the whole close. It keeps no sites,
// runs no failure-only cleanups and is not reusable: the floor that
// ScopeClose measures reclaim against.
type lockedFloor struct {
	mu       lock.Mutex
	inline   [8]io.Closer
	overflow []io.Closer
	n        int
}

func (f *lockedFloor) push(c io.Closer) {
	f.mu.Lock()
	if f.n < len(f.inline) {
		f.inline[f.n] = c
	} else {
		f.overflow = append(f.overflow, c)
	}
	f.n++
	f.mu.Unlock()
}

func (f *lockedFloor) close() (err error) {
	f.mu.Lock()
	n := f.n
	f.n = 0
	f.mu.Unlock()
	var pv any
	func() {
		defer func() { pv = recover() }()
		for i := n - 1; i >= 0; i-- {
			c := f.inline[min(i, len(f.inline)-1)]
			if i >= len(f.inline) {
				c = f.overflow[i-len(f.inline)]
			}
			err = multierr.Append(err, c.Close())
		}
	}()
	if pv != nil {
		panic(pv)
	}
	return err
}

func lockedFloorN(cs []io.Closer) error {
	var f lockedFloor
	for _, c := range cs {
		f.push(c)
	}
	return f.close()
}

// deferLoop is the hand-written idiom for a number of closers known only
// at run time: a defer per closer, in a loop.
func deferLoop(cs []io.Closer) (err error) {
	for _, c := range cs {
		defer closeInto(&err, c)
	}
	return nil
}

// BenchmarkScopeCloseN8, N64 and N1024 show the cost per cleanup staying
// flat as a Scope grows.
func BenchmarkScopeCloseN8(b *testing.B)    { benchScopeCloseN(b, 8) }
func BenchmarkScopeCloseN64(b *testing.B)   { benchScopeCloseN(b, 64) }
func BenchmarkScopeCloseN1024(b *testing.B) { benchScopeCloseN(b, 1024) }

func benchScopeCloseN(b *testing.B, n int) {
	cs := closers(n)
	for _, impl := range []struct {
		name string
		run  func([]io.Closer) error
	}{{"reclaim", reclaimN}, {"defer", deferLoop}, {"lockedfloor", lockedFloorN}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				closeSink = impl.run(cs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cleanup")
		})
	}
}

// BenchmarkPoolContendedG8, G64 and G512 run PoolContended's cycle on a
// pool of 8 from 8, 64 and 512 goroutines.
func BenchmarkPoolContendedG8(b *testing.B)   { benchPoolContendedG(b, 8) }
func BenchmarkPoolContendedG64(b *testing.B)  { benchPoolContendedG(b, 64) }
func BenchmarkPoolContendedG512(b *testing.B) { benchPoolContendedG(b, 512) }

func benchPoolContendedG(b *testing.B, goroutines int) {
	for _, impl := range poolImpls {
		if impl.name != "reclaim" && impl.name != "chan" {
			continue
		}
		b.Run(impl.name, func(b *testing.B) {
			runPoolBench(b, impl, 8, max(1, goroutines/runtime.GOMAXPROCS(0)))
		})
	}
}

// newScaleCache returns a cache holding n open, idle handles (keys 0..n-1)
// and bounded at n, so that a Get of key n or more must evict one.
func newScaleCache(b *testing.B, n int, idle time.Duration) *handles.Cache[int, *handle] {
	c, err := handles.New(handles.Config[int, *handle]{
		Open:        func(context.Context, int) (*handle, error) { return &handle{}, nil },
		IdleTimeout: idle,
		MaxOpen:     n,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for k := range n {
		r, err := c.Get(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Close()
	}
	return c
}

// BenchmarkHandlesHitN10, N10000 and N1000000: HandlesHit among N open
// handles: Get and release, from b.RunParallel goroutines, of 64 keys (all
// of them for N10) spread evenly over the N. Does holding more handles
// slow a hit down?
func BenchmarkHandlesHitN10(b *testing.B)      { benchHandlesHitN(b, 10) }
func BenchmarkHandlesHitN10000(b *testing.B)   { benchHandlesHitN(b, 10_000) }
func BenchmarkHandlesHitN1000000(b *testing.B) { benchHandlesHitN(b, 1_000_000) }

func benchHandlesHitN(b *testing.B, n int) {
	b.Run("reclaim", func(b *testing.B) {
		c := newScaleCache(b, n, time.Hour)
		defer c.Close(context.Background())
		hot := min(handlesKeys, n)
		keys := make([]int, hot)
		for i := range keys {
			keys[i] = i * (n / hot)
		}
		runHandlesHit(b, keys, hitScaleCache(c))
	})
}

// hitScaleCache returns a Get and release of a key of c, reporting a hit.
func hitScaleCache(c *handles.Cache[int, *handle]) func(k int) bool {
	ctx := context.Background()
	return func(k int) bool {
		r, err := c.Get(ctx, k)
		if err != nil {
			return false
		}
		_ = r.Close()
		return true
	}
}

// BenchmarkHandlesSpreadN10, N10000 and N1000000: a Get and release of
// every one of N open handles in turn, from one goroutine, so that at a
// million the handle and its map slot are out of the CPU caches at every
// Get. mapfloor is the least such a lookup can cost: a mutex, a Go map and
// a reference count, where the cost of the memory itself shows.
func BenchmarkHandlesSpreadN10(b *testing.B)      { benchHandlesSpreadN(b, 10) }
func BenchmarkHandlesSpreadN10000(b *testing.B)   { benchHandlesSpreadN(b, 10_000) }
func BenchmarkHandlesSpreadN1000000(b *testing.B) { benchHandlesSpreadN(b, 1_000_000) }

func benchHandlesSpreadN(b *testing.B, n int) {
	spread := func(b *testing.B, get func(k int) bool) {
		b.ReportAllocs()
		b.ResetTimer()
		k := 0
		for b.Loop() {
			if !get(k) {
				b.Fatal("miss")
			}
			k = (k + 7919) % n
		}
	}
	b.Run("reclaim", func(b *testing.B) {
		c := newScaleCache(b, n, time.Hour)
		defer c.Close(context.Background())
		spread(b, hitScaleCache(c))
	})
	b.Run("mapfloor", func(b *testing.B) {
		f := newMapFloor(n)
		spread(b, func(k int) bool {
			e := f.get(k)
			if e == nil {
				return false
			}
			e.release()
			return true
		})
	})
}

// mapFloor is a cache of open handles reduced to what a lookup cannot do
// without: a lock, a map and a reference count per handle, with the
// release time a delayed close needs.
type mapFloor struct {
	mu sync.Mutex
	m  map[int]*floorEntry
}

type floorEntry struct {
	refs     atomic.Int64
	released atomic.Int64
	value    *handle
}

func newMapFloor(n int) *mapFloor {
	f := &mapFloor{m: make(map[int]*floorEntry, n)}
	for k := range n {
		f.m[k] = &floorEntry{value: &handle{}}
	}
	return f
}

func (f *mapFloor) get(k int) *floorEntry {
	f.mu.Lock()
	e := f.m[k]
	if e != nil {
		e.refs.Add(1)
	}
	f.mu.Unlock()
	return e
}

func (e *floorEntry) release() {
	e.released.Store(time.Now().UnixNano())
	e.refs.Add(-1)
}

// BenchmarkHandlesMissN10, N10000 and N1000000: a Get of a key that is not
// open, among N open and idle handles at MaxOpen: it evicts the least
// recently released handle and opens a new one.
func BenchmarkHandlesMissN10(b *testing.B)      { benchHandlesMissN(b, 10) }
func BenchmarkHandlesMissN10000(b *testing.B)   { benchHandlesMissN(b, 10_000) }
func BenchmarkHandlesMissN1000000(b *testing.B) { benchHandlesMissN(b, 1_000_000) }

func benchHandlesMissN(b *testing.B, n int) {
	b.Run("reclaim", func(b *testing.B) {
		c := newScaleCache(b, n, time.Hour)
		defer c.Close(context.Background())
		ctx := context.Background()
		k := n // keys 0..n-1 are open; every key from n on is a miss
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r, err := c.Get(ctx, k)
			if err != nil {
				b.Fatal(err)
			}
			_ = r.Close()
			k++
		}
	})
}

// BenchmarkHandlesExpire: the janitor's cost per expired handle, with
// 100,000 handles going idle at once; reported as ns/expiry.
func BenchmarkHandlesExpire(b *testing.B) {
	const n = 100_000
	b.Run("reclaim", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			c := newScaleCache(b, n, time.Millisecond) // all released: the janitor has work
			b.StartTimer()
			start := time.Now()
			for c.Stats().Open > 0 {
				time.Sleep(100 * time.Microsecond)
			}
			total += time.Since(start)
			b.StopTimer()
			_ = c.Close(context.Background())
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/n, "ns/expiry")
	})
}
