package handles_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/pool/handles"
)

// conn is a fake handle that fails the test if it is closed twice or used
// after Close.
type conn struct {
	key    string
	closed atomic.Bool
	err    error // returned by Close
}

func (c *conn) Close() error {
	if c.closed.Swap(true) {
		panic("conn " + c.key + " closed twice")
	}
	return c.err
}

// opener opens conns and remembers every one, so tests can see which are
// still open.
type opener struct {
	mu       sync.Mutex
	conns    []*conn
	closeErr error
}

func (o *opener) open(_ context.Context, key string) (*conn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := &conn{key: key, err: o.closeErr}
	o.conns = append(o.conns, c)
	return c, nil
}

// opens returns how many times key was opened.
func (o *opener) opens(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.conns {
		if c.key == key {
			n++
		}
	}
	return n
}

// live returns the keys of the conns still open, sorted.
func (o *opener) live() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	keys := []string{}
	for _, c := range o.conns {
		if !c.closed.Load() {
			keys = append(keys, c.key)
		}
	}
	slices.Sort(keys)
	return keys
}

func newCache(t *testing.T, o *opener, cfg handles.Config[string, *conn]) *handles.Cache[string, *conn] {
	t.Helper()
	if cfg.Open == nil {
		cfg.Open = o.open
	}
	h, err := handles.New(cfg)
	require.NoError(t, err)
	return h
}

func get(t *testing.T, h *handles.Cache[string, *conn], key string) handles.Ref[string, *conn] {
	t.Helper()
	r, err := h.Get(t.Context(), key)
	require.NoError(t, err)
	require.False(t, r.Value().closed.Load(), "Get returned a closed handle")
	return r
}

// janitors counts the janitor goroutines in the process.
func janitors() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte(").runJanitor("))
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	open := func(context.Context, string) (*conn, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		cfg  handles.Config[string, *conn]
		want string
	}{
		{"no Open", handles.Config[string, *conn]{}, "Config.Open"},
		{"negative IdleTimeout", handles.Config[string, *conn]{Open: open, IdleTimeout: -1}, "Config.IdleTimeout"},
		{"negative MaxOpen", handles.Config[string, *conn]{Open: open, MaxOpen: -1}, "Config.MaxOpen"},
		{"negative MaxIdle", handles.Config[string, *conn]{Open: open, MaxIdle: -1}, "Config.MaxIdle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := handles.New(tc.cfg)
			assert.Nil(t, h)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("V without Close", func(t *testing.T) {
		_, err := handles.New(handles.Config[string, int]{
			Open: func(context.Context, string) (int, error) { return 0, nil },
		})
		assert.ErrorContains(t, err, "Config.Close is required: int has no Close method")
	})
}

func TestCacheGetSharesOneHandlePerKey(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{})
	a1 := get(t, h, "a")
	a2 := get(t, h, "a")
	b := get(t, h, "b")
	assert.Same(t, a1.Value(), a2.Value())
	assert.NotSame(t, a1.Value(), b.Value())
	assert.Equal(t, 1, o.opens("a"))

	s := h.Stats()
	assert.Equal(t, handles.Stats{Open: 2, Held: 2, Refs: 3, Hits: 1, Misses: 2}, s)

	require.NoError(t, a1.Close())
	require.NoError(t, b.Close())
	s = h.Stats()
	assert.Equal(t, 1, s.Held)
	assert.Equal(t, 1, s.Idle)
	assert.Equal(t, 1, s.Refs)
	assert.Equal(t, []string{"a", "b"}, o.live(), "without IdleTimeout or MaxOpen, idle handles stay open")

	require.NoError(t, a2.Close())
	require.NoError(t, h.Close(t.Context()))
	assert.Empty(t, o.live())
	assert.Equal(t, handles.Stats{Hits: 1, Misses: 2}, h.Stats())
}

