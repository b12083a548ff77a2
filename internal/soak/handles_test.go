package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/pool/handles"
)

// file is a cached temp file with the soak's bookkeeping: how many holders
// use it and how many times it was closed.
type file struct {
	key     int
	f       *os.File
	holders atomic.Int32
	closed  atomic.Int32
}

// handlesWorkload runs one phase of a handles.Cache of real temp files under
// MaxOpen: a few goroutines get random keys (with short deadlines), write a
// line, and close their Refs, while Open and Close end as the fault model
// chooses; the cache is then closed, at a random moment, sometimes under its
// holders. A handle in use must never be closed, every file must be closed
// exactly once, and Close must return within its deadline.
func handlesWorkload(r *run, w *worker, dir string) {
	prefix, name := site("handles")
	var (
		mu    sync.Mutex
		files []*file
	)
	cfg := handles.Config[int, *file]{
		Open: func(ctx context.Context, key int) (*file, error) {
			if err := w.do(r, ctx, name("Open")); err != nil {
				return nil, err
			}
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(key)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return nil, err
			}
			fl := &file{key: key, f: f}
			mu.Lock()
			files = append(files, fl)
			mu.Unlock()
			return fl, nil
		},
		Close: func(fl *file) error {
			if n := fl.closed.Add(1); n > 1 {
				r.violate(w.name, "%s: file %d closed %d times", prefix, fl.key, n)
			}
			if h := fl.holders.Load(); h != 0 {
				r.violate(w.name, "%s: file %d closed while %d holders use it", prefix, fl.key, h)
			}
			_ = fl.f.Close()
			return w.doWithoutContext(r, name("Close"))
		},
		MaxOpen: 1 + w.rng.IntN(4),
	}
	if w.rng.IntN(2) == 0 {
		cfg.IdleTimeout = 10 * time.Millisecond
	}
	if w.rng.IntN(2) == 0 {
		cfg.Logger = slog.New(observer{r})
	}
	keys := 2 + w.rng.IntN(8)
	w.logf("%s: MaxOpen %d IdleTimeout %v keys %d logger %v", prefix, cfg.MaxOpen, cfg.IdleTimeout, keys, cfg.Logger != nil)
	c, err := handles.New(cfg)
	if err != nil {
		r.violate(w.name, "%s: handles.New: %v", prefix, err)
		return
	}

	end := time.Now().Add(phase)
	closeUnderHolders := w.rng.IntN(2) == 0
	var wg sync.WaitGroup
	for g := range 4 {
		timeout := []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}[w.rng.IntN(3)]
		rng := w.rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); time.Now().Before(end); i++ {
				var closed bool
				key := int((rng + i*7919) % uint64(keys))
				o := r.within(w, fmt.Sprintf("%s holder %d", prefix, g), timeout+2*perCallback, func() {
					closed = useFile(r, w, c, prefix, key, timeout)
				})
				if o != (fault.Outcome{}) {
					w.logf("%s holder %d: %s", prefix, g, describe(o))
				}
				if closed {
					return
				}
			}
		}()
	}
	if !closeUnderHolders {
		wg.Wait()
	} else {
		time.Sleep(time.Duration(w.rng.IntN(int(phase))))
	}
	limit := poolCloseLimit + time.Duration(keys)*perCallback
	o := r.within(w, prefix+" Close", limit, func() {
		ctx, cancel := context.WithTimeout(context.Background(), poolCloseLimit)
		defer cancel()
		err := c.Close(ctx)
		w.logf("%s: Close: %s", prefix, flat(err))
		r.in.Observe(err)
		r.counted(err, prefix)
	})
	wg.Wait()

	waitFor(time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, fl := range files {
			if fl.closed.Load() == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for _, fl := range files {
		if fl.closed.Load() == 0 {
			r.violate(w.name, "%s: file %d never closed", prefix, fl.key)
			_ = fl.f.Close()
		}
	}
	mu.Unlock()
	r.settle(w, prefix, o)
}

// useFile gets key's file, writes a line and gives the reference back. It
// reports whether the cache was closed.
func useFile(r *run, w *worker, c *handles.Cache[int, *file], prefix string, key int, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ref, err := c.Get(ctx, key)
	if err != nil {
		r.in.Observe(err)
		return errors.Is(err, handles.ErrClosed)
	}
	fl := ref.Value()
	fl.holders.Add(1)
	if fl.closed.Load() != 0 {
		r.violate(w.name, "%s: file %d handed out after it was closed", prefix, fl.key)
	}
	_, _ = fmt.Fprintln(fl.f, "soak")
	fl.holders.Add(-1)
	if err := ref.Close(); err != nil {
		r.in.Observe(err)
	}
	return false
}
