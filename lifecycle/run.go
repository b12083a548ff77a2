package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// SignalError is the reason [Group.Run] gives for stopping when a signal
// asked it to.
type SignalError struct {
	// Signal is the signal received: os.Interrupt or syscall.SIGTERM.
	Signal os.Signal
}

// Error names the signal.
func (e *SignalError) Error() string { return "lifecycle: received signal " + e.Signal.String() }

// ErrForced is wrapped by the error [Group.Run] returns when a second
// signal forced the stop: the stop hooks were told to hurry, and servers
// closed their connections instead of waiting for them.
var ErrForced = errors.New("lifecycle: stop forced by a signal")

// Run runs the group as the main loop of a service: it starts it, waits
// for a reason to stop, drains, stops, and returns once the group has
// stopped: nil if it stopped because it was asked to and everything stopped
// cleanly, the errors otherwise.
//
// Run starts the group as [Group.Start] does, with ctx. It then waits for
// ctx to be done, for SIGINT or SIGTERM, for a supervised goroutine or a
// server to fail, or for [Group.Stop] to be called from another goroutine.
// For all but the last, it flips readiness to not-ready ([Group.Ready],
// [Group.Readiness]) and waits the [DrainDelay], so that load balancers
// stop sending requests while the servers still take them, and then stops
// the group with what remains of the [GracePeriod] as the stop budget; a
// Stop called elsewhere stops the group with its own budget, and Run
// returns when that stop has finished.
//
// Signals received after that escalate: the next one cuts the drain short
// and forces the stop, cancelling the stop hooks' contexts (an [HTTPServer]
// then closes its connections instead of waiting for them); the one after
// that writes the stacks of all goroutines to standard error and makes Run
// return at once, leaving the stop running. A service stopped by a signal
// thus takes SIGTERM, SIGTERM, SIGTERM as graceful, forced, immediate. A
// stop called elsewhere is graceful already: the first signal during it
// forces it.
//
// Run returns nil when the group stopped because it was asked to (a
// signal, ctx, Stop) and every component and goroutine stopped cleanly, so
// that a main function can exit 1 on any error. Otherwise it returns what
// [Group.Err] returns: a failed start, the failure of a goroutine or a
// server, then the errors of the stop (hooks that failed or overran their
// share), combined with [multierr.Combine]; plus an error wrapping
// [ErrForced] for a forced stop, and one for a stop abandoned by the third
// signal. Why the group stopped, failure or not, is logged ("shutting
// down", with the reason) and returned by [Group.Cause]: a [*SignalError],
// an error wrapping ctx's cause, [ErrStopped], or the failure. If a stop
// called elsewhere outlasts the GracePeriod, Run returns an error saying
// it gave up waiting for it.
//
// Run watches signals with [signal.Notify] from its call to its return. It
// returns [ErrStarted] or [ErrStopped] if the group was started or stopped
// already.
func (g *Group) Run(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: Run called with a nil context")
	}
	o := g.o()
	sigs := o.signals
	if sigs == nil {
		ch := make(chan os.Signal, 3)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	g.mu.Lock()
	g.initLocked()
	if err := g.idleLocked(); err != nil {
		g.mu.Unlock()
		return err
	}
	g.underRun = true
	failed, stopBegun := g.failed, g.stopBegun
	g.mu.Unlock()

	startc := make(chan error, 1)
	go func() { startc <- g.Start(ctx) }()
	var reason error
	joined := false // the stop was claimed elsewhere: no drain of ours
	for reason == nil && !joined {
		select {
		case err := <-startc:
			startc = nil
			joined = err != nil // Start failed and rolled back, or Stop interrupted it
		case <-ctx.Done():
			reason = fmt.Errorf("lifecycle: context done: %w", context.Cause(ctx))
		case sig := <-sigs:
			reason = &SignalError{Signal: sig}
		case <-failed:
			g.mu.Lock()
			reason = g.failure
			g.mu.Unlock()
		case <-stopBegun:
			joined = true
		}
	}
	if reason != nil {
		g.mu.Lock()
		g.causeLocked(reason)
		g.mu.Unlock()
		g.log(slog.LevelInfo, "shutting down", "reason", reason)
	}

	var graceEnd time.Time
	if o.grace > 0 {
		graceEnd = time.Now().Add(o.grace)
	}
	forced := false
	var forcedBy os.Signal
	if !joined && g.ready.Swap(false) && o.drain > 0 {
		d := o.drain
		if o.grace > 0 {
			d = min(d, o.grace/2)
		}
		g.log(slog.LevelInfo, "draining: not ready", "delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-stopBegun: // Stop was called elsewhere: join it
		case sig := <-sigs:
			forced, forcedBy = true, sig
			g.log(slog.LevelWarn, "signal during the drain: cutting it short and forcing the stop", "signal", sig.String())
		}
		t.Stop()
	}

	// The stop's budget, or how long to wait for a stop claimed elsewhere;
	// forcing goes through the group, to whichever stop runs.
	sctx := context.WithoutCancel(ctx)
	if !graceEnd.IsZero() {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(sctx, graceEnd)
		defer cancel()
	}
	if forced {
		g.force()
	}
	stopc := make(chan error, 1)
	go func() { stopc <- g.stop(sctx, reason) }()
	for {
		select {
		case err := <-stopc:
			if startc != nil {
				<-startc // Stop has made it return
			}
			if forced {
				err = multierr.Append(err, fmt.Errorf("%w (signal %v)", ErrForced, forcedBy))
			}
			return err
		case sig := <-sigs:
			if !forced {
				forced, forcedBy = true, sig
				g.force()
				g.log(slog.LevelWarn, "signal during the stop: forcing it", "signal", sig.String())
				continue
			}
			g.log(slog.LevelError, "signal during a forced stop: dumping goroutines and returning", "signal", sig.String())
			w := o.dump
			if w == nil {
				w = os.Stderr
			}
			dumpGoroutines(w)
			return multierr.Append(g.errsSoFar(), fmt.Errorf("lifecycle: stop abandoned after signal %v; goroutines dumped", sig))
		}
	}
}

// force cancels the contexts of the stop hooks, of the stop in progress or
// of the one to come.
func (g *Group) force() {
	g.mu.Lock()
	g.forced = true
	cancel := g.forceStop
	g.mu.Unlock()
	if cancel != nil {
		cancel(ErrForced)
	}
}

// errsSoFar returns the group's errors until now.
func (g *Group) errsSoFar() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return multierr.Combine(g.errs...)
}

// dumpGoroutines writes the stacks of all goroutines to w, as an unhandled
// SIGQUIT does.
func dumpGoroutines(w io.Writer) {
	fmt.Fprintf(w, "lifecycle: goroutine dump\n\n%s\n", stack.All())
}