func TestCacheUsesTheConfiguredClose(t *testing.T) {
	var closed []int
	h, err := handles.New(handles.Config[int, int]{
		Open:  func(_ context.Context, key int) (int, error) { return key * 10, nil },
		Close: func(v int) error { closed = append(closed, v); return nil },
	})
	require.NoError(t, err)
	r, err := h.Get(t.Context(), 4)
	require.NoError(t, err)
	assert.Equal(t, 40, r.Value())
	require.NoError(t, r.Close())
	require.NoError(t, h.Close(t.Context()))
	assert.Equal(t, []int{40}, closed)
}

func TestRefClosedTwiceNeverReleasesAnotherReference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: time.Second})
		mine := get(t, h, "a")
		theirs := get(t, h, "a")
		copied := mine

		require.NoError(t, mine.Close())
		assert.ErrorIs(t, copied.Close(), handles.ErrRefClosed)
		assert.ErrorIs(t, mine.Close(), handles.ErrRefClosed)
		assert.PanicsWithValue(t, "handles: Ref used after Close", func() { copied.Value() })

		// The next Get reuses mine's slot; the stale copy still cannot
		// release it.
		next := get(t, h, "a")
		assert.ErrorIs(t, copied.Close(), handles.ErrRefClosed)
		assert.Equal(t, 2, h.Stats().Refs)

		time.Sleep(time.Hour)
		assert.Equal(t, []string{"a"}, o.live(), "a held handle was closed")
		assert.NotPanics(t, func() { next.Value() })
		require.NoError(t, theirs.Close())
		require.NoError(t, next.Close())
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestZeroRefIsClosed(t *testing.T) {
	var r handles.Ref[string, *conn]
	assert.ErrorIs(t, r.Close(), handles.ErrRefClosed)
	assert.Panics(t, func() { r.Value() })
}

func TestCacheClosesIdleHandlesAfterIdleTimeoutFromTheLastRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: 10 * time.Second})
		r := get(t, h, "a")
		time.Sleep(time.Minute) // held: never expires
		synctest.Wait()
		assert.Equal(t, []string{"a"}, o.live())

		require.NoError(t, r.Close())
		time.Sleep(8 * time.Second)
		r = get(t, h, "a") // reused before expiry: the delay starts over
		assert.Equal(t, 1, o.opens("a"))
		time.Sleep(time.Second)
		require.NoError(t, r.Close())

		time.Sleep(10*time.Second - 1)
		synctest.Wait()
		assert.Equal(t, []string{"a"}, o.live(), "closed before its idle delay")
		time.Sleep(time.Nanosecond) // the instant the delay ends
		synctest.Wait()
		assert.Empty(t, o.live(), "still open after its idle delay")
		assert.Equal(t, uint64(1), h.Stats().IdleEvictions)
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheRunsOneJanitorOnlyWhileHandlesAreIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 10 * time.Second
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: idle})
		a, b := get(t, h, "a"), get(t, h, "b")
		synctest.Wait()
		assert.Zero(t, janitors(), "nothing idle yet")

		require.NoError(t, a.Close())
		time.Sleep(time.Second)
		require.NoError(t, b.Close())
		synctest.Wait()
		assert.Equal(t, 1, janitors(), "one janitor for all idle handles")

		time.Sleep(idle - time.Second) // a expires; b is still idle
		synctest.Wait()
		assert.Equal(t, []string{"b"}, o.live())
		assert.Equal(t, 1, janitors())

		time.Sleep(time.Second) // b expires: nothing is idle any more
		synctest.Wait()
		assert.Empty(t, o.live())
		assert.Zero(t, janitors(), "janitor outlived the last idle handle")

		// Taken again before expiry: the janitor exits at its next wake-up.
		a = get(t, h, "a")
		require.NoError(t, a.Close())
		synctest.Wait()
		assert.Equal(t, 1, janitors())
		a = get(t, h, "a")
		time.Sleep(idle)
		synctest.Wait()
		assert.Zero(t, janitors())
		assert.Equal(t, []string{"a"}, o.live())
		require.NoError(t, a.Close())
		require.NoError(t, h.Close(t.Context()))
		assert.Zero(t, janitors())
	})
}

