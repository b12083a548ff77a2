package buffer_test

import (
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool/buffer"
)

// noGC turns the collector off for the test, so that sync.Pool keeps what it
// is given and the counters can be checked exactly.
func noGC(t *testing.T) {
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// classCap is the largest capacity Get(n) may hand out when n is at most the
// pool's MaxSize: just under twice n rounded up to a power of two.
func classCap(n int) int {
	c := 64
	if n > 64 {
		c = 1 << bits.Len(uint(n-1))
	}
	return 2*c - 1
}

func TestNewPoolRejectsInvalidLimitsNamingThem(t *testing.T) {
	for _, tc := range []struct {
		opts []buffer.Option
		name string
	}{
		{[]buffer.Option{buffer.MaxSize(63)}, "MaxSize"},
		{[]buffer.Option{buffer.MaxSize(-1)}, "MaxSize"},
		{[]buffer.Option{buffer.MaxSize(1<<30 + 1)}, "MaxSize"},
		{[]buffer.Option{buffer.MaxRetained(0)}, "MaxRetained"},
		{[]buffer.Option{buffer.MaxSize(1 << 20), buffer.MaxRetained(1<<20 - 1)}, "MaxRetained"},
	} {
		p, err := buffer.NewPool(tc.opts...)
		assert.Nil(t, p)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), tc.name)
			assert.Contains(t, err.Error(), "buffer: ")
		}
	}
	_, err := buffer.NewPool(buffer.MaxSize(1<<30), buffer.MaxRetained(1<<30))
	assert.NoError(t, err, "the largest limits are accepted")
}

func TestPoolGetNegativeSizePanics(t *testing.T) {
	assert.PanicsWithValue(t, "buffer: Pool.Get with negative sizeHint -1", func() {
		buffer.Get(-1)
	})
}

func TestZeroPoolUsesTheDefaults(t *testing.T) {
	noGC(t)
	var p buffer.Pool
	b := p.Get(64 << 10)
	b.Close()
	assert.EqualValues(t, 64<<10, p.Stats().RetainedBytes, "64 KiB is kept")
	b = p.Get(64<<10 + 1)
	b.Write(make([]byte, 64<<10+1))
	b.Close()
	st := p.Stats()
	assert.EqualValues(t, 1, st.Drops, "above 64 KiB is not")
	assert.EqualValues(t, 2, st.Hits+st.Misses)
}

func TestPoolGetHandsAtLeastTheHintAndLessThanTwiceItsClass(t *testing.T) {
	p := newPool(t, buffer.MaxSize(1<<20), buffer.MaxRetained(64<<20))
	for _, n := range []int{0, 1, 63, 64, 65, 100, 1000, 1024, 1025, 4000, 65536, 1<<20 - 1, 1 << 20} {
		for range 3 { // new, then probably reused
			b := p.Get(n)
			c := cap(b.Bytes())
			assert.GreaterOrEqual(t, c, n, "Get(%d)", n)
			assert.LessOrEqual(t, c, classCap(n), "Get(%d)", n)
			assert.Zero(t, b.Len())
			b.Write(bufPattern(n, n))
			b.Close()
		}
	}
	b := p.Get(1<<20 + 1)
	assert.Equal(t, 1<<20, cap(b.Bytes()), "above MaxSize: MaxSize, as a hint is only a hint")
	b.Close()
}

func TestPoolNeverHandsASmallRequestALargeBuffer(t *testing.T) {
	noGC(t)
	p := newPool(t, buffer.MaxSize(1<<20), buffer.MaxRetained(64<<20))
	// Park large buffers, some asked for large and some that grew large
	// from a small request.
	var held []buffer.Buffer
	for i := range 16 {
		n := 1 << 20
		if i%2 == 1 {
			n = 1024
		}
		b := p.Get(n)
		b.Write(bufPattern(i, 1<<20))
		held = append(held, b)
	}
	for _, b := range held {
		b.Close()
	}
	require.EqualValues(t, 16<<20, p.Stats().RetainedBytes)

	for i := range 1000 {
		b := p.Get(1024)
		require.Less(t, cap(b.Bytes()), 2048, "request %d", i)
		b.Write(bufPattern(i, 1024))
		b.Close()
	}
}

