package retry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/scope"
)

// An Attempt is one call of the function given to [Do] or [Value]. It
// carries the attempt's number, its context and its Scope.
//
// The Attempt belongs to its attempt: its methods may be called, from any
// goroutine, until the function returns, and from the attempt's own
// cleanups while its Scope closes. Called later, they panic, as the methods
// of a testing.T do after its test ended: a goroutine that outlives its
// attempt must take what it needs (the context, the Scope) before the
// function returns. What the methods returned stays valid: a context kept by
// a goroutine is cancelled, and a Scope kept by one is closed, so cleanups
// registered on it late run at once.
//
// An Attempt whose function asked for its Context, Scope or Release is
// never reused, so such a late call always panics and never sees another
// attempt or another call; the attempt's cleanups are in this case. An
// Attempt whose function asked for none of them is recycled for later
// attempts and calls, which is what keeps the success path free of
// allocations: a late call on it panics while it waits for reuse, but
// would reach the attempt that reuses it. So a goroutine that may outlive
// the function must be given the context or the Scope, not the Attempt.
type Attempt struct {
	// st is number<<numShift | made | phase. made is set by every method
	// that may make something, in the same atomic step that checks the
	// phase: then the Attempt may be referenced from what it made, and end
	// takes the slow path.
	st       atomic.Uint64
	parent   context.Context
	timeout  time.Duration
	deadline time.Time // start + timeout, when timeout > 0

	// spare is the error slice of the calls that recycle this Attempt:
	// only their runner uses it, while the Attempt is theirs.
	spare []error

	mu    sync.Mutex // guards the fields below
	ctx   *attemptContext
	scope *scope.Scope
	kept  *scope.Scope // made by Release
}

// The phases of an Attempt, in the low bits of st, then the made bit and
// the attempt's number.
const (
	returned = 0 // no function is running: methods panic
	running  = 1
	closing  = 2 // the function returned; its cleanups are running
	phase    = 3
	made     = 4 // a method may have made something that refers to the Attempt
	numShift = 3
)

// Number returns the attempt's number: 1 for the first attempt, 2 for the
// first retry, and so on.
func (a *Attempt) Number() int {
	st := a.st.Load()
	if st&phase == returned {
		panicReturned("Number")
	}
	return int(st >> numShift)
}

// Context returns the attempt's context. It derives from the context given
// to Do, ends at the policy's AttemptTimeout if there is one (with the
// cause [ErrAttemptTimeout]), and is cancelled as soon as the attempt
// returns, so goroutines the attempt started are told to stop before the
// next attempt begins. A call to [Do] or [Value] given this context knows
// that it is nested in a retry (see [InRetry] and [Policy.OnceWhenNested]).
//
// Called from one of the attempt's cleanups, Context returns the attempt's
// context, already cancelled. The context is made on first use, so an
// attempt that never asks for it costs no allocation.
func (a *Attempt) Context() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	ph := a.mark("Context")
	if a.ctx == nil {
		a.ctx = a.newContext()
		if ph == closing {
			a.ctx.cancel()
		}
	}
	return a.ctx
}