func TestCachesWithoutIdleTimeoutRunNoJanitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{MaxOpen: 4})
		require.NoError(t, get(t, h, "a").Close())
		synctest.Wait()
		assert.Zero(t, janitors())
		time.Sleep(24 * time.Hour)
		assert.Equal(t, []string{"a"}, o.live())
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheMaxOpenEvictsTheLeastRecentlyReleasedIdleHandle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{MaxOpen: 2, IdleTimeout: time.Hour})
		a, b := get(t, h, "a"), get(t, h, "b")
		require.NoError(t, b.Close()) // released first, although opened last
		time.Sleep(time.Second)
		require.NoError(t, a.Close())

		c := get(t, h, "c")
		assert.Equal(t, []string{"a", "c"}, o.live())
		assert.Equal(t, uint64(1), h.Stats().MaxOpenEvictions)
		require.NoError(t, c.Close())
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheMaxOpenClosesAHandleEvictedWhileHeldOnItsLastRelease(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{MaxOpen: 2, IdleTimeout: time.Hour})
	a, b := get(t, h, "a"), get(t, h, "b")
	a2 := get(t, h, "a")
	c := get(t, h, "c") // every handle is held: open beyond MaxOpen rather than wait
	assert.Equal(t, []string{"a", "b", "c"}, o.live())
	assert.Equal(t, 3, h.Stats().Open)

	require.NoError(t, a.Close())
	assert.Equal(t, []string{"a", "b", "c"}, o.live(), "closed while still held")
	require.NoError(t, a2.Close()) // last reference: over MaxOpen, so closed now
	assert.Equal(t, []string{"b", "c"}, o.live())
	require.NoError(t, b.Close()) // within MaxOpen again: kept idle
	assert.Equal(t, []string{"b", "c"}, o.live())

	s := h.Stats()
	assert.Equal(t, uint64(1), s.MaxOpenEvictions)
	assert.Equal(t, 2, s.Open)
	assert.Equal(t, 1, s.Idle)
	require.NoError(t, c.Close())
	require.NoError(t, h.Close(t.Context()))
	assert.Empty(t, o.live())
}

// blockingOpener opens conns only when told to, so that tests can line up
// Gets behind an Open in flight.
type blockingOpener struct {
	opener
	calls   atomic.Int32
	release chan error // receives the result of each Open
}