func TestPoolReusesAGrownBufferInItsNewClass(t *testing.T) {
	noGC(t)
	reused := 0
	for range 100 {
		p := newPool(t)
		b := p.Get(64)
		b.Write(bufPattern(1, 5000))
		require.Equal(t, 8192, cap(b.Bytes()))
		mem := &b.Bytes()[:1][0]
		b.Close()
		again := p.Get(8192)
		if &again.Bytes()[:1][0] == mem {
			reused++
		}
		again.Close()
	}
	// sync.Pool may drop a Put (one in four under the race detector) or
	// miss a buffer parked on another P, but not most of the time.
	assert.Greater(t, reused, 50)
}

func TestPoolDropsBuffersAboveMaxSize(t *testing.T) {
	noGC(t)
	p := newPool(t, buffer.MaxSize(100_000)) // rounded down to 64 KiB
	big := p.Get(70_000)                     // MaxSize, then grown past it
	big.Write(make([]byte, 70_000))
	big.Close()
	grown := p.Get(1024)
	grown.Write(bufPattern(1, 100_000))
	grown.Close()
	st := p.Stats()
	assert.EqualValues(t, 2, st.Drops)
	assert.Zero(t, st.RetainedBytes)

	fits := p.Get(65536)
	fits.Close()
	st = p.Stats()
	assert.EqualValues(t, 2, st.Drops)
	assert.EqualValues(t, 65536, st.RetainedBytes)
}

func TestPoolDropsWhatTheBudgetHasNoRoomFor(t *testing.T) {
	noGC(t)
	// A budget of one MaxSize leaves a single share: exact accounting.
	p := newPool(t, buffer.MaxSize(4096), buffer.MaxRetained(4096))
	a, b, c := p.Get(2048), p.Get(2048), p.Get(1024)
	a.Close()
	b.Close()
	st := p.Stats()
	assert.EqualValues(t, 4096, st.RetainedBytes)
	assert.Zero(t, st.Drops)
	c.Close()
	st = p.Stats()
	assert.EqualValues(t, 4096, st.RetainedBytes, "full: the 1 KiB buffer is dropped")
	assert.EqualValues(t, 1, st.Drops)

	// Taking one out makes room again.
	d := p.Get(2048)
	e := p.Get(1024)
	e.Close()
	if st := p.Stats(); st.Hits == 1 {
		assert.EqualValues(t, 2048+1024, st.RetainedBytes)
	}
	d.Close()
	st = p.Stats()
	assert.LessOrEqual(t, st.RetainedBytes, int64(4096))
}

func TestPoolCountsHitsMissesAndRetainedBytes(t *testing.T) {
	noGC(t)
	p := newPool(t)
	const gets = 200
	var retained int64
	for i := range gets {
		before := p.Stats()
		b := p.Get(1000)
		after := p.Stats()
		require.EqualValues(t, 1, (after.Hits+after.Misses)-(before.Hits+before.Misses), "Get %d", i)
		if after.Hits > before.Hits {
			retained -= 1024
		}
		require.Equal(t, retained, after.RetainedBytes, "Get %d", i)
		b.Close()
		retained += 1024
		require.Equal(t, retained, p.Stats().RetainedBytes, "Close %d", i)
	}
	st := p.Stats()
	assert.EqualValues(t, gets, st.Hits+st.Misses)
	assert.Greater(t, st.Hits, uint64(gets/2))
	assert.Zero(t, st.Drops)
	assert.Zero(t, st.Collected)
}

func TestPoolAllocatesNothingInSteadyState(t *testing.T) {
	if bufferRace {
		t.Skip("the race detector makes sync.Pool drop Puts at random")
	}
	data := bufPattern(1, 1024)
	use := func(get func(int) buffer.Buffer) func() {
		return func() {
			b := get(len(data))
			b.Write(data)
			b.Close()
		}
	}
	p := newPool(t)
	assert.Zero(t, testing.AllocsPerRun(1000, use(p.Get)))
	if os.Getenv("RECLAIM_POISON") == "" {
		assert.Zero(t, testing.AllocsPerRun(1000, use(buffer.Get)))
	}
}

