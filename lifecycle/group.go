package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/retry"
)

// A Group starts components in the order they were added, stops them in
// reverse, and supervises goroutines, so that a service made of a database
// pool, caches, servers and workers comes up in order, goes down within the
// time it is given, and leaves nothing running.
//
// A zero Group is valid and has the default options; [New] makes one with
// options. All methods are safe for concurrent use. A Group must not be
// copied after first use.
//
// A Group is used once: it is idle until [Group.Start], running once Start
// has succeeded, and stopped for good after [Group.Stop], a failed Start, or
// a shutdown triggered by a failed goroutine; [Group.Done] is then closed,
// [Group.Err] returns the result and [Group.Cause] the reason. Components
// are added before Start; supervised goroutines may also be started while
// it runs.
type Group struct {
	opts *options // nil: the defaults

	mu          sync.Mutex // protects the fields below
	state       state
	startCalled bool
	underRun    bool
	entries     []*entry        // components and goroutines, in start order
	names       map[string]bool // component names
	errs        []error         // every error of the group, in the order they happened
	failed      chan struct{}   // closed at the first failure of a goroutine
	failure     error           // that failure
	cause       error           // why the group stops: the first request or failure
	runCtx      context.Context // parent of the supervised goroutines' contexts
	cancelRun   context.CancelCauseFunc
	cancelStart context.CancelCauseFunc // cancels the Start in progress
	startDone   chan struct{}           // closed when Start has returned
	stopClaimed bool                    // a Stop or a failed Start is stopping the group
	stopBegun   chan struct{}           // closed when stopClaimed is set
	stopDone    chan struct{}           // closed when the stop has finished
	stopErr     error                   // the stop's result, set before stopDone is closed
	forced      bool                    // Run forced the stop
	forceStop   context.CancelCauseFunc // cancels the stop hooks' contexts

	ready   atomic.Bool
	tracker tracker
}

type state uint8

const (
	idle state = iota
	starting
	running
	stopping
	stopped
)

// An entry is a component or a supervised goroutine.
type entry struct {
	name       string
	comp       *Component // nil for a goroutine
	fn         func(context.Context) error
	restart    *retry.Policy
	resetAfter time.Duration // a run this long starts a new failure streak
	created    stack.Trace   // where Add or Go was called

	// Protected by Group.mu:
	status   status
	stopping bool                    // errors from now on are stop errors, not failures
	cancel   context.CancelCauseFunc // a goroutine's context
	run      *tracked                // a goroutine, or a component's serve goroutine
	lateDone chan struct{}           // closed when an abandoned start hook returns
	lateErr  error                   // what it returned
	passed   bool                    // the stop went on without waiting for it
}

type status uint8

const (
	pending status = iota
	startingEntry
	up   // started: a component whose Start returned nil, a launched goroutine
	lost // a start hook abandoned
	down // stopped
)

// New returns an idle Group configured by opts.
func New(opts ...Option) *Group {
	return &Group{opts: buildOptions(opts)}
}

// o returns the group's options.
func (g *Group) o() *options {
	if g.opts == nil {
		return &defaultOptions
	}
	return g.opts
}

// initLocked readies a zero Group. Caller must hold g.mu.
func (g *Group) initLocked() {
	if g.failed == nil {
		g.failed = make(chan struct{})
		g.stopBegun = make(chan struct{})
		g.stopDone = make(chan struct{})
		g.names = make(map[string]bool)
		g.tracker.init()
	}
}

// idleLocked returns nil if the group was neither started nor stopped.
// Caller must hold g.mu.
func (g *Group) idleLocked() error {
	switch {
	case g.startCalled:
		return ErrStarted
	case g.stopClaimed || g.state != idle:
		return ErrStopped
	}
	return nil
}

// claimLocked makes the caller the one that stops the group, for cause.
// Caller must hold g.mu.
func (g *Group) claimLocked(cause error) {
	g.stopClaimed = true
	g.causeLocked(cause)
	close(g.stopBegun)
}

// causeLocked records why the group stops, unless a reason came first.
// Caller must hold g.mu.
func (g *Group) causeLocked(cause error) {
	if g.cause == nil {
		g.cause = cause
	}
}

func (g *Group) log(level slog.Level, msg string, args ...any) {
	if l := g.o().logger; l != nil {
		l.Log(context.Background(), level, msg, args...)
	}
}

