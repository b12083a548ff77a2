package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// launchLocked starts the supervised goroutine of e. Caller must hold g.mu.
func (g *Group) launchLocked(e *entry) {
	ctx, cancel := context.WithCancelCause(g.runCtx)
	e.cancel = cancel
	e.status = up
	e.run = g.tracker.spawn(opGoroutine, e.name, e.created, func(tag func(context.Context) context.Context) {
		err := error(&goexitError{opGoroutine, e.name})
		defer func() { g.exited(e, err) }()
		err = g.supervise(tag(ctx), e)
	})
	g.log(slog.LevelInfo, "goroutine started", "goroutine", e.name)
}

// supervise runs e's function until it returns, restarting it if e has a
// restart policy, and returns the error that ends the goroutine: nil if it
// ended well or as it was told to stop.
func (g *Group) supervise(ctx context.Context, e *entry) error {
	if e.restart == nil {
		err := invoke(e.name, opGoroutine, ctx, e.fn)
		if ctx.Err() != nil && isStopErr(err) {
			return nil
		}
		return err
	}
	var (
		cbPanic   error // a policy callback panicked: the goroutine has failed
		afterStop error // what the last run returned once told to stop
		pending   error // a healthy run's failure, the first of a new streak
	)
	// rctx ends the restarts when OnRetry panics, during its delay.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := *e.restart
	p.AttemptTimeout = 0 // each run gets ctx, not the attempt's context
	if user := p.Retryable; user != nil {
		p.Retryable = func(err error) (retry bool) {
			defer func() {
				if v := recover(); v != nil {
					cbPanic = &PanicError{Name: e.name, Op: opRetryable, Value: v, Stack: string(debug.Stack())}
					retry = false
				}
			}()
			return user(err)
		}
	}
	user := p.OnRetry
	p.OnRetry = func(n int, err error, delay time.Duration) {
		g.log(slog.LevelWarn, "goroutine failed; restarting", "goroutine", e.name, "attempt", n, "delay", delay, "err", err)
		if user == nil {
			return
		}
		defer func() {
			if v := recover(); v != nil {
				cbPanic = &PanicError{Name: e.name, Op: opOnRetry, Value: v, Stack: string(debug.Stack())}
				cancel(cbPanic)
			}
		}()
		user(n, err, delay)
	}
	for {
		// One call to retry.Do per failure streak: a run that stayed up
		// for e.resetAfter ends the streak, and its failure is the first
		// attempt of the next, so that the count, the elapsed time and the
		// backoff start over.
		healthy := false
		err := retry.Do(rctx, p, func(*retry.Attempt) error {
			if err := pending; err != nil {
				pending = nil
				return err
			}
			begin := time.Now()
			err := protect(e.name, opGoroutine, ctx, e.fn)
			switch {
			case ctx.Err() != nil:
				// Only what the last run returned once told to stop
				// counts after Stop: an earlier failure was going to be
				// retried.
				afterStop = err
			case err != nil && time.Since(begin) >= e.resetAfter:
				healthy, pending = true, err
				return retry.Permanent(err)
			}
			return err
		})
		switch {
		case cbPanic != nil:
			g.log(slog.LevelError, "restart policy callback panicked", "goroutine", e.name, "err", err)
			return cbPanic
		case ctx.Err() != nil:
			if isStopErr(afterStop) {
				return nil
			}
			return wrap(opGoroutine, e.name, afterStop)
		case healthy:
			g.log(slog.LevelInfo, "goroutine failed after a healthy run; its restart policy starts over", "goroutine", e.name, "err", pending)
			continue
		}
		return wrap(opGoroutine, e.name, err)
	}
}

// resetAfter returns how long a run of a goroutine restarted by p must
// last for its failure to start a new streak: p's longest delay (retry's
// default of 30 s when MaxDelay is zero), and at least minHealthy, so
// that a goroutine that fails at once is never restarted without bound.
func resetAfter(p *retry.Policy) time.Duration {
	const defaultMaxDelay = 30 * time.Second // retry.Policy's, documented
	d := p.MaxDelay
	if d == 0 && p.InitialDelay >= 0 {
		d = max(defaultMaxDelay, p.InitialDelay)
	}
	return max(d, minHealthy)
}

// minHealthy is the least a run must last to reset its restart policy.
const minHealthy = time.Second

// isStopErr reports whether err is what a goroutine returns when told to
// stop.
func isStopErr(err error) bool {
	return err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrStopped)
}

// serveLocked starts the serve goroutine of the component e. Caller must
// hold g.mu.
func (g *Group) serveLocked(e *entry) {
	serve := e.comp.serve
	e.run = g.tracker.spawn(opServe, e.name, e.created, func(func(context.Context) context.Context) {
		err := error(&goexitError{opServe, e.name})
		defer func() { g.exited(e, err) }()
		err = invoke(e.name, opServe, context.Background(), func(context.Context) error { return serve() })
	})
}

// exited handles the end of the goroutine of e, which returned err. Before
// Stop, an error is a failure, and the first failure shuts the group down;
// after it, an error joins Stop's.
func (g *Group) exited(e *entry, err error) {
	if err == nil {
		g.log(slog.LevelDebug, "goroutine returned", "goroutine", e.name)
		return
	}
	g.mu.Lock()
	g.errs = append(g.errs, err)
	if e.stopping || g.state >= stopping {
		g.mu.Unlock()
		g.log(slog.LevelError, "stop error", "err", err)
		return
	}
	first := g.failure == nil
	autoStop := false
	if first {
		g.failure = err
		g.causeLocked(err)
		close(g.failed)
		// Run drains and stops by itself; a Start in progress fails at
		// once: its hook in progress is told to give up.
		autoStop = g.state == running && !g.underRun && !g.stopClaimed
		if g.state == starting && !g.stopClaimed {
			g.cancelStart(err)
		}
	}
	g.mu.Unlock()
	g.log(slog.LevelError, "goroutine failed", "goroutine", e.name, "err", err)
	if autoStop {
		g.log(slog.LevelWarn, "shutting down after a failure")
		go g.Stop(context.Background())
	}
}