func TestZeroOnCloseClearsEveryCopyOfTheData(t *testing.T) {
	secret := bufPattern(7, 3000)
	isZero := func(b []byte) bool {
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
		return true
	}
	p := newPool(t, buffer.ZeroOnClose(true), buffer.MaxSize(4096))

	b := p.Get(1024)
	b.Write(secret[:1000])
	small := b.Bytes()[:1024:1024]
	b.Write(secret[1000:]) // outgrows the 1 KiB array
	assert.True(t, isZero(small), "the array left behind by growth is cleared")
	kept := b.Bytes()[:cap(b.Bytes())]
	b.Close()
	assert.True(t, isZero(kept), "a parked buffer is cleared")

	b = p.Get(0)
	b.Write(secret)
	b.Write(secret) // 6000 bytes: above MaxSize, dropped on Close
	dropped := b.Bytes()[:cap(b.Bytes())]
	b.Close()
	assert.EqualValues(t, 1, p.Stats().Drops)
	assert.True(t, isZero(dropped), "a dropped buffer is cleared")

	b = p.Get(64)
	b.Write(secret[:10])
	b.Reset()
	b.Write(secret[10:12])
	tail := b.Bytes()[:cap(b.Bytes())]
	b.Close()
	assert.True(t, isZero(tail), "bytes beyond Len, from before a Reset, are cleared")
}

func TestPoisonOnCloseCatchesEveryUseAfterClose(t *testing.T) {
	noGC(t)
	p := newPool(t, buffer.PoisonOnClose(true))

	b := p.Get(100)
	b.WriteString("data")
	kept := b.Bytes()[:4]
	b.Close()
	assert.Equal(t, []byte{0xDE, 0xDE, 0xDE, 0xDE}, kept, "a kept slice reads as poison")

	// The memory goes to the next holder, and the old Buffer stays
	// caught even then.
	next := p.Get(100)
	assert.PanicsWithValue(t, "buffer: Buffer used after Close", func() { b.WriteString("late") })
	assert.ErrorIs(t, b.Close(), buffer.ErrClosed)
	next.WriteString("next holder's data")
	assert.Equal(t, "next holder's data", next.String(), "the late calls did not touch it")
	next.Close()

	// A write through a slice kept past Close is found when the memory is
	// handed out again. (sync.Pool may let go of the memory instead, one
	// Put in four under the race detector: then try again.)
	const msg = "buffer: Buffer memory written after Close (byte 0 of 2048); was a slice from Bytes kept?"
	caught := false
	for attempt := 0; attempt < 50 && !caught; attempt++ {
		b := p.Get(2000)
		kept := b.Bytes()[:1]
		b.Close()
		kept[0] = 'x'
		func() {
			defer func() {
				if r := recover(); r != nil {
					assert.Equal(t, msg, r)
					caught = true
				}
			}()
			next := p.Get(2000)
			require.NotSame(t, &kept[0], &next.Bytes()[:1][0], "written memory handed out unnoticed")
			next.Close()
		}()
	}
	assert.True(t, caught)
}

// TestPoisonEnvironmentVariable runs this test binary again with
// RECLAIM_POISON set and checks that the default pool poisons.
func TestPoisonEnvironmentVariable(t *testing.T) {
	if os.Getenv("POOL_TEST_POISON_CHILD") == "1" {
		b := buffer.Get(100)
		b.WriteString("secret")
		kept := b.Bytes()
		b.Close()
		if string(kept) != "\xDE\xDE\xDE\xDE\xDE\xDE" {
			fmt.Printf("not poisoned: %q\n", kept)
			os.Exit(1)
		}
		return
	}
	for _, tc := range []struct {
		value    string
		poisoned bool
	}{{"1", true}, {"TRUE", true}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoisonEnvironmentVariable$")
		cmd.Env = append(os.Environ(), "POOL_TEST_POISON_CHILD=1", "RECLAIM_POISON="+tc.value)
		out, err := cmd.CombinedOutput()
		if tc.poisoned {
			assert.NoError(t, err, "RECLAIM_POISON=%q: %s", tc.value, out)
		} else {
			assert.Error(t, err, "RECLAIM_POISON=%q: %s", tc.value, out)
			assert.Contains(t, string(out), "not poisoned")
		}
	}
}