// logLost reports an error that no result can carry any more (the stop
// that would have returned it has returned): to the Logger, or to
// slog.Default when there is none, since a failure must not vanish.
func (g *Group) logLost(msg string, args ...any) {
	l := g.o().logger
	if l == nil {
		l = slog.Default()
	}
	l.Error(msg, args...)
}

// Add adds c to the group: Start will start it after the components added
// before it, and Stop will stop it before them. Add returns [ErrStarted]
// once Start has been called, [ErrStopped] if Stop was called first, and an
// error if c has no name, the name of a component or goroutine already
// added, or was made by a constructor given nil ([Closer], [ContextCloser],
// [HTTPServer]). When Add fails, the group does not own what c would have
// closed: the caller closes it.
func (g *Group) Add(c Component) error {
	switch {
	case c.invalid != nil:
		return fmt.Errorf("lifecycle: Add: %w", c.invalid)
	case c.Name == "":
		return errors.New("lifecycle: Add: Component.Name is empty")
	}
	e := &entry{name: c.Name, comp: &c, created: stack.Capture(1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if err := g.idleLocked(); err != nil {
		return err
	}
	if g.names[c.Name] {
		return fmt.Errorf("lifecycle: Add: the name %q is taken by a component or goroutine added before", c.Name)
	}
	g.names[c.Name] = true
	g.entries = append(g.entries, e)
	return nil
}

// Go runs fn in a supervised goroutine named name.
//
// Called before Start, Go places the goroutine in the start order: Start
// launches it once the components added before it have started. Called
// while the group runs, Go launches it at once. fn's context carries the
// values of the context given to Start and is cancelled only by Stop, with
// [ErrStopped] as its cause; fn should then return.
//
// If fn returns an error or panics before Stop, the goroutine has failed:
// the error (a [*PanicError] for a panic) is kept for Stop to return and the
// group shuts down: [Group.Run] drains and stops, and outside Run the group
// stops itself with its [StopTimeout]. With the [Restart] option the
// goroutine is restarted instead, after a delay, until the policy gives up.
// If fn returns nil the goroutine simply ends. After Stop, fn's context
// errors are not errors; anything else it returns joins Stop's error.
//
// Go returns [ErrStopped] once Stop has been called, and an error if name
// is empty or taken by a component or goroutine added before, or the
// restart options are invalid. A nil fn panics.
func (g *Group) Go(name string, fn func(ctx context.Context) error, opts ...GoOption) error {
	if fn == nil {
		panic("lifecycle: Go called with a nil func")
	}
	if name == "" {
		return errors.New("lifecycle: Go: the name is empty")
	}
	var o goOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyGo(&o)
		}
	}
	switch {
	case o.restart == nil && o.resetSet:
		return fmt.Errorf("lifecycle: Go %q: ResetAfter without Restart", name)
	case o.resetSet && o.resetAfter <= 0:
		return fmt.Errorf("lifecycle: Go %q: ResetAfter %v is not positive", name, o.resetAfter)
	case o.restart != nil:
		if _, err := o.restart.Backoff(); err != nil {
			return fmt.Errorf("lifecycle: Go %q: Restart: %w", name, err)
		}
		if !o.resetSet {
			o.resetAfter = resetAfter(o.restart)
		}
	}
	e := &entry{name: name, fn: fn, restart: o.restart, resetAfter: o.resetAfter, created: stack.Capture(1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	switch {
	case g.stopClaimed || g.state >= stopping:
		return ErrStopped
	case g.names[name]:
		return fmt.Errorf("lifecycle: Go: the name %q is taken by a component or goroutine added before", name)
	}
	g.names[name] = true
	switch g.state {
	case running:
		g.entries = append(g.entries, e)
		g.launchLocked(e)
	default: // idle or starting: Start launches it in turn
		g.entries = append(g.entries, e)
	}
	return nil
}

// Start starts the components and launches the goroutines, one after the
// other in the order they were added, and returns nil once all have
// started. The group is then running, and ready (see [Group.Ready]).
//
// Each start hook runs with a context derived from ctx that expires after
// its timeout (see [Component.StartTimeout]). If a hook fails, panics or
// overruns its timeout, or a goroutine fails, or ctx is done, Start stops
// what already started, in reverse order, with a fresh stop budget (the
// [StopTimeout] option), and returns the start error joined with the
// errors of that stop (for a goroutine's failure, that stop's errors, which
// begin with the failure); the group is then stopped. A goroutine that
// fails during Start cancels the context of the hook in progress. A hook
// abandoned after its timeout keeps running in its goroutine; the stop
// waits for it within the component's share of the stop budget and, if it
// returned nil, stops the component in its place in the reverse order. If
// it returns nil only after that, the group calls the component's Stop
// then, after the components it depends on were stopped.
//
// If Stop is called while Start runs, Start stops starting, abandons the
// hook in progress after a short grace, and returns an error wrapping
// [ErrStopped]; Stop stops what started. Start returns [ErrStarted] if the
// group was already started and ErrStopped if it was stopped.
func (g *Group) Start(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: Start called with a nil context")
	}
	g.mu.Lock()
	g.initLocked()
	if err := g.idleLocked(); err != nil {
		g.mu.Unlock()
		return err
	}
	g.startCalled = true
	g.state = starting
	g.runCtx, g.cancelRun = context.WithCancelCause(context.WithoutCancel(ctx))
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g.cancelStart = cancel
	g.startDone = make(chan struct{})
	g.mu.Unlock()

	begin := time.Now()
	err := g.startEntries(sctx)

	g.mu.Lock()
	if err == nil && g.failure != nil { // failed after the loop's last look
		err = errStartAborted
	}
	if err == nil && !g.stopClaimed {
		g.state = running
		// Goroutines added by Go after the loop's last look.
		for _, e := range g.entries {
			if e.comp == nil && e.status == pending {
				g.launchLocked(e)
			}
		}
		g.ready.Store(true)
		close(g.startDone)
		g.mu.Unlock()
		g.log(slog.LevelInfo, "started", "elapsed", time.Since(begin))
		return nil
	}
	close(g.startDone)
	if err == nil { // Stop came just as the last hook returned
		err = fmt.Errorf("lifecycle: Start: %w", ErrStopped)
	}
	failure := g.failure
	var te *TimeoutError
	hung := errors.As(err, &te)
	if failure != nil && (err == errStartAborted || errors.Is(err, failure) && !hung) {
		// The hook in progress returned because the failure interrupted
		// it: the failure says it all.
		err = errStartAborted
	}
	// Start's error is a failure of the group unless Start was told to stop
	// (its ctx, Stop, a goroutine's failure) and its hook obeyed: returned
	// its context's error. A hook that failed otherwise failed, stop or not.
	obeyed := sctx.Err() != nil && !hung && stoppedBy(err)
	if err != errStartAborted && !obeyed {
		g.errs = append(g.errs, err)
	}
	if g.stopClaimed { // Stop waits for us, and stops what started
		g.mu.Unlock()
		if err == errStartAborted {
			return failure
		}
		return err
	}
	cause := err
	if err == errStartAborted {
		cause = failure
	}
	g.claimLocked(cause)
	g.mu.Unlock()
	g.log(slog.LevelError, "start failed; stopping what started", "err", cause)
	bctx, cancelStop := g.budget(context.WithoutCancel(ctx))
	defer cancelStop()
	stopErr := g.shutdown(bctx)
	if err == errStartAborted || !obeyed {
		// Start's error leads the stop's errors already: Start fails with
		// what Stop and Err return.
		return stopErr
	}
	return multierr.Append(err, stopErr)
}

// stoppedBy reports whether a start hook's err says it stopped because it
// was told to: its context's error, or the group's ErrStopped.
func stoppedBy(err error) bool {
	var ie *interruptedError
	if errors.As(err, &ie) {
		err = ie.err // what the hook said, not why its context ended
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrStopped)
}

// errStartAborted stops the start when a supervised goroutine failed while
// the group started.
var errStartAborted = errors.New("lifecycle: Start aborted: a supervised goroutine failed")

// startEntries starts the entries in order, and returns the first error.
func (g *Group) startEntries(ctx context.Context) error {
	for i := 0; ; i++ {
		g.mu.Lock()
		if g.failure != nil {
			g.mu.Unlock()
			return errStartAborted
		}
		if i == len(g.entries) {
			g.mu.Unlock()
			return nil
		}
		e := g.entries[i]
		if e.comp == nil {
			if ctx.Err() == nil {
				g.launchLocked(e)
			}
		}
		g.mu.Unlock()
		if ctx.Err() != nil {
			return fmt.Errorf("lifecycle: Start: %w", context.Cause(ctx))
		}
		if e.comp != nil {
			if err := g.startComponent(ctx, e); err != nil {
				return err
			}
		}
	}
}

// startComponent runs e's start hook and, once it succeeded, its serve
// goroutine.
func (g *Group) startComponent(ctx context.Context, e *entry) error {
	c := e.comp
	g.log(slog.LevelInfo, "starting component", "component", c.Name)
	begin := time.Now()
	if c.Start != nil {
		d := c.StartTimeout
		if d == 0 {
			d = g.o().startTimeout
		}
		if err := g.callStart(ctx, e, d); err != nil {
			g.log(slog.LevelError, "component failed to start", "component", c.Name, "err", err)
			return err
		}
	}
	g.mu.Lock()
	e.status = up
	if c.serve != nil {
		g.serveLocked(e)
	}
	g.mu.Unlock()
	g.log(slog.LevelInfo, "component started", "component", c.Name, "elapsed", time.Since(begin))
	return nil
}

// Stop stops the group: it marks it not ready, cancels the supervised
// goroutines and waits for them, then stops the started components in the
// reverse of the start order, and returns every error of the group,
// combined with [multierr.Combine]: the failures of supervised goroutines, then
// the errors of the stop, in the order they happened.
//
// The stop budget is ctx's deadline, or the [StopTimeout] option when ctx
// has none. Each component gets an equal share of what remains of it when
// its turn comes (or its own [Component.StopTimeout]); its Stop hook runs
// in a goroutine of the group with a context that expires a little before
// the end of that share, and if it has not returned by then, it is
// abandoned: the error names it, with a [*TimeoutError] holding the stack
// of the goroutine running it, and the components before it are still
// stopped. The supervised goroutines, as a whole, get one share the same
// way (see [CancelGoroutinesFirst]). A component whose turn comes after the
// budget is spent still has its Stop called, with a done context, and 10 ms
// to return. Cancelling ctx without its deadline passing cancels the hooks'
// contexts but abandons nothing.
//
// Stop is idempotent and safe to call concurrently: the first call stops
// the group, and every call made or still waiting once that stop has
// finished returns its result, whatever its own ctx. A call that finds a
// stop in progress and whose ctx is done before that stop finishes returns
// an error wrapping ctx's cause instead. Stop on a group that was never
// started releases what the group was handed (calls the Stop of each
// component without Start, such as [Closer] and [ContextCloser], and closes
// the listener of each [HTTPServer]), in reverse order, marks the group
// stopped and returns their errors; so does the stop that follows a failed
// Start, for the components it never reached. When Stop returns, every
// goroutine of the group has returned except abandoned ones; see
// [Group.CheckLeaks]. [Group.Done] and [Group.Err] give the same result to
// code that did not call Stop.
//
// Stop waits for the group's goroutines and hooks, so one of them (or an
// HTTP handler of an [HTTPServer] component) that wants the service to stop
// must not call Stop and wait for it: it would wait for itself until
// abandoned. A supervised goroutine returns an error instead; other code
// calls Stop in a new goroutine.
func (g *Group) Stop(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: Stop called with a nil context")
	}
	return g.stop(ctx, ErrStopped)
}

