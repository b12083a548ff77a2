package pool_test

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool"
)

type objEncoder struct {
	buf   []byte
	owner string
}

func TestZeroObjectPoolMakesAndZeroesValues(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // sync.Pool keeps what it is given
	var p pool.ObjectPool[objEncoder]
	e := p.Get()
	require.NotNil(t, e)
	e.buf = append(e.buf, "secret"...)
	e.owner = "first"
	p.Put(e)

	for range 100 {
		e := p.Get()
		assert.Equal(t, objEncoder{}, *e, "a value comes back as the zero T")
		e.owner = "later"
		p.Put(e)
	}
}

func TestObjectPoolCallsNewOnlyWhenEmptyAndResetOnPut(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // sync.Pool keeps what it is given
	var made, resets atomic.Int64
	p := pool.ObjectPool[objEncoder]{
		New: func() *objEncoder {
			made.Add(1)
			return &objEncoder{buf: make([]byte, 0, 64)}
		},
		Reset: func(e *objEncoder) bool {
			resets.Add(1)
			e.buf = e.buf[:0]
			e.owner = ""
			return true
		},
	}
	const rounds = 100
	for i := range rounds {
		e := p.Get()
		assert.Empty(t, e.owner, "reset before reuse")
		assert.Zero(t, len(e.buf))
		e.owner = fmt.Sprint("round ", i)
		e.buf = append(e.buf, e.owner...)
		p.Put(e)
	}
	assert.EqualValues(t, rounds, resets.Load())
	assert.Less(t, made.Load(), int64(rounds/2), "values are reused")
	assert.Positive(t, made.Load())
}

func TestObjectPoolDiscardsWhatResetRejects(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // sync.Pool keeps what it is given
	p := pool.ObjectPool[objEncoder]{
		Reset: func(e *objEncoder) bool {
			if cap(e.buf) > 1024 {
				return false // do not pin one large request's memory
			}
			e.buf = e.buf[:0]
			return true
		},
	}
	big := p.Get()
	big.buf = make([]byte, 1<<20)
	p.Put(big)
	for range 100 {
		e := p.Get()
		require.NotSame(t, big, e)
		assert.LessOrEqual(t, cap(e.buf), 1024)
		p.Put(e)
	}
}

func TestObjectPoolPutNilDoesNothing(t *testing.T) {
	p := pool.ObjectPool[objEncoder]{Reset: func(*objEncoder) bool { panic("Reset of nil") }}
	assert.NotPanics(t, func() { p.Put(nil) })
}

func TestObjectPoolNewReturningNilPanics(t *testing.T) {
	p := pool.ObjectPool[objEncoder]{New: func() *objEncoder { return nil }}
	assert.PanicsWithValue(t, "pool: ObjectPool.New returned nil", func() { p.Get() })
}

func TestObjectPoolAllocatesNothingInSteadyState(t *testing.T) {
	if poolRace {
		t.Skip("the race detector makes sync.Pool drop Puts at random")
	}
	p := pool.ObjectPool[objEncoder]{Reset: func(e *objEncoder) bool { e.buf = e.buf[:0]; return true }}
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		e := p.Get()
		e.buf = append(e.buf, "steady"...)
		p.Put(e)
	}))
}

func TestObjectPoolConcurrentHoldersNeverShareAValue(t *testing.T) {
	p := pool.ObjectPool[objEncoder]{Reset: func(e *objEncoder) bool { e.owner = ""; return true }}
	var wg sync.WaitGroup
	var shared atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			me := fmt.Sprint("worker ", w)
			for range 2000 {
				e := p.Get()
				if e.owner != "" {
					shared.Add(1)
				}
				e.owner = me
				if e.owner != me {
					shared.Add(1)
				}
				p.Put(e)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, shared.Load())
}

func BenchmarkObjectPoolGetPut(b *testing.B) {
	p := pool.ObjectPool[objEncoder]{Reset: func(e *objEncoder) bool { e.buf = e.buf[:0]; return true }}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := p.Get()
			e.buf = append(e.buf, "bench"...)
			p.Put(e)
		}
	})
}

// An ObjectPool of encoders that keeps their scratch space between uses, but
// not when one use made it large.
func ExampleObjectPool() {
	type encoder struct {
		scratch bytes.Buffer
	}
	encoders := pool.ObjectPool[encoder]{
		Reset: func(e *encoder) bool {
			if e.scratch.Cap() > 64<<10 {
				return false // let the collector have it
			}
			e.scratch.Reset()
			return true
		},
	}

	encode := func(words []string) string {
		e := encoders.Get()
		defer encoders.Put(e)
		for i, w := range words {
			if i > 0 {
				e.scratch.WriteByte(' ')
			}
			e.scratch.WriteString(strings.ToUpper(w))
		}
		return e.scratch.String()
	}
	fmt.Println(encode([]string{"pool", "my", "struct"}))
	fmt.Println(encode([]string{"again"}))
	// Output:
	// POOL MY STRUCT
	// AGAIN
}