func TestPoolHandsNoBufferToTwoHoldersAtOnce(t *testing.T) {
	p := newPool(t, buffer.MaxSize(16<<10), buffer.MaxRetained(64<<10))
	const workers, rounds = 8, 500
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				n := (w*977 + i*131) % (20 << 10) // some above MaxSize
				want := bufPattern(w*rounds+i, n)
				b := p.Get(n / 2)
				b.Write(want[:n/2])
				runtime.Gosched()
				b.Write(want[n/2:])
				if got := b.Bytes(); string(got) != string(want) {
					errs <- fmt.Errorf("worker %d round %d: contents changed under its holder", w, i)
					return
				}
				b.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	assert.LessOrEqual(t, st.RetainedBytes, int64(64<<10))
	assert.EqualValues(t, workers*rounds, st.Hits+st.Misses)
}

func TestPoolForgetsBuffersTheCollectorFreed(t *testing.T) {
	p := newPool(t)
	for range 8 {
		b := p.Get(4096)
		b.Close()
	}
	require.Positive(t, p.Stats().RetainedBytes)
	// sync.Pool lets go of its contents over two collections; the cleanups
	// run shortly after the one that frees them.
	for i := 0; p.Stats().RetainedBytes > 0; i++ {
		require.Less(t, i, 100, "parked buffers were never accounted as collected: %+v", p.Stats())
		runtime.GC()
		runtime.Gosched()
	}
	st := p.Stats()
	assert.Zero(t, st.RetainedBytes)
	assert.Positive(t, st.Collected)
}

// TestPoolGivesMemoryBackAfterABurst checks that the pool does not
// hoard: a burst of large buffers fills the budget, and steady small traffic
// afterwards, through the collections its own allocations cause, brings the
// parked bytes down to a fraction of the budget and the heap back to where
// it was.
func TestPoolGivesMemoryBackAfterABurst(t *testing.T) {
	const large, budget = 256 << 10, 4 << 20
	p := newPool(t, buffer.MaxSize(large), buffer.MaxRetained(budget))
	// heap measures the live heap after one collection, which frees garbage
	// but leaves what sync.Pools hold (they move it to their victim cache).
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	runtime.GC() // let earlier tests' pools drop what they hold
	runtime.GC()
	before := heap()

	burst := make([]buffer.Buffer, 4*budget/large) // four times the budget at once
	for i := range burst {
		burst[i] = p.Get(large)
		burst[i].Write(bufPattern(i, large))
	}
	for _, b := range burst {
		b.Close()
	}
	clear(burst)
	st := p.Stats()
	require.LessOrEqual(t, st.RetainedBytes, int64(budget))
	require.GreaterOrEqual(t, st.RetainedBytes, int64(budget/2), "the burst filled the budget: %+v", st)
	require.GreaterOrEqual(t, st.Drops, uint64(len(burst)-budget/large))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	require.Greater(t, ms.HeapAlloc, before+budget/2, "the parked buffers are on the heap")

	// The budget is full of large buffers, so the small ones are dropped and
	// each request allocates until the collector has taken the large ones.
	// (Under the race detector sync.Pool also drops Puts at random, which
	// keeps some small buffers counted until the next collection: hence a
	// quarter of the budget rather than one small buffer.)
	small := bufPattern(1, 1024)
	for i := 0; p.Stats().RetainedBytes > budget/4; i++ {
		require.Less(t, i, 2_000_000, "small traffic never brought the parked bytes down: %+v", p.Stats())
		b := p.Get(len(small))
		b.Write(small)
		b.Close()
		if i%1024 == 0 {
			runtime.Gosched() // let the cleanup goroutine run
		}
	}
	st = p.Stats()
	assert.GreaterOrEqual(t, st.Collected, uint64(budget/2/large), "the parked large buffers were collected")
	assert.Less(t, heap(), before+budget/2, "the burst's memory went back to the heap: %+v", st)
}