// stop stops the group for cause, or waits for the stop in progress.
func (g *Group) stop(ctx context.Context, cause error) error {
	g.mu.Lock()
	g.initLocked()
	if g.stopClaimed {
		g.mu.Unlock()
		return g.await(ctx)
	}
	g.claimLocked(cause)
	if g.state == starting {
		g.cancelStart(cause)
		startDone := g.startDone
		g.mu.Unlock()
		<-startDone // soon: Start abandons its hook in progress after a grace
	} else {
		g.mu.Unlock()
	}
	ctx, cancel := g.budget(ctx)
	defer cancel()
	return g.shutdown(ctx)
}

// await waits for the stop in progress and returns its result, or gives up
// when ctx is done. A stop that has finished always wins over ctx.
func (g *Group) await(ctx context.Context) error {
	select {
	case <-g.stopDone:
		return g.stopErr
	default:
	}
	select {
	case <-g.stopDone:
		return g.stopErr
	case <-ctx.Done():
		select {
		case <-g.stopDone:
			return g.stopErr
		default:
		}
		return fmt.Errorf("lifecycle: Stop: gave up waiting for the stop in progress: %w", context.Cause(ctx))
	}
}

// Done returns a channel that is closed once the group has stopped: after
// [Group.Stop], a failed [Group.Start], or the shutdown that follows the
// failure of a supervised goroutine, once every component has stopped.
// [Group.Err] then returns the stop's result.
func (g *Group) Done() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	return g.stopDone
}

