package retry

import (
	"context"
	"sync"
	"time"
)

// Do calls fn until it succeeds, following policy p, and returns nil after
// the first success. Otherwise it returns an [*Error] that says how many
// attempts were made and why the call stopped, and wraps the last attempt's
// error; or, before any attempt, an error naming the invalid field of p,
// which satisfies errors.Is(err, [ErrInvalidPolicy]).
//
// Do checks ctx before every attempt: it makes no attempt if ctx is
// already done, and never starts one once ctx is done, whatever ran in
// between (a delay, [Policy.Retryable], [Policy.OnRetry]); cancelling ctx
// during a delay makes Do return at once. Between attempts it sleeps on a
// single timer, armed only when a delay is not zero and stopped before Do
// returns. It starts no goroutine. Each attempt's context is cancelled and
// its Scope closes when the attempt returns, before any delay.
//
// A panic, or a runtime.Goexit, in fn, in an attempt's cleanup, in
// Retryable or in OnRetry goes up through Do, after the attempt's Scope has
// closed; the call's state is dropped, never reused. A nil ctx or fn
// panics.
func Do(ctx context.Context, p Policy, fn func(*Attempt) error) error {
	if ctx == nil {
		panic("retry: Do called with a nil context")
	}
	if fn == nil {
		panic("retry: Do called with a nil func")
	}
	r, err := start(ctx, &p)
	if err != nil {
		return err
	}
	defer r.release()
	for {
		ferr, err := r.call(fn)
		if err == nil {
			return r.succeed(&p)
		}
		if !r.again(ferr, err, &p) {
			return r.fail()
		}
	}
}

// Value is like [Do] for a function that also returns a value: it returns
// the value of the first successful attempt, or the zero T and the error
// Do would return.
//
// Value discards the value of every attempt that failed: the attempt's
// Scope closes as failed, so every one of its failure-only cleanups runs,
// whatever the order of the registrations. Register the release of what
// the value holds with [scope.Scope.OnFailure] on the attempt's Scope. It
// also discards the value of a successful attempt whose cleanups failed
// ([ErrCleanup]), and then too every failure-only cleanup runs, whatever
// the order of the registrations: those the unwinding reached before the
// failure run at its end (the Scope holds them, see
// [scope.HoldFailureCleanups]).
//
// A value tied to the attempt's context, such as an *http.Response made
// with [Attempt.Context], is cut off when Value returns: the attempt's
// context is cancelled as the attempt returns, and the response's body
// then reads as "context canceled". Call [Attempt.Release] in the attempt
// to keep the context, and the cleanups, until the value is released.
func Value[T any](ctx context.Context, p Policy, fn func(*Attempt) (T, error)) (T, error) {
	if ctx == nil {
		panic("retry: Value called with a nil context")
	}
	if fn == nil {
		panic("retry: Value called with a nil func")
	}
	var zero T
	r, err := start(ctx, &p)
	if err != nil {
		return zero, err
	}
	defer r.release()
	for {
		v, ferr, err := callValue(r, fn)
		if err == nil {
			return v, r.succeed(&p)
		}
		if !r.again(ferr, err, &p) {
			return zero, r.fail()
		}
	}
}

// A runner is the state of one call to Do or Value. Runners are recycled
// through a sync.Pool, which is what lets the *Attempt handed to fn live on
// the heap without a per-call allocation. The Policy stays in the caller's
// frame and is passed to the methods that need it: copying it here would
// cost the success path more than everything else it does.
type runner struct {
	a           *Attempt  // the next attempt's: own, or a fresh one
	own         Attempt   // own.parent is the caller's context
	n           int       // attempts made
	started     time.Time // first attempt, when MaxElapsed > 0
	errs        []error   // each attempt's error; capacity kept across calls
	timer       *time.Timer
	bo          Backoff // set up at the first failure
	maxAttempts int     // set up at the first failure
	done        bool    // the call returned, without a panic

	// Why the call stopped, for the *Error.
	reason error
	delay  time.Duration
	limit  time.Duration
}

var runners = sync.Pool{New: func() any { return new(runner) }}

// maxKeptErrs bounds the error slice a pooled runner keeps: a call with
// many attempts should not make every later call hold its memory.
const maxKeptErrs = 64

// start validates p and readies a runner, or returns the error of a call
// that makes no attempt.
func start(ctx context.Context, p *Policy) (*runner, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Reason: err, cause: causeOf(ctx, err)}
	}
	r := runners.Get().(*runner)
	r.a = &r.own
	r.own.parent = ctx
	r.own.timeout = p.AttemptTimeout
	if p.MaxElapsed > 0 {
		r.started = time.Now()
	}
	return r, nil
}

// call runs one attempt of fn. It returns fn's error, and the attempt's
// error: fn's with the cleanups' errors joined.
func (r *runner) call(fn func(*Attempt) error) (ferr, err error) {
	a := r.attempt()
	returned := false
	defer func() {
		if !returned {
			a.abandon()
		}
	}()
	ferr = fn(a)
	returned = true
	err = r.end(ferr)
	return ferr, err
}

