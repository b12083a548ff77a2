package retry

import (
	"context"
	"sync"
	"time"
)

// Do calls fn until it succeeds, following policy p, and returns nil after
// the first success. Otherwise it returns an [*Error] that says how many
// attempts were made and why the call stopped, and wraps the last attempt's
// error; or, before any attempt, an error naming the invalid field of p.
//
// Do makes no attempt if ctx is already done, and never starts an attempt
// once ctx is done: cancelling ctx during a delay makes Do return at once.
// Between attempts it sleeps on a single timer, armed only when a delay
// is not zero and stopped before Do returns. It starts no goroutine. Each
// attempt's Scope closes and its context is cancelled when the attempt
// returns, before any delay. A panic in fn goes up through Do, after the
// attempt's Scope has closed.
func Do(ctx context.Context, p Policy, fn func(*Attempt) error) error {
	if fn == nil {
		panic("retry: Do called with a nil func")
	}
	r, err := start(ctx, &p)
	if err != nil {
		return err
	}
	for {
		err := r.call(fn)
		if err == nil {
			return r.succeed(&p)
		}
		if !r.again(err, &p) {
			return r.fail()
		}
	}
}

// Value is like [Do] for a function that also returns a value: it returns
// the value of the first successful attempt, or the zero T and the error
// Do would return.
func Value[T any](ctx context.Context, p Policy, fn func(*Attempt) (T, error)) (T, error) {
	if fn == nil {
		panic("retry: Value called with a nil func")
	}
	var zero T
	r, err := start(ctx, &p)
	if err != nil {
		return zero, err
	}
	for {
		v, err := callValue(r, fn)
		if err == nil {
			return v, r.succeed(&p)
		}
		if !r.again(err, &p) {
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
	a           Attempt   // a.parent is the caller's context
	started     time.Time // first attempt, when MaxElapsed > 0
	errs        []error   // each attempt's error; capacity kept across calls
	timer       *time.Timer
	bo          Backoff // set up at the first failure
	maxAttempts int     // set up at the first failure

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
	r.a.parent = ctx
	r.a.timeout = p.AttemptTimeout
	if p.MaxElapsed > 0 {
		r.started = time.Now()
	}
	return r, nil
}

// call runs one attempt of fn and returns its error, cleanup errors joined.
func (r *runner) call(fn func(*Attempt) error) error {
	r.a.begin()
	returned := false
	defer func() {
		if !returned {
			r.a.abandon()
		}
	}()
	err := fn(&r.a)
	returned = true
	return r.a.end(err)
}

// callValue is call for Value.
func callValue[T any](r *runner, fn func(*Attempt) (T, error)) (T, error) {
	r.a.begin()
	returned := false
	defer func() {
		if !returned {
			r.a.abandon()
		}
	}()
	v, err := fn(&r.a)
	returned = true
	return v, r.a.end(err)
}

// again decides what follows the failed attempt that returned err. It
// returns true, after the delay, when another attempt is due; false, with
// r.reason set, when the call stops.
func (r *runner) again(err error, p *Policy) bool {
	ctx := r.a.parent
	r.errs = append(r.errs, err)
	if cerr := ctx.Err(); cerr != nil {
		r.reason = cerr
		return false
	}
	var t traits
	t.scan(err)
	// Context errors are final, but for a deadline set by the attempt's own
	// timeout: the caller's context is still alive.
	if t.permanent || t.canceled || (t.deadline && !r.a.timedOut) ||
		(p.Retryable != nil && !p.Retryable(err)) {
		return false
	}
	allowed := p.Budget == nil || p.Budget.fail()
	if r.a.number == 1 {
		r.bo = p.backoff()
		r.maxAttempts = p.maxAttempts()
		if p.OnceWhenNested && InRetry(ctx) {
			r.maxAttempts = 1
		}
	}
	if r.a.number >= r.maxAttempts {
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
// attempt.
func (r *runner) sleep(err error, d time.Duration, onRetry func(int, error, time.Duration)) bool {
	ctx := r.a.parent
	if d > 0 {
		if r.timer == nil {
			r.timer = time.NewTimer(d)
		} else {
			r.timer.Reset(d)
		}
	}
	if onRetry != nil {
		onRetry(r.a.number, err, d)
	}
	if d > 0 {
		select {
		case <-r.timer.C:
		case <-ctx.Done():
		}
	} else if onRetry == nil {
		return true // again checked ctx a moment ago
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
	r.release()
	return nil
}

// fail ends a call that gave up, with its error.
func (r *runner) fail() error {
	e := &Error{
		Attempts: r.a.number,
		Errs:     append([]error(nil), r.errs...),
		Reason:   r.reason,
		delay:    r.delay,
		limit:    r.limit,
	}
	if ctx := r.a.parent; e.Reason != nil && e.Reason == ctx.Err() {
		e.cause = causeOf(ctx, e.Reason)
	}
	r.release()
	return e
}

// causeOf returns ctx's cause if it says more than its error.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != err {
		return cause
	}
	return nil
}

// release stops the timer and returns r to the pool, without what refers
// to the caller's memory; start and again set the rest.
func (r *runner) release() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
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
	r.a.parent, r.a.number = nil, 0
	runners.Put(r)
}