// Err returns nil until [Group.Done] is closed, and then what Stop returns:
// nil if the group stopped because it was asked to (Stop, the context given
// to Start or Run, a signal under [Group.Run]) and everything stopped
// cleanly; otherwise every failure and stop error, in the order they
// happened: a start hook that failed or overran its timeout, a supervised
// goroutine or server that failed, a stop hook that failed or was
// abandoned.
func (g *Group) Err() error {
	select {
	case <-g.Done():
		return g.stopErr
	default:
		return nil
	}
}

// Cause returns why the group stopped or is stopping, or nil while it
// runs: [ErrStopped] when Stop was called, a [*SignalError] or an error
// wrapping the context's cause when [Group.Run] was told to stop, the
// failure of a supervised goroutine or a server, or Start's error. A clean
// stop has a cause but no error: Cause says why, [Group.Err] says nil.
func (g *Group) Cause() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause
}

// budget gives ctx the StopTimeout deadline if it has none.
func (g *Group) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || g.o().stopTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.o().stopTimeout)
}

// A unit is what one share of the stop budget is for: a component, or
// goroutines stopped together.
type unit struct {
	entries []*entry
	timeout time.Duration // a component's StopTimeout
	release bool          // a component never started: release it
	late    bool          // a component whose start hook was abandoned
}

