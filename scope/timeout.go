package scope

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// A timedRun is one context cleanup run under a CleanupTimeout, in a
// goroutine of its own so that it can be abandoned.
type timedRun struct {
	state atomic.Int32 // running, then finished or abandoned, whichever comes first
	done  chan struct{}
	err   error
	pv    any
	end   timedEnd
}

const (
	timedRunning int32 = iota
	timedFinished
	timedAbandoned
)

// minTimedWait is the least a timed cleanup is waited for.
const minTimedWait = 10 * time.Millisecond

type timedEnd uint8

const (
	timedReturned timedEnd = iota
	timedPanicked
	timedGoexit
)

// runWithTimeout runs a context cleanup with its own deadline, the earlier
// of ctx's and d from now, and stops waiting for it once that deadline has
// passed, so that one hung cleanup (a Shutdown that ignores its context)
// cannot stall the whole unwinding. An abandoned cleanup's goroutine runs on
// until the cleanup returns; what it then returns or panics with is
// reported to slog.Default rather than lost (see reportLate).
//
// A cleanup that ends in time ends as if it had run in the caller: its
// error is returned, its panic is raised and its runtime.Goexit is repeated.
// However early its deadline, a cleanup gets at least minTimedWait to end:
// one reached after CloseContext's deadline passed starts with a done
// context, and one that honours it must get to return (or panic) in the
// caller rather than be abandoned before it ran.
func runWithTimeout(ctx context.Context, e *entry, d time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	deadline, _ := cctx.Deadline()
	limit := time.Until(deadline)
	r := &timedRun{done: make(chan struct{})}
	go r.run(cctx, e.c.(ctxFunc))
	t := time.NewTimer(max(limit, minTimedWait))
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		if r.state.CompareAndSwap(timedRunning, timedAbandoned) {
			return timeoutError(e, limit)
		}
		<-r.done // it returned just now: prefer its own result
	}
	switch r.end {
	case timedPanicked:
		panic(r.pv)
	case timedGoexit:
		runtime.Goexit()
	}
	return annotate(e, r.err)
}

func (r *timedRun) run(ctx context.Context, f ctxFunc) {
	returned := false
	defer func() {
		if !returned {
			if r.pv = recover(); r.pv != nil {
				r.end = timedPanicked
			} else {
				r.end = timedGoexit
			}
		}
		if r.state.CompareAndSwap(timedRunning, timedFinished) {
			close(r.done)
			return
		}
		// Abandoned: nobody will read the result, so it is reported.
		r.reportLate(f)
	}()
	r.err = f(ctx)
	returned = true
}

// reportLate reports what an abandoned cleanup ended with, once it ends: an
// error or a panic (with the stack that panicked, as this runs in the
// deferred call that recovered it). A late panic is not raised: Close has
// returned, and whether a cleanup is abandoned can depend on scheduling
// (one started late on a loaded machine), which must not decide whether
// the program crashes. A late Goexit ends the goroutine, as it asked.
func (r *timedRun) reportLate(f ctxFunc) {
	name := cleanupName(f)
	switch {
	case r.end == timedPanicked:
		slog.Default().Error("scope: a cleanup abandoned by CleanupTimeout panicked",
			"cleanup", name, "panic", r.pv, "stack", string(debug.Stack()))
	case r.end == timedReturned && r.err != nil:
		slog.Default().Error("scope: a cleanup abandoned by CleanupTimeout failed",
			"cleanup", name, "error", r.err)
	}
}