func (b *blockingOpener) open(ctx context.Context, key string) (*conn, error) {
	b.calls.Add(1)
	select {
	case err := <-b.release:
		if err != nil {
			return nil, err
		}
		return b.opener.open(ctx, key)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// getAsync runs Get in a goroutine and returns a channel with its result.
type result struct {
	ref handles.Ref[string, *conn]
	err error
}

func getAsync(ctx context.Context, h *handles.Cache[string, *conn], key string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := h.Get(ctx, key)
		ch <- result{r, err}
	}()
	return ch
}

func TestCacheConcurrentGetsOfAMissingKeyOpenItOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blockingOpener{release: make(chan error)}
		h := newCache(t, &b.opener, handles.Config[string, *conn]{Open: b.open})
		var results []<-chan result
		for range 10 {
			results = append(results, getAsync(t.Context(), h, "a"))
		}
		synctest.Wait()
		assert.Equal(t, int32(1), b.calls.Load())

		b.release <- nil
		var first *conn
		for _, ch := range results {
			res := <-ch
			require.NoError(t, res.err)
			if first == nil {
				first = res.ref.Value()
			}
			assert.Same(t, first, res.ref.Value())
			require.NoError(t, res.ref.Close())
		}
		s := h.Stats()
		assert.Equal(t, uint64(1), s.Misses)
		assert.Equal(t, uint64(9), s.Hits)
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheGetWaitingForAnOpenHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blockingOpener{release: make(chan error)}
		h := newCache(t, &b.opener, handles.Config[string, *conn]{Open: b.open})
		opener := getAsync(t.Context(), h, "a")
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := h.Get(ctx, "a")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "handles: waiting for handle a to open")

		b.release <- nil
		res := <-opener
		require.NoError(t, res.err)
		require.NoError(t, res.ref.Close())
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheOpenErrorGoesToEveryWaiterAndIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDown := errors.New("host down")
		b := &blockingOpener{release: make(chan error)}
		h := newCache(t, &b.opener, handles.Config[string, *conn]{Open: b.open})
		var results []<-chan result
		for range 3 {
			results = append(results, getAsync(t.Context(), h, "a"))
		}
		synctest.Wait()
		b.release <- errDown
		for _, ch := range results {
			assert.ErrorIs(t, (<-ch).err, errDown)
		}
		assert.Equal(t, int32(1), b.calls.Load())

		next := getAsync(t.Context(), h, "a")
		synctest.Wait()
		assert.Equal(t, int32(2), b.calls.Load(), "the error was cached")
		b.release <- nil
		res := <-next
		require.NoError(t, res.err)
		require.NoError(t, res.ref.Close())

		s := h.Stats()
		assert.Equal(t, uint64(1), s.OpenErrors)
		assert.Equal(t, uint64(2), s.Misses)
		assert.Equal(t, 1, s.Open)
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheWaitersRetryWhenTheOpeningGetIsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blockingOpener{release: make(chan error)}
		h := newCache(t, &b.opener, handles.Config[string, *conn]{Open: b.open})
		ctx, cancel := context.WithCancel(t.Context())
		first := getAsync(ctx, h, "a")
		synctest.Wait()
		waiter := getAsync(t.Context(), h, "a")
		synctest.Wait()

		cancel()
		assert.ErrorIs(t, (<-first).err, context.Canceled)
		synctest.Wait()
		assert.Equal(t, int32(2), b.calls.Load(), "the waiter did not open it itself")
		b.release <- nil
		res := <-waiter
		require.NoError(t, res.err)
		require.NoError(t, res.ref.Close())
		require.NoError(t, h.Close(t.Context()))
	})
}

func TestCacheOpenPanicLetsWaitersRetry(t *testing.T) {
	var calls atomic.Int32
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{
		Open: func(ctx context.Context, key string) (*conn, error) {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return o.open(ctx, key)
		},
	})
	assert.PanicsWithValue(t, "boom", func() { _, _ = h.Get(t.Context(), "a") })
	assert.Equal(t, 0, h.Stats().Open)
	r := get(t, h, "a")
	require.NoError(t, r.Close())
	require.NoError(t, h.Close(t.Context()))
}

func TestCacheCloseClosesIdleHandlesAndWaitsForHolders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: time.Hour})
		require.NoError(t, get(t, h, "idle").Close())
		held := get(t, h, "held")

		closed := make(chan error, 1)
		go func() { closed <- h.Close(t.Context()) }()
		synctest.Wait()
		assert.Equal(t, []string{"held"}, o.live())
		_, err := h.Get(t.Context(), "held")
		assert.ErrorIs(t, err, handles.ErrClosed)
		assert.Zero(t, janitors())

		time.Sleep(time.Minute)
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while a reference was held", err)
		default:
		}
		require.NoError(t, held.Close())
		require.NoError(t, <-closed)
		assert.Empty(t, o.live())
		require.NoError(t, h.Close(t.Context()), "second Close")
	})
}

func TestCacheCloseWaitsForAnOpenInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blockingOpener{release: make(chan error)}
		h := newCache(t, &b.opener, handles.Config[string, *conn]{Open: b.open})
		res := getAsync(t.Context(), h, "a")
		synctest.Wait()
		closed := make(chan error, 1)
		go func() { closed <- h.Close(t.Context()) }()
		synctest.Wait()

		b.release <- nil
		assert.ErrorIs(t, (<-res).err, handles.ErrClosed)
		require.NoError(t, <-closed)
		assert.Empty(t, b.live())
	})
}

