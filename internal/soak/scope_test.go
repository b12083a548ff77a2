package soak

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/scope"
)

var opIDs atomic.Int64

// site names a callback of one operation, so that what an operation
// injected can be told from what the others did.
func site(kind string) (prefix string, name func(string) string) {
	prefix = fmt.Sprintf("%s#%d", kind, opIDs.Add(1))
	return prefix, func(cb string) string { return prefix + "." + cb }
}

// settle marks as observed what an operation injected that no caller
// saw, when the operation ended in a panic or a Goexit: as with plain
// defers, a panic or a Goexit replaces the errors the function would have
// returned. It is not used when the operation returned normally, where an
// error nobody saw is a swallowed error.
//
// Otherwise it reports, at once and with the worker's log, what the
// operation injected that no caller saw.
func (r *run) settle(w *worker, prefix string, o ...fault.Outcome) {
	pending := r.in.Pending(func(s string) bool { return strings.HasPrefix(s, prefix+".") })
	for _, oc := range o {
		if oc.Panicked || oc.Goexited {
			for _, e := range pending {
				r.in.Observe(e)
			}
			return
		}
	}
	// What a callback did at the very end of the operation may still be on
	// its way to a log (a pool reports a late Close's panic after it
	// returns): give it a moment before calling it swallowed.
	mine := func(s string) bool { return strings.HasPrefix(s, prefix+".") }
	waitFor(time.Second, func() bool { return len(r.in.Pending(mine)) == 0 })
	for _, e := range r.in.Pending(mine) {
		r.violate(w.name, "%s: injected %s #%d at %s was never observed (swallowed)", prefix, e.Kind, e.ID, e.Site)
		r.in.Observe(e) // reported here, not again at the end
	}
}

const (
	cleanupTimeout = 30 * time.Millisecond
	closeTimeout   = 100 * time.Millisecond
	// perCallback bounds a callback that blocks without honouring a
	// deadline: fault.Options' Bound (50ms) plus Past (20ms).
	perCallback = 70 * time.Millisecond
)

// scopeWorkload fills a Scope with cleanups of every kind, each ending as
// the fault model chooses, and closes it from up to three goroutines at
// once, with Close or CloseContext. Every cleanup must run exactly once
// (failure-only cleanups at most once), every closer must return within
// its deadline, and a later Close must return nil at once.
func scopeWorkload(r *run, w *worker) {
	prefix, name := site("scope")
	var opts []scope.Option
	timed := w.rng.IntN(2) == 0
	if timed {
		opts = append(opts, scope.CleanupTimeout(cleanupTimeout))
	}
	s := scope.New(opts...)
	n := 1 + w.rng.IntN(6)
	ran := make([]atomic.Int32, n)
	failureOnly := make([]bool, n)
	for i := range n {
		cb := name(fmt.Sprint("cleanup", i))
		switch w.rng.IntN(4) {
		case 0:
			s.Defer(func() error { ran[i].Add(1); return w.doWithoutContext(r, cb) })
		case 1:
			s.DeferContext(func(ctx context.Context) error {
				ran[i].Add(1)
				return w.do(r, ctx, cb)
			})
		case 2:
			failureOnly[i] = true
			s.OnFailure(func() error { ran[i].Add(1); return w.doWithoutContext(r, cb) })
		case 3:
			s.DeferClose(closerFunc(func() error { ran[i].Add(1); return w.doWithoutContext(r, cb) }))
		}
	}

	closers := 1 + w.rng.IntN(3)
	// A cleanup ends by perCallback at the latest: a timed one at its
	// CleanupTimeout (or 10 ms past a passed deadline), one without a
	// context when its fault's bound ends.
	limit := time.Duration(n) * perCallback
	w.logf("%s: %d cleanups, %d closers, CleanupTimeout %v", prefix, n, closers, timed)
	outcomes := make([]fault.Outcome, closers)
	var wg sync.WaitGroup
	for c := range closers {
		withCtx := w.rng.IntN(2) == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[c] = r.within(w, prefix+" Close", limit, func() {
				var err error
				if withCtx {
					ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
					defer cancel()
					err = s.CloseContext(ctx)
				} else {
					err = s.Close()
				}
				r.in.Observe(err)
			})
		}()
	}
	wg.Wait()
	for c, o := range outcomes {
		w.logf("%s: closer %d: %s", prefix, c, describe(o))
	}
	r.settle(w, prefix, outcomes...)

	// An abandoned cleanup may not have started yet (its goroutine was not
	// scheduled before its deadline): it runs, late, all the same.
	waitFor(time.Second, func() bool {
		for i := range n {
			if !failureOnly[i] && ran[i].Load() == 0 {
				return false
			}
		}
		return true
	})
	for i := range n {
		got := ran[i].Load()
		switch {
		case failureOnly[i] && got > 1:
			r.violate(w.name, "%s: failure-only cleanup %d ran %d times", prefix, i, got)
		case !failureOnly[i] && got != 1:
			r.violate(w.name, "%s: cleanup %d ran %d times, want once", prefix, i, got)
		}
	}
	r.within(w, prefix+" second Close", 0, func() {
		if err := s.Close(); err != nil {
			r.violate(w.name, "%s: a second Close returned %v", prefix, err)
		}
	})
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
