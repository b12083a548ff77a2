package retry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/scope"
)

// An Attempt is one call of the function given to [Do] or [Value]. It
// carries the attempt's number, its context and its Scope.
//
// The Attempt belongs to the call: it is valid until the function returns
// and must not be kept or used after that (it is recycled for later
// calls). What its methods returned stays valid: a context kept by a
// goroutine is cancelled, and a Scope kept by one is closed, so cleanups
// registered on it late run at once. Its methods are safe for concurrent use
// while the attempt runs.
type Attempt struct {
	number   int
	parent   context.Context
	timeout  time.Duration
	deadline time.Time // start + timeout, when timeout > 0
	ctx      atomic.Pointer[attemptContext]
	scope    atomic.Pointer[scope.Scope]
	timedOut bool // the last attempt's AttemptTimeout expired
}

// Number returns the attempt's number: 1 for the first attempt, 2 for the
// first retry, and so on.
func (a *Attempt) Number() int { return a.number }

// Context returns the attempt's context. It derives from the context given
// to Do, ends at the policy's AttemptTimeout if there is one, and is
// cancelled as soon as the attempt returns, so goroutines the attempt
// started are told to stop before the next attempt begins. A call to [Do]
// or [Value] given this context knows that it is nested in a retry (see
// [InRetry] and [Policy.OnceWhenNested]).
//
// The context is made on first use, so an attempt that never asks for it
// costs no allocation.
func (a *Attempt) Context() context.Context {
	if c := a.ctx.Load(); c != nil {
		return c
	}
	c := new(attemptContext)
	if a.timeout > 0 {
		c.Context, c.cancel = context.WithDeadlineCause(a.parent, a.deadline, errAttemptTimeout)
	} else {
		c.Context, c.cancel = context.WithCancel(a.parent)
	}
	if !a.ctx.CompareAndSwap(nil, c) {
		c.cancel() // another goroutine of this attempt won
		return a.ctx.Load()
	}
	return c
}

// Scope returns the attempt's Scope, which closes when the attempt returns,
// before any delay, and as failed if the attempt failed. So
//
//	conn, err := net.Dial("tcp", addr)
//	if err != nil {
//		return err
//	}
//	a.Scope().OnFailure(conn.Close)
//
// closes a half-built connection before the next try and keeps it when the
// attempt succeeds. The errors of the Scope's cleanups join the attempt's
// error; an attempt that succeeded but whose cleanups failed counts as
// failed, with their errors. A panic in the attempt closes the Scope as
// failed before it goes on. Cleanups registered with
// [scope.Scope.DeferContext] receive [context.Background].
//
// Each attempt has its own Scope, made on first use (one allocation).
func (a *Attempt) Scope() *scope.Scope {
	if s := a.scope.Load(); s != nil {
		return s
	}
	s := new(scope.Scope)
	if !a.scope.CompareAndSwap(nil, s) {
		return a.scope.Load()
	}
	return s
}

// begin prepares the Attempt for its next run.
func (a *Attempt) begin() {
	a.number++
	if a.timeout > 0 {
		a.deadline = time.Now().Add(a.timeout)
	}
}

// end finishes a run that returned err: it cancels the attempt's context,
// then closes its Scope, and returns err with the cleanups' errors joined.
func (a *Attempt) end(err error) error {
	a.timedOut = false
	if c := a.ctx.Load(); c != nil {
		a.ctx.Store(nil)
		c.cancel()
		a.timedOut = context.Cause(c) == errAttemptTimeout
	}
	if s := a.scope.Load(); s != nil {
		a.scope.Store(nil)
		if err != nil {
			s.CloseInto(&err)
		} else {
			err = s.Close()
		}
	}
	return err
}

// abandon finishes a run that panicked or called runtime.Goexit: the Scope
// closes as failed, and its errors are lost with the attempt's result.
func (a *Attempt) abandon() {
	err := errAttemptPanicked
	_ = a.end(err)
}

var (
	errAttemptTimeout  = errors.New("retry: attempt exceeded Policy.AttemptTimeout")
	errAttemptPanicked = errors.New("retry: attempt panicked")
)

// An attemptContext is an attempt's context: a cancellable context that
// also answers [InRetry].
type attemptContext struct {
	context.Context
	cancel context.CancelFunc
}

type inRetryKey struct{}

func (c *attemptContext) Value(key any) any {
	if key == (inRetryKey{}) {
		return true
	}
	return c.Context.Value(key)
}

// InRetry reports whether ctx is, or derives from, the context of an
// attempt made by [Do] or [Value]: whether a call made with ctx is nested
// in a retry. A policy with [Policy.OnceWhenNested] then makes one attempt
// only.
func InRetry(ctx context.Context) bool {
	return ctx.Value(inRetryKey{}) != nil
}
