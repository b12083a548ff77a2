package pool

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/internal/stack"
)

// Close shuts the pool down. In order, it:
//
//  1. makes every later Acquire return [ErrClosed], and fails the waiting
//     ones with ErrClosed;
//  2. cancels the context of the Open calls running (a resource they still
//     return is destroyed) and stops the background goroutine;
//  3. destroys the idle resources;
//  4. waits until every lease is given back (each resource is destroyed
//     as it comes back), the Open calls have returned and the background
//     goroutine has exited, or until ctx is done;
//  5. if ctx is done first, destroys the resources still lent, under their
//     holders, and reports each lease as a [*LeaseError].
//
// Close returns nil when everything was destroyed cleanly. Otherwise it
// returns, combined with multierr: an error wrapping ctx.Err() when it
// stopped waiting, one [*LeaseError] per lease still out, every error from
// the destructions it made, and the Close errors of background
// destructions that no Logger has seen. Giving a lease back after Close
// returned is harmless: its resource is already destroyed. An Open or a
// Close call still running when ctx is done is not waited for; a resource
// Open returns later is destroyed at once.
//
// A second call waits until the first has returned, or until its own ctx
// is done, and returns nil (or ctx.Err()).
//
// A Close callback that panics or calls runtime.Goexit under Close goes on
// up Close's caller's stack once the other resources it was closing are
// closed; the next call of Close then does the work again, rather than
// return at once.
func (p *Pool[T]) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed && !p.closeAgain {
		done := p.closeDone
		p.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			select {
			case <-done: // both were ready
				return nil
			default:
				return ctx.Err()
			}
		}
	}
	p.closed, p.closeAgain = true, false
	p.closeDone = make(chan struct{})
	normal := false
	defer func() {
		if !normal { // a Close callback panicked: the next Close starts over
			p.mu.Lock()
			p.closeAgain, p.drained = true, nil
			p.mu.Unlock()
		}
		close(p.closeDone)
	}()
	for e := p.waiters.popFront(); e.w != nil; e = p.waiters.popFront() {
		e.w.ch <- waitResult[T]{err: ErrClosed}
	}
	p.cancelOpens()
	if p.janitor {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	doomed := p.idle
	p.idle = nil
	for _, s := range doomed {
		p.retireLocked(s, destroyClose)
	}
	doomed = append(doomed, p.takeDroppedLocked()...)
	p.mu.Unlock()

	errs := p.destroyAll(doomed)

	p.mu.Lock()
	var drained chan struct{}
	if !p.drainedLocked() {
		drained = make(chan struct{})
		p.drained = drained
	}
	p.mu.Unlock()
	if !p.closeWait(ctx, drained) {
		errs = append(errs, p.closeLate(ctx)...)
	}

	p.mu.Lock()
	// The last Take: from here on a failure is logged, not kept (in the
	// same critical section, so that none falls in between).
	errs = append(errs, p.kept.TakeFinal("pool", "errors closing resources")...)
	p.mu.Unlock()
	normal = true
	return multierr.Combine(errs...)
}

// closeReportEvery is how often a Close waiting without a deadline logs
// the leases still out.
const closeReportEvery = 10 * time.Second

// closeWait waits until drained is closed or ctx is done, and reports
// whether drained was closed. Meanwhile it destroys the resources of the
// leases the garbage collector finds dropped (their cleanup cannot wake
// anyone, see leaseDropped), and, when ctx has no deadline, logs the
// leases still out every closeReportEvery.
func (p *Pool[T]) closeWait(ctx context.Context, drained chan struct{}) bool {
	_, deadline := ctx.Deadline()
	if drained == nil || (deadline && !p.track) {
		return closing.Wait(ctx, drained)
	}
	every := closeReportEvery
	if p.track {
		every = max(min(every, p.cfg.LeakThreshold), time.Millisecond)
	}
	return closing.WaitTicking(ctx, drained, every, func() {
		now := p.now()
		p.mu.Lock()
		doomed := p.takeDroppedLocked()
		var out []string
		if ok, _ := p.closeLog.Allow(now, closeReportEvery); ok && !deadline {
			for _, s := range p.all {
				if s.state == slotLeased {
					out = append(out, (&LeaseError{Held: now - s.acquired, trace: s.trace.String()}).Error())
				}
			}
		}
		p.mu.Unlock()
		if len(out) > 0 {
			p.leakLogger().Warn("pool: Close is waiting for leases still out",
				"leases", len(out), "each", strings.Join(out, "\n"))
		}
		p.destroyAll(doomed) // errors are kept: dropped is not destroyClose
	})
}

// drainedLocked reports whether Close has nothing left to wait for.
// Caller must hold p.mu.
func (p *Pool[T]) drainedLocked() bool {
	return p.total == 0 && p.constructing == 0 && !p.janitor
}

// checkDrainedLocked wakes Close if it waits and has nothing left to wait
// for. Caller must hold p.mu.
func (p *Pool[T]) checkDrainedLocked() {
	if p.drained != nil && p.drainedLocked() {
		close(p.drained)
		p.drained = nil
	}
}

// closeLate destroys the resources still lent once Close's ctx is done,
// and returns the errors that say so.
func (p *Pool[T]) closeLate(ctx context.Context) []error {
	now := p.now()
	p.mu.Lock()
	p.drained = nil
	var doomed []*poolSlot[T]
	var late []error
	for _, s := range p.all {
		if s.state != slotLeased {
			continue
		}
		p.leased--
		p.retireLocked(s, destroyClose)
		doomed = append(doomed, s)
		late = append(late, &LeaseError{Held: now - s.acquired, trace: s.trace.String()})
	}
	doomed = append(doomed, p.takeDroppedLocked()...)
	opening := p.constructing
	p.mu.Unlock()

	msg := fmt.Sprintf("%d leases still out", len(late))
	if opening > 0 {
		msg += fmt.Sprintf(", %d Open calls still running", opening)
	}
	errs := []error{fmt.Errorf("pool: Close gave up waiting (%s): %w", msg, ctx.Err())}
	errs = append(errs, late...)
	return append(errs, p.destroyAll(doomed)...)
}

// LeaseError reports a lease that was still out when [Pool.Close] stopped
// waiting; its resource was destroyed under its holder. Close returns one
// per late lease, combined with its other errors: multierr.Errors lists
// them, and errors.As finds the first. It is always returned as a pointer.
type LeaseError struct {
	// Held is how long the lease had been held. For a lease whose hold
	// was not timed (see [Stats].HoldDurations; every lease is timed when
	// LeakThreshold is set) it counts from the pool's latest clock reading
	// before the Acquire: it may be longer than the truth, never shorter.
	Held time.Duration

	trace string // where Acquire was called, "" unless LeakThreshold is set
}

// Stack returns the call stack of the Acquire that took the lease, one
// "function\n\tfile:line" pair per frame, or "" when [Config].LeakThreshold
// is not set.
func (e *LeaseError) Stack() string { return e.trace }

// Error describes the late lease and where it was acquired.
func (e *LeaseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool: lease still out after %v", e.Held)
	stack.WriteAcquiredAt(&b, e.trace, "Config.LeakThreshold")
	return b.String()
}
