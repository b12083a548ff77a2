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

	o := runPhase(r, w, prefix, 2*perCallback, time.Duration(keys)*perCallback,
		func(g int, timeout time.Duration) func() bool {
			rng, i := w.rng.Uint64(), uint64(0)
			return func() bool {
				i++
				return useFile(r, w, c, prefix, int((rng+i*7919)%uint64(keys)), timeout)
			}
		}, c.Close)
	checkClosed(r, w, prefix, &mu, &files)
	r.settle(w, prefix, o)
}

func (fl *file) isClosed() bool { return fl.closed.Load() != 0 }

func (fl *file) forceClose() string {
	_ = fl.f.Close()
	return fmt.Sprintf("file %d", fl.key)
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