func TestCacheCloseGivesUpOnLateHoldersAndReportsWhereTheyGotTheirReferences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		h := newCache(t, &o, handles.Config[string, *conn]{TrackHolders: true})
		a1, a2, b := get(t, h, "a"), get(t, h, "a"), get(t, h, "b")
		time.Sleep(time.Minute)

		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := h.Close(ctx)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "handles: Cache.Close gave up waiting (3 references still held)")
		assert.Empty(t, o.live(), "late handles are closed")

		var late []*handles.HeldError
		for _, e := range multierr.Errors(err) {
			var he *handles.HeldError
			if errors.As(e, &he) {
				late = append(late, he)
			}
		}
		require.Len(t, late, 3)
		var keys []string
		for _, he := range late {
			keys = append(keys, he.Key.(string))
			assert.Equal(t, time.Minute+5*time.Second, he.Held)
			assert.Contains(t, he.Stack(), "TestCacheCloseGivesUpOnLateHolders")
			assert.Contains(t, he.Error(), "still held after 1m5s, acquired at:\n")
			assert.Contains(t, he.Error(), "cache_test.go:")
		}
		slices.Sort(keys)
		assert.Equal(t, []string{"a", "a", "b"}, keys)

		// The late holders let go afterwards: harmless.
		assert.True(t, a1.Value().closed.Load())
		require.NoError(t, a1.Close())
		require.NoError(t, a2.Close())
		require.NoError(t, b.Close())
		assert.Equal(t, handles.Stats{Misses: 2, Hits: 1}, h.Stats())
	})
}

func TestCacheCloseSaysWhenHolderStacksWereNotRecorded(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{})
	r := get(t, h, "a")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := h.Close(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	var he *handles.HeldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "handles: handle a still held (acquire stack not recorded: set Config.TrackHolders)", he.Error())
	assert.Empty(t, he.Stack())
	require.NoError(t, r.Close())
}

func TestCacheNeverDropsCloseErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	// evictBoth closes a and b in the background (through MaxOpen), then
	// c through Cache.Close.
	evictBoth := func(t *testing.T, cfg handles.Config[string, *conn]) error {
		o := opener{closeErr: errDisk}
		cfg.MaxOpen = 1
		h := newCache(t, &o, cfg)
		for _, key := range []string{"a", "b", "c"} {
			require.NoError(t, get(t, h, key).Close())
		}
		assert.Equal(t, uint64(2), h.Stats().CloseErrors)
		err := h.Close(t.Context())
		assert.Equal(t, uint64(3), h.Stats().CloseErrors)
		return err
	}

	t.Run("returned by Close without a handler", func(t *testing.T) {
		err := evictBoth(t, handles.Config[string, *conn]{})
		errs := multierr.Errors(err)
		require.Len(t, errs, 3)
		for _, e := range errs {
			assert.ErrorIs(t, e, errDisk)
		}
		assert.ErrorContains(t, err, "handles: close handle c: disk full")
		assert.ErrorContains(t, err, "handles: close handle a: disk full")
	})
	t.Run("OnCloseError", func(t *testing.T) {
		var seen []string
		err := evictBoth(t, handles.Config[string, *conn]{
			OnCloseError: func(key string, err error) {
				assert.Equal(t, errDisk, err)
				seen = append(seen, key)
			},
		})
		assert.Equal(t, []string{"a", "b", "c"}, seen)
		assert.Equal(t, "handles: close handle c: disk full", err.Error(), "Close returns the errors of its own closes")
	})
	t.Run("Logger", func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		err := evictBoth(t, handles.Config[string, *conn]{Logger: logger})
		assert.ErrorIs(t, err, errDisk)
		want := ""
		for _, key := range []string{"a", "b", "c"} {
			want += fmt.Sprintf("level=ERROR msg=\"handles: closing handle failed\" key=%s error=\"disk full\"\n", key)
		}
		assert.Equal(t, want, buf.String())
	})
	t.Run("kept errors are bounded", func(t *testing.T) {
		o := opener{closeErr: errDisk}
		h := newCache(t, &o, handles.Config[string, *conn]{MaxOpen: 1})
		for i := range 30 {
			require.NoError(t, get(t, h, fmt.Sprint(i)).Close())
		}
		err := h.Close(t.Context())
		errs := multierr.Errors(err)
		require.Len(t, errs, 16+1+1) // kept, the count of the rest, Close's own
		assert.ErrorContains(t, err, "handles: 13 more handle close errors (not kept)")
		assert.Equal(t, uint64(30), h.Stats().CloseErrors)
	})
}