// callValue is call for Value.
func callValue[T any](r *runner, fn func(*Attempt) (T, error)) (v T, ferr, err error) {
	a := r.attempt()
	returned := false
	defer func() {
		if !returned {
			a.abandon()
		}
	}()
	v, ferr = fn(a)
	returned = true
	err = r.end(ferr)
	return v, ferr, err
}

// attempt begins the next attempt and returns its Attempt.
func (r *runner) attempt() *Attempt {
	r.n++
	r.a.begin(r.n)
	return r.a
}

// end ends the current attempt. An Attempt that made a context or a Scope
// may be referenced from them (a cleanup, a goroutine): it is left behind
// for the garbage collector, and the next attempt gets a fresh one.
func (r *runner) end(ferr error) error {
	err, reusable := r.a.end(ferr)
	if !reusable {
		r.a = &Attempt{parent: r.own.parent, timeout: r.own.timeout}
	}
	return err
}

// again decides what follows the attempt that returned err, after its
// function returned ferr. It returns true, after the delay, when another
// attempt is due; false, with r.reason set, when the call stops.
func (r *runner) again(ferr, err error, p *Policy) bool {
	ctx := r.own.parent
	r.errs = append(r.errs, err)
	if ferr == nil {
		// The attempt succeeded and only its cleanups failed: its side
		// effects (a POST, a commit) happened and must not be repeated.
		if p.Budget != nil {
			p.Budget.succeed()
		}
		r.reason = ErrCleanup
		return false
	}
	// A context error is final only when it is the caller's: a transport
	// timeout (http.Client.Timeout, net.Dialer.Timeout, AttemptTimeout)
	// matches context.DeadlineExceeded too, and is the most common
	// transient failure.
	if cerr := ctx.Err(); cerr != nil {
		r.reason = cerr
		return false
	}
	var t traits
	t.scan(err)
	if t.permanent || (p.Retryable != nil && !p.Retryable(err)) {
		return false
	}
	allowed := p.Budget == nil || p.Budget.fail()
	if r.n == 1 {
		r.bo = p.backoff()
		r.maxAttempts = p.maxAttempts()
		if p.OnceWhenNested && InRetry(ctx) {
			r.maxAttempts = 1
		}
	}
	if r.n >= r.maxAttempts {
		r.reason = ErrExhausted
		return false
	}
	d := r.bo.Next()
	if t.hasRetryAfter {
		d = r.bo.cap(t.retryAfter)
	}
	if p.MaxElapsed > 0 && time.Since(r.started) > p.MaxElapsed-d {
		r.reason, r.delay, r.limit = ErrExhausted, d, p.MaxElapsed
		return false
	}
	if d > 0 {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
			r.reason, r.delay = ErrDeadline, d
			return false
		}
	}
	if !allowed {
		r.reason = ErrThrottled
		return false
	}
	return r.sleep(err, d, p.OnRetry)
}

// sleep waits d before the next attempt, calling onRetry once the timer
// runs. It returns false, with r.reason set, if the context is done by the
// end of the wait: a wake-up that races a cancellation never starts an
// attempt, nor does a cancellation during Retryable or OnRetry.
func (r *runner) sleep(err error, d time.Duration, onRetry func(int, error, time.Duration)) bool {
	ctx := r.own.parent
	if d > 0 {
		if r.timer == nil {
			r.timer = time.NewTimer(d)
		} else {
			r.timer.Reset(d)
		}
	}
	if onRetry != nil {
		onRetry(r.n, err, d)
	}
	if d > 0 {
		select {
		case <-r.timer.C:
		case <-ctx.Done():
		}
	}
	// Checked after the select too: when the timer and the cancellation
	// are both ready, select picks either.
	if cerr := ctx.Err(); cerr != nil {
		r.reason = cerr
		return false
	}
	return true
}

// succeed ends a call whose last attempt succeeded.
func (r *runner) succeed(p *Policy) error {
	if p.Budget != nil {
		p.Budget.succeed()
	}
	r.done = true
	return nil
}

// fail ends a call that gave up, with its error.
func (r *runner) fail() error {
	e := &Error{
		Attempts: r.n,
		Errs:     append([]error(nil), r.errs...),
		Reason:   r.reason,
		delay:    r.delay,
		limit:    r.limit,
	}
	if ctx := r.own.parent; e.Reason != nil && e.Reason == ctx.Err() {
		e.cause = causeOf(ctx, e.Reason)
	}
	r.done = true
	return e
}

// causeOf returns ctx's cause if it says more than its error.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != err {
		return cause
	}
	return nil
}

// release, deferred by Do and Value, stops the timer and returns r to the
// pool, without what refers to the caller's memory; start and again set the
// rest. A runner is dropped instead when the call panicked or called
// runtime.Goexit, or when its Attempt made something that may still refer
// to it: no later call can then reach its state.
func (r *runner) release() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if !r.done || r.a != &r.own {
		return
	}
	if len(r.errs) > 0 {
		clear(r.errs)
		r.errs = r.errs[:0]
		if cap(r.errs) > maxKeptErrs {
			r.errs = nil
		}
		r.reason, r.delay, r.limit = nil, 0, 0
		r.bo.rnd = nil
	}
	r.own.parent, r.n, r.done = nil, 0, false
	runners.Put(r)
}
