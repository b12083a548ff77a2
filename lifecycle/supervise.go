package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// launchLocked starts the supervised goroutine of e. Caller must hold g.mu.
func (g *Group) launchLocked(e *entry) {
	ctx, cancel := context.WithCancelCause(g.runCtx)
	e.cancel = cancel
	e.status = up
	e.run = g.tracker.spawn(opGoroutine, e.name, e.created, func() {
		err := error(&goexitError{opGoroutine, e.name})
		defer func() { g.exited(e, err) }()
		err = g.supervise(ctx, e)
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
	p := *e.restart
	p.AttemptTimeout = 0 // each run gets ctx, not the attempt's context
	user := p.OnRetry
	p.OnRetry = func(n int, err error, delay time.Duration) {
		g.log(slog.LevelWarn, "goroutine failed; restarting", "goroutine", e.name, "attempt", n, "delay", delay, "err", err)
		if user != nil {
			user(n, err, delay)
		}
	}
	// Only what the last run returned once told to stop counts after
	// Stop: an earlier failure was going to be retried.
	var afterStop error
	err := retry.Do(ctx, p, func(*retry.Attempt) error {
		err := protect(e.name, opGoroutine, ctx, e.fn)
		if ctx.Err() != nil {
			afterStop = err
		}
		return err
	})
	if ctx.Err() != nil {
		if isStopErr(afterStop) {
			return nil
		}
		return wrap(opGoroutine, e.name, afterStop)
	}
	return wrap(opGoroutine, e.name, err)
}

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
	e.run = g.tracker.spawn(opServe, e.name, e.created, func() {
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