// minSlice is the least time a stop hook is given, even when the budget is
// spent: enough for a hook that closes at once when its context is done.
const minSlice = 10 * time.Millisecond

// shutdown stops the started entries in reverse order within ctx's
// deadline. It runs once, in the goroutine that claimed the stop.
func (g *Group) shutdown(ctx context.Context) error {
	g.ready.Store(false)
	ctx, force := context.WithCancelCause(ctx)
	defer force(nil)
	g.mu.Lock()
	g.forceStop = force
	if g.forced {
		force(ErrForced)
	}
	g.state = stopping
	units := g.unitsLocked()
	g.mu.Unlock()
	deadline, bounded := ctx.Deadline()
	if bounded {
		g.log(slog.LevelInfo, "stopping", "budget", time.Until(deadline))
	} else {
		g.log(slog.LevelInfo, "stopping")
	}
	begin := time.Now()
	for i, u := range units {
		var slice time.Duration
		if bounded {
			rem := time.Until(deadline)
			slice = rem / time.Duration(len(units)-i)
			if u.timeout > 0 {
				slice = min(u.timeout, rem)
			}
			slice = max(slice, minSlice)
		} else if u.timeout > 0 {
			slice = u.timeout
		}
		switch {
		case u.entries[0].comp == nil:
			g.stopGoroutines(u.entries, slice)
		case u.late:
			g.stopLate(ctx, u.entries[0], slice)
		case u.release:
			g.stopComponent(ctx, u.entries[0], u.entries[0].comp.releaser(), slice)
		default:
			g.stopComponent(ctx, u.entries[0], u.entries[0].comp.Stop, slice)
		}
	}
	if g.cancelRun != nil {
		g.cancelRun(ErrStopped)
	}
	g.mu.Lock()
	g.state = stopped
	g.stopErr = multierr.Combine(g.errs...)
	err, cause := g.stopErr, g.cause
	close(g.stopDone)
	g.mu.Unlock()
	if err != nil {
		g.log(slog.LevelError, "stopped with errors", "elapsed", time.Since(begin), "cause", cause, "err", err)
	} else {
		g.log(slog.LevelInfo, "stopped", "elapsed", time.Since(begin), "cause", cause)
	}
	return err
}

// unitsLocked lists what to stop, in order. Caller must hold g.mu.
func (g *Group) unitsLocked() []unit {
	var units []unit
	var gors []*entry
	for i := len(g.entries) - 1; i >= 0; i-- {
		e := g.entries[i]
		switch {
		case e.comp == nil && e.status == up && !e.run.exited():
			if g.o().goroutinesFirst {
				gors = append(gors, e)
			} else {
				units = append(units, unit{entries: []*entry{e}})
			}
		case e.comp != nil && e.status == up:
			units = append(units, unit{entries: []*entry{e}, timeout: e.comp.StopTimeout})
		case e.comp != nil && e.status == lost:
			units = append(units, unit{entries: []*entry{e}, timeout: e.comp.StopTimeout, late: true})
		case e.comp != nil && e.status == pending && e.comp.releaser() != nil:
			// Never started: give back what its constructor was handed.
			units = append(units, unit{entries: []*entry{e}, timeout: e.comp.StopTimeout, release: true})
		}
	}
	if len(gors) > 0 {
		units = append([]unit{{entries: gors}}, units...)
	}
	return units
}

