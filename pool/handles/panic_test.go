package handles_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/pool/handles"
)

// panicOnce returns a Close that closes the conn, and panics with v the
// first time.
func panicOnce(v any) (fn func(*conn) error, calls *atomic.Int32) {
	calls = new(atomic.Int32)
	return func(c *conn) error {
		err := c.Close()
		if calls.Add(1) == 1 {
			panic(v)
		}
		return err
	}, calls
}

func TestCachePanickingCloseDuringAnEvictionLeavesNoKeyOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		closeFn, _ := panicOnce("close blew up")
		h := newCache(t, &o, handles.Config[string, *conn]{MaxOpen: 1, Close: closeFn})
		require.NoError(t, get(t, h, "a").Close())
		// Opening b evicts a, whose Close panics in the Get.
		assert.PanicsWithValue(t, "close blew up", func() { _, _ = h.Get(context.Background(), "b") })
		assert.Zero(t, h.Stats().Open)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := h.Get(ctx, "b")
		require.NoError(t, err, "b is not left opening")
		require.NoError(t, r.Close())
		require.NoError(t, h.Close(ctx), "Close drains")
		assert.Empty(t, o.live())
	})
}

func TestCachePanickingCloseInCloseStrandsNoOtherHandle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		closeFn, calls := panicOnce("close blew up")
		h := newCache(t, &o, handles.Config[string, *conn]{Close: closeFn})
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, get(t, h, k).Close())
		}
		assert.PanicsWithValue(t, "close blew up", func() { _ = h.Close(context.Background()) })
		assert.EqualValues(t, 3, calls.Load(), "the others are closed too")
		assert.Empty(t, o.live())
		require.NoError(t, h.Close(context.Background()), "a second Close finishes the work")
		_, err := h.Get(context.Background(), "a")
		require.ErrorIs(t, err, handles.ErrClosed)
	})
}

func TestCacheJanitorSurvivesAPanickingClose(t *testing.T) {
	for _, kind := range []fault.Kind{fault.Panic, fault.PanicNil, fault.Goexit} {
		t.Run(kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := fault.New(1, fault.Options{})
				var o opener
				var calls atomic.Int32
				h := newCache(t, &o, handles.Config[string, *conn]{
					IdleTimeout: time.Minute,
					Close: func(c *conn) error {
						err := c.Close()
						if calls.Add(1) == 1 {
							_ = in.PerformWithoutContext("Close", kind)
						}
						return err
					},
				})
				require.NoError(t, get(t, h, "a").Close())
				require.NoError(t, get(t, h, "b").Close())
				time.Sleep(2 * time.Minute)
				assert.Empty(t, o.live(), "both expired and closed")
				assert.EqualValues(t, 1, h.Stats().Panics)
				require.NoError(t, get(t, h, "c").Close(), "the cache still works")

				err := h.Close(context.Background())
				var pe *handles.PanicError
				require.ErrorAs(t, err, &pe, "kept for Close")
				assert.Equal(t, kind == fault.Goexit, pe.Goexit)
				in.Observe(err)
				assert.Empty(t, in.Report().Unobserved)
			})
		})
	}
}

func TestCacheCloseWithoutDeadlineLogsTheReferencesStillHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o opener
		var logs lockedLog
		h := newCache(t, &o, handles.Config[string, *conn]{
			TrackHolders: true,
			Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
		})
		r := holdForCloseLog(t, h)
		closed := make(chan error, 1)
		go func() { closed <- h.Close(context.Background()) }()
		time.Sleep(25 * time.Second)
		out := logs.String()
		assert.Equal(t, 2, strings.Count(out, "waiting for references still held"), "every 10s")
		assert.Contains(t, out, "holdForCloseLog")
		require.NoError(t, r.Close())
		require.NoError(t, <-closed)
	})
}

//go:noinline
func holdForCloseLog(t *testing.T, h *handles.Cache[string, *conn]) handles.Ref[string, *conn] {
	return get(t, h, "held")
}

// TestCacheSurvivesEveryEndingOfEveryCallback drives Open and Close through
// every ending of the fault model under callers that recover, and checks
// that the cache still serves, never hands out a closed handle, and that
// Close drains within its deadline.
func TestCacheSurvivesEveryEndingOfEveryCallback(t *testing.T) {
	for _, site := range []string{"Open", "Close"} {
		for _, k := range fault.Kinds() {
			t.Run(site+"/"+k.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { cacheFaultScenario(t, site, k) })
			})
		}
	}
}

func cacheFaultScenario(t *testing.T, site string, kind fault.Kind) {
	in := fault.New(1, fault.Options{})
	var armed atomic.Int32
	armed.Store(3)
	faulty := func(s string) bool { return s == site && armed.Add(-1) >= 0 }
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{
		Open: func(ctx context.Context, key string) (*conn, error) {
			if faulty("Open") {
				if err := in.Perform(ctx, "Open", kind); err != nil {
					return nil, err
				}
			}
			return o.open(ctx, key)
		},
		Close: func(c *conn) error {
			err := c.Close()
			if faulty("Close") {
				if ferr := in.PerformWithoutContext("Close", kind); ferr != nil {
					return ferr
				}
			}
			return err
		},
		MaxOpen:     2,
		IdleTimeout: time.Minute,
	})
	call := func(op func() error) {
		o := fault.Call(func() {
			if err := op(); err != nil {
				in.Observe(err)
			}
		})
		if o.Panicked {
			in.Recovered(o.Recovered)
		}
	}
	for round := range 4 {
		for _, k := range []string{"a", "b", "c"} {
			call(func() error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				r, err := h.Get(ctx, k)
				if err != nil {
					return err
				}
				if r.Value().closed.Load() {
					t.Errorf("round %d: Get handed out a closed handle", round)
				}
				return r.Close()
			})
		}
		time.Sleep(2 * time.Minute)
	}
	armed.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := h.Get(ctx, "a")
	require.NoError(t, err, "the cache still serves")
	require.NoError(t, r.Close())
	err = h.Close(ctx)
	in.Observe(err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Close drains within its deadline")
	assert.Empty(t, o.live())
	rep := in.Report()
	for _, e := range rep.Unobserved {
		t.Errorf("never observed: %v", e)
	}
	for _, e := range rep.Twice {
		if e.Site == "Close" || e.Kind == fault.Panic {
			t.Errorf("observed twice: %v", e)
		}
	}
}

// lockedLog is a log destination written by the cache's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