func (a *Attempt) newContext() *attemptContext {
	c := new(attemptContext)
	if a.timeout > 0 {
		c.Context, c.cancel = context.WithDeadlineCause(a.parent, a.deadline, ErrAttemptTimeout)
	} else {
		c.Context, c.cancel = context.WithCancel(a.parent)
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
// error. An attempt that succeeded but whose cleanups failed is not
// repeated, since its side effects happened: the call ends with [ErrCleanup]
// and the cleanups' errors. A panic in the attempt closes the Scope as
// failed before it goes on. Cleanups registered with
// [scope.Scope.DeferContext] receive [context.Background].
//
// Called from one of the attempt's cleanups, Scope returns the closing
// Scope: a cleanup registered then runs before the Scope's Close returns.
// Each attempt has its own Scope, made on first use (one allocation).
func (a *Attempt) Scope() *scope.Scope {
	a.mu.Lock()
	defer a.mu.Unlock()
	ph := a.mark("Scope")
	if a.scope == nil {
		// A discarded value's failure-only cleanups run whatever their
		// place: see Value.
		a.scope = scope.New(holdFailures)
		if ph == closing {
			// The closing attempt has already taken its Scope: this one
			// runs what is registered on it at once.
			_ = a.scope.Close()
		}
	}
	return a.scope
}

// Release keeps what the attempt holds alive past its end, for a value that
// depends on it, such as an *http.Response whose body is read after [Value]
// returns: the attempt's context would otherwise be cancelled, and its
// cleanups run, as the attempt returns.
//
// If the attempt succeeds, its context is not cancelled and its Scope does
// not close when it returns: both move to the Scope that Release returns,
// which the caller closes once done with the value. Closing it cancels the
// attempt's context, then runs the attempt's cleanups as a successful close
// would, then whatever was registered on it directly. If the attempt fails,
// the value is discarded and nothing is kept: the returned Scope closes, as
// failed, right after the attempt's own Scope. Either way the handed-over
// cleanups run after the function returned, so they must not use the
// Attempt. A kept context still ends at the policy's AttemptTimeout.
//
// Release may be called several times during an attempt; it returns the
// same Scope. Calling it from one of the attempt's cleanups panics: the
// attempt has already ended.
func (a *Attempt) Release() *scope.Scope {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mark("Release") == closing {
		panic("retry: Attempt.Release called from a cleanup of the attempt, after it ended")
	}
	if a.kept == nil {
		a.kept = new(scope.Scope)
	}
	return a.kept
}

// mark sets the made bit and returns the attempt's phase, running or
// closing; it panics, naming method, once the function has returned. The
// bit is set by the same atomic step that sees the phase, so end either
// fails to swap the running word away and takes the slow path, or has
// swapped it before, and then mark sees the attempt returned. a.mu is held.
func (a *Attempt) mark(method string) uint64 {
	for {
		st := a.st.Load()
		if st&phase == returned {
			panicReturned(method)
		}
		if st&made != 0 || a.st.CompareAndSwap(st, st|made) {
			return st & phase
		}
	}
}

func panicReturned(method string) {
	panic("retry: Attempt." + method + " called after the attempt's function returned")
}

// begin starts attempt number n.
func (a *Attempt) begin(n int) {
	if a.timeout > 0 {
		a.setDeadline()
	}
	a.st.Store(uint64(n)<<numShift | running)
}

func (a *Attempt) setDeadline() {
	a.deadline = time.Now().Add(a.timeout)
}

// end finishes run n, whose function returned err, and returns err with
// the cleanups' errors joined: endRun if the Attempt made nothing, else
// close.
func (a *Attempt) end(n int, err error) error {
	if a.endRun(n) {
		return err
	}
	return a.close(n, err)
}

// endRun ends run n of an Attempt that made nothing, and reports whether
// it did; if not, the Attempt made something and close must end it. The
// attempt is over for any method called from now on: a method racing this
// return either saw it running and set the made bit first, which fails
// this swap, or sees it returned and panics (see mark).
func (a *Attempt) endRun(n int) bool {
	st := uint64(n) << numShift
	return a.st.CompareAndSwap(st|running, st|returned)
}

// close is end for an Attempt whose run n made something: it cancels the
// attempt's context, then closes its Scope, as failed if err is not nil,
// and returns err with the cleanups' errors joined. When the attempt
// succeeded and Release was called, the context and the Scope move to the
// released Scope instead. The Attempt is not fit for another run: what
// it made may refer to it.
func (a *Attempt) close(n int, err error) error {
	st := uint64(n)<<numShift | made
	a.st.Store(st | returned)
	a.mu.Lock() // waits for a method that saw the attempt running
	a.st.Store(st | closing)
	c, s, kept := a.ctx, a.scope, a.kept
	a.mu.Unlock()
	// Even when a cleanup panics, the Attempt must end as returned, so that
	// no later call reaches what it held.
	defer a.ended()
	if kept != nil && err == nil {
		if s != nil {
			kept.DeferClose(s)
		}
		if c != nil {
			kept.DeferFunc(c.cancel)
		}
		return nil
	}
	if c != nil {
		c.cancel()
	}
	if s != nil {
		if err != nil {
			s.CloseInto(&err)
		} else {
			err = s.Close()
		}
	}
	if kept != nil {
		kept.CloseInto(&err)
	}
	return err
}

var holdFailures = scope.HoldFailureCleanups(true)

// ended marks the Attempt as returned. Its context and Scope stay out of
// reach: an Attempt that made them is not used again.
func (a *Attempt) ended() {
	a.mu.Lock()
	a.st.Store(a.st.Load()&^phase | returned)
	a.mu.Unlock()
}

// abandon finishes a run that panicked or called runtime.Goexit: the Scope
// closes as failed, and its errors are lost with the attempt's result.
func (a *Attempt) abandon() {
	_ = a.end(int(a.st.Load()>>numShift), errAttemptPanicked)
}

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