// expiry returns a channel that receives when slice has passed, never if
// slice is 0, and a func to release its timer.
func expiry(slice time.Duration) (<-chan time.Time, func() bool) {
	if slice <= 0 {
		return nil, func() bool { return false }
	}
	t := time.NewTimer(slice)
	return t.C, t.Stop
}

// stopGoroutines cancels the goroutines of es and waits for them until
// slice has passed (0: no limit).
func (g *Group) stopGoroutines(es []*entry, slice time.Duration) {
	g.mu.Lock()
	for _, e := range es {
		e.stopping = true
		e.status = down
		e.cancel(ErrStopped)
	}
	g.mu.Unlock()
	expire, stopTimer := expiry(slice)
	defer stopTimer()
	expired := false
	for _, e := range es {
		if !expired {
			select {
			case <-e.run.done:
			case <-expire:
				expired = true
			}
		}
		if expired {
			select {
			case <-e.run.done:
			default:
				err := &TimeoutError{Name: e.name, Op: opGoroutine, Timeout: slice, Stack: e.run.stack()}
				g.record(err)
				continue
			}
		}
		g.log(slog.LevelInfo, "goroutine stopped", "goroutine", e.name)
	}
}

// stopComponent runs stop, e's stop hook or release, then waits for its
// serve goroutine, within slice (0: no limit).
func (g *Group) stopComponent(ctx context.Context, e *entry, stop func(context.Context) error, slice time.Duration) {
	g.mu.Lock()
	e.stopping = true
	e.status = down
	serve := e.run
	g.mu.Unlock()
	c := e.comp
	g.log(slog.LevelInfo, "stopping component", "component", c.Name, "timeout", slice)
	begin := time.Now()
	expire, stopTimer := expiry(slice)
	defer stopTimer()
	if stop != nil {
		hctx := ctx
		if slice > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithDeadline(ctx, begin.Add(slice-graceFor(slice)))
			defer cancel()
		}
		h := g.call(e, opStop, hctx, stop, func(err error) {
			g.log(slog.LevelWarn, "abandoned stop hook returned", "component", c.Name, "err", err)
		})
		select {
		case err := <-h.result:
			g.record(err)
		case <-expire:
			if !h.abandon() {
				g.record(<-h.result)
				break
			}
			g.record(&TimeoutError{Name: c.Name, Op: opStop, Timeout: slice, Stack: h.run.stack()})
			g.log(slog.LevelError, "component abandoned", "component", c.Name, "elapsed", time.Since(begin))
			return
		}
	}
	if serve != nil {
		select {
		case <-serve.done:
		case <-expire:
			select {
			case <-serve.done:
			default:
				g.record(&TimeoutError{Name: c.Name, Op: opServe, Timeout: slice, Stack: serve.stack()})
			}
		}
	}
	g.log(slog.LevelInfo, "component stopped", "component", c.Name, "elapsed", time.Since(begin))
}

// stopLate waits, within slice, for the abandoned start hook of e, and
// stops e if the hook succeeded: a component that starts late is still
// stopped before the ones it depends on. If the hook is still running at
// the end of slice, the stop goes on without it, and the hook's goroutine
// stops e if it succeeds later (see lateStart).
func (g *Group) stopLate(ctx context.Context, e *entry, slice time.Duration) {
	begin := time.Now()
	expire, stopTimer := expiry(slice)
	defer stopTimer()
	g.log(slog.LevelInfo, "waiting for an abandoned start hook", "component", e.name, "timeout", slice)
	select {
	case <-e.lateDone:
	case <-expire:
	}
	g.mu.Lock()
	select {
	case <-e.lateDone:
	default:
		e.passed = true
	}
	passed, err := e.passed, e.lateErr
	e.status = down
	g.mu.Unlock()
	switch {
	case passed:
		g.log(slog.LevelWarn, "abandoned start hook still running; stopping the components before it", "component", e.name)
	case err != nil:
		// The start already failed with a timeout; what the hook returned
		// at last is the stop's to report, not to drop.
		g.record(fmt.Errorf("lifecycle: component %q: abandoned start hook returned late: %w", e.name, err))
	case err == nil:
		rest := time.Duration(0)
		if slice > 0 {
			rest = max(slice-time.Since(begin), minSlice)
		}
		g.stopComponent(ctx, e, e.comp.Stop, rest)
	}
}

// record keeps err, if not nil, for Stop to return.
func (g *Group) record(err error) {
	if err == nil {
		return
	}
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
	g.log(slog.LevelError, "stop error", "err", err)
}
