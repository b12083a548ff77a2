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

// errForced is the cause of the stop context's cancellation when a signal
// forces the stop.
var errForced = errors.New("lifecycle: stop forced by a signal")

// Run runs the group as the main loop of a service: it starts it, waits
// for a reason to stop, drains, stops, and returns why it stopped.
//
// Run starts the group as [Group.Start] does, with ctx; if that fails, it
// returns Start's error. It then waits for ctx to be done, for SIGINT or
// SIGTERM, or for a supervised goroutine to fail. It then flips readiness
// to not-ready ([Group.Ready], [Group.Readiness]) and waits the
// [DrainDelay], so that load balancers stop sending requests while the
// servers still take them, and finally stops the group with what remains
// of the [GracePeriod] as the stop budget.
//
// Signals received after that escalate: the next one cuts the drain short
// and forces the stop, cancelling the stop hooks' contexts (an [HTTPServer]
// then closes its connections instead of waiting for them); the one after
// that writes the stacks of all goroutines to standard error and makes Run
// return at once, leaving the stop running. A service stopped by a signal
// thus takes SIGTERM, SIGTERM, SIGTERM as graceful, forced, immediate.
//
// Run always returns a non-nil error, whose first error says why it
// stopped: a [*SignalError], an error wrapping ctx's cause, or the failure
// of a supervised goroutine; Stop's other errors follow, combined with
// [multierr.Combine]. A stop by signal with a clean shutdown returns
// exactly a *SignalError. Run watches signals with [signal.Notify] from
// its call to its return. It returns [ErrStarted] or [ErrStopped] if the
// group was started or stopped already.
func (g *Group) Run(ctx context.Context) error {
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
	failed := g.failed
	g.mu.Unlock()

	startc := make(chan error, 1)
	go func() { startc <- g.Start(ctx) }()
	var reason error
	for reason == nil {
		select {
		case err := <-startc:
			if err != nil {
				return err
			}
			startc = nil
		case <-ctx.Done():
			reason = fmt.Errorf("lifecycle: context done: %w", context.Cause(ctx))
		case sig := <-sigs:
			reason = &SignalError{Signal: sig}
		case <-failed:
			g.mu.Lock()
			reason = g.failure
			g.mu.Unlock()
		}
	}
	g.log(slog.LevelInfo, "shutting down", "reason", reason)

	var graceEnd time.Time
	if o.grace > 0 {
		graceEnd = time.Now().Add(o.grace)
	}
	forced := false
	if g.ready.Swap(false) && o.drain > 0 {
		d := o.drain
		if o.grace > 0 {
			d = min(d, o.grace/2)
		}
		g.log(slog.LevelInfo, "draining: not ready", "delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case sig := <-sigs:
			forced = true
			g.log(slog.LevelWarn, "signal during the drain: cutting it short and forcing the stop", "signal", sig.String())
		}
		t.Stop()
	}

	pctx, force := context.WithCancelCause(context.WithoutCancel(ctx))
	defer force(nil)
	sctx := pctx
	if !graceEnd.IsZero() {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(pctx, graceEnd)
		defer cancel()
	}
	if forced {
		force(errForced)
	}
	stopc := make(chan error, 1)
	go func() { stopc <- g.Stop(sctx) }()
	for {
		select {
		case err := <-stopc:
			if startc != nil {
				<-startc // Stop has made it return
			}
			return runError(reason, err)
		case sig := <-sigs:
			if !forced {
				forced = true
				force(errForced)
				g.log(slog.LevelWarn, "signal during the stop: forcing it", "signal", sig.String())
				continue
			}
			g.log(slog.LevelError, "signal during a forced stop: dumping goroutines and returning", "signal", sig.String())
			w := o.dump
			if w == nil {
				w = os.Stderr
			}
			dumpGoroutines(w)
			return multierr.Append(reason, fmt.Errorf("lifecycle: stop abandoned after signal %v; goroutines dumped", sig))
		}
	}
}

// runError puts the reason first and drops it from Stop's errors, which
// hold it when it is a goroutine's failure.
func runError(reason, stopErr error) error {
	errs := []error{reason}
	for _, err := range multierr.Errors(stopErr) {
		if err != reason {
			errs = append(errs, err)
		}
	}
	return multierr.Combine(errs...)
}

// dumpGoroutines writes the stacks of all goroutines to w, as an unhandled
// SIGQUIT does.
func dumpGoroutines(w io.Writer) {
	fmt.Fprintf(w, "lifecycle: goroutine dump\n\n%s\n", stack.All())
}