func TestCacheGetOnAnOpenHandleAllocatesNothing(t *testing.T) {
	t.Cleanup(track.Set(track.Off)) // the claim is about untracked references; TestMain forces tracking
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: time.Hour, MaxOpen: 8})
	keys := []string{"a", "b", "c", "d"}
	for _, k := range keys {
		require.NoError(t, get(t, h, k).Close())
	}
	held := get(t, h, "a")
	ctx := t.Context()
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		r, err := h.Get(ctx, keys[i%len(keys)])
		if err != nil || r.Close() != nil {
			panic("unexpected error")
		}
		i++
	})
	assert.Zero(t, allocs)
	require.NoError(t, held.Close())
	require.NoError(t, h.Close(ctx))
}

// TestCacheConcurrentUse hammers a small cache from many goroutines; run
// under -race, it checks the locking, and the conns check that no handle is
// used after Close or closed twice.
func TestCacheConcurrentUse(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{IdleTimeout: 50 * time.Microsecond, MaxOpen: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprint((g + i) % 5)
				r, err := h.Get(t.Context(), key)
				if !assert.NoError(t, err) {
					return
				}
				assert.False(t, r.Value().closed.Load())
				assert.Equal(t, key, r.Value().key)
				if i%7 == 0 {
					runtime.Gosched()
				}
				assert.False(t, r.Value().closed.Load())
				assert.NoError(t, r.Close())
			}
		})
	}
	wg.Wait()
	s := h.Stats()
	assert.LessOrEqual(t, s.Open, 3, "idle handles left beyond MaxOpen")
	require.NoError(t, h.Close(t.Context()))
	assert.Empty(t, o.live())
	s = h.Stats()
	assert.Equal(t, uint64(8*500), s.Hits+s.Misses)
	assert.Equal(t, uint64(len(o.conns)), s.Misses, "every miss opened one handle")
	assert.Zero(t, s.Open)
}

// ctxHandle closes with a context, as *pgx.Conn does.
type ctxHandle struct{ closed *atomic.Int32 }

func (c ctxHandle) Close(context.Context) error {
	c.closed.Add(1)
	return nil
}

func TestCacheUsesACloseMethodThatTakesAContext(t *testing.T) {
	var closed atomic.Int32
	h, err := handles.New(handles.Config[string, ctxHandle]{
		Open: func(context.Context, string) (ctxHandle, error) { return ctxHandle{&closed}, nil },
	})
	require.NoError(t, err)
	r, err := h.Get(t.Context(), "a")
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, h.Close(t.Context()))
	assert.EqualValues(t, 1, closed.Load())
}

func TestCacheGivenOnlyOpenDoesNotGrowWithItsKeySpace(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{})
	for i := range 100 {
		require.NoError(t, get(t, h, fmt.Sprint(i)).Close())
	}
	st := h.Stats()
	assert.Equal(t, 64, st.Open, "at most 64 idle by default")
	assert.EqualValues(t, 36, st.MaxIdleEvictions)
	assert.Len(t, o.live(), 64)
	assert.NotContains(t, o.live(), "0", "the least recently released went first")
	require.NoError(t, h.Close(t.Context()))
}

func TestCacheMaxIdleClosesTheExcessOfABurst(t *testing.T) {
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{MaxIdle: 2, IdleTimeout: time.Hour})
	var refs []handles.Ref[string, *conn]
	for i := range 5 {
		refs = append(refs, get(t, h, fmt.Sprint(i)))
	}
	for _, r := range refs {
		require.NoError(t, r.Close())
	}
	assert.Equal(t, []string{"3", "4"}, o.live())
	assert.EqualValues(t, 3, h.Stats().MaxIdleEvictions)
	require.NoError(t, h.Close(t.Context()))
}
