package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// A hookCall is a start or stop hook running in a goroutine of the group,
// so that the group can stop waiting for it.
type hookCall struct {
	result chan error // receives the hook's error, unless it was abandoned
	state  atomic.Int32
	run    *tracked
}

const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

// call runs fn(ctx) for e in a new goroutine of the group. If the caller
// abandons the call before fn returns, late receives fn's error instead,
// in that goroutine.
func (g *Group) call(e *entry, op string, ctx context.Context, fn func(context.Context) error, late func(error)) *hookCall {
	h := &hookCall{result: make(chan error, 1)}
	h.run = g.tracker.spawn(op, e.name, e.created, func(tag func(context.Context) context.Context) {
		err := error(&goexitError{op, e.name})
		defer func() {
			if h.state.CompareAndSwap(callRunning, callReturned) {
				h.result <- err
			} else {
				late(err)
			}
		}()
		err = invoke(e.name, op, tag(ctx), fn)
	})
	return h
}

// abandon gives up on h. It returns false if the hook has already returned:
// its result is then in h.result.
func (h *hookCall) abandon() bool {
	return h.state.CompareAndSwap(callRunning, callAbandoned)
}

// invoke calls fn, turning a panic into a *PanicError, and names the hook
// or goroutine in its error.
func invoke(name, op string, ctx context.Context, fn func(context.Context) error) error {
	return wrap(op, name, protect(name, op, ctx, fn))
}

// protect calls fn, turning a panic into a *PanicError.
func protect(name, op string, ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Name: name, Op: op, Value: v, Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx)
}

// wrap names the hook or goroutine that returned err. A *PanicError names
// it already.
func wrap(op, name string, err error) error {
	if _, ok := err.(*PanicError); ok || err == nil {
		return err
	}
	return fmt.Errorf("lifecycle: %s: %w", describe(op, name), err)
}

// goexitError is the error of a hook or goroutine that called
// runtime.Goexit (t.FailNow in a test) instead of returning.
type goexitError struct{ op, name string }

func (e *goexitError) Error() string {
	return "lifecycle: " + describe(e.op, e.name) + " called runtime.Goexit instead of returning"
}

// graceFor is how long before the end of its time a hook's context
// expires, so that a hook that returns when its context is done is not
// taken for a hung one: a tenth of d, at most 100 ms, and 100 ms when d is
// unlimited.
func graceFor(d time.Duration) time.Duration {
	const maxGrace = 100 * time.Millisecond
	if d <= 0 {
		return maxGrace
	}
	return min(d/10, maxGrace)
}

// callStart runs e's start hook with a timeout of d (<= 0: none) and
// returns its error. A hook still running shortly after its context is
// done (the timeout, the caller's context, Stop) is abandoned; if it
// returns nil later, the component is stopped then.
func (g *Group) callStart(ctx context.Context, e *entry, d time.Duration) error {
	begin := time.Now()
	grace := graceFor(d)
	hctx := ctx
	if d > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, d-grace)
		defer cancel()
	}
	g.mu.Lock()
	e.status = startingEntry
	e.lateDone = make(chan struct{}) // before lateStart can run
	g.mu.Unlock()
	h := g.call(e, opStart, hctx, e.comp.Start, func(err error) { g.lateStart(e, err) })
	select {
	case err := <-h.result:
		return withCause(ctx, err)
	case <-hctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-h.result:
		return withCause(ctx, err)
	case <-t.C:
	}
	if !h.abandon() {
		return withCause(ctx, <-h.result)
	}
	g.mu.Lock()
	e.status = lost
	g.mu.Unlock()
	te := &TimeoutError{Name: e.name, Op: opStart, Timeout: d, Stack: h.run.stack()}
	if ctx.Err() != nil { // not the timeout: the hook ran until now
		te.Timeout = time.Since(begin)
	}
	return withCause(ctx, te)
}

// withCause adds to a start hook's err why Start's ctx was cancelled (Stop,
// the caller's cause), when ctx is done and err does not say so already.
func withCause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	if errors.Is(err, cause) {
		return err
	}
	return &interruptedError{err: err, cause: cause}
}

// interruptedError is a start hook's error with why its start was
// interrupted; errors.Is sees both, and stoppedBy looks at the hook's own.
type interruptedError struct{ err, cause error }

func (e *interruptedError) Error() string {
	return fmt.Sprintf("%v (Start interrupted: %v)", e.err, e.cause)
}

func (e *interruptedError) Unwrap() []error { return []error{e.err, e.cause} }

// lateStart handles the result of a start hook that returned after it was
// abandoned. The stop that follows the failed start waits for it, within
// the component's share of the budget, to stop the component in its place
// (see stopLate). If that stop went on without it, a component that
// started late is stopped at once, here: after the components it depends
// on, but not left running.
func (g *Group) lateStart(e *entry, err error) {
	c := e.comp
	g.mu.Lock()
	e.lateErr = err
	close(e.lateDone)
	passed := e.passed
	g.mu.Unlock()
	if err != nil {
		if passed {
			// The stop went on without it: Stop's result takes the error
			// while the stop runs; after that, only a log can.
			g.mu.Lock()
			kept := g.state != stopped
			if kept {
				g.errs = append(g.errs, fmt.Errorf("lifecycle: component %q: abandoned start hook returned late: %w", c.Name, err))
			}
			g.mu.Unlock()
			if !kept {
				g.logLost("lifecycle: abandoned start hook returned late", "component", c.Name, "err", err)
				return
			}
		}
		g.log(slog.LevelWarn, "abandoned start hook returned", "component", c.Name, "err", err)
		return
	}
	if !passed {
		g.log(slog.LevelInfo, "abandoned start hook succeeded late; the stop stops the component in its place", "component", c.Name)
		return
	}
	if c.Stop == nil {
		return
	}
	g.log(slog.LevelWarn, "abandoned start hook succeeded late; stopping the component", "component", c.Name)
	d := c.StopTimeout
	if d <= 0 {
		d = g.o().stopTimeout
	}
	ctx := context.Background()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err = invoke(c.Name, opStop, ctx, c.Stop)
	g.mu.Lock()
	kept := err != nil && g.state != stopped
	if kept {
		g.errs = append(g.errs, err)
	}
	g.mu.Unlock()
	switch {
	case err != nil && !kept:
		g.logLost("lifecycle: late stop failed", "component", c.Name, "err", err)
	case err != nil:
		g.log(slog.LevelError, "late stop failed", "component", c.Name, "err", err)
	default:
		g.log(slog.LevelInfo, "component stopped", "component", c.Name)
	}
}
