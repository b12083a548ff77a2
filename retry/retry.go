package retry

import (
	"context"
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
	var r runner
	a, err := r.start(ctx, &p)
	if err != nil {
		return err
	}
	defer r.release()
	r.inFn = true
	ferr := fn(a)
	r.inFn = false
	if ferr == nil && (r.idleAgain(a) || r.idlePooled(a)) {
		// The success path, written out: each call is a few percent.
		if p.Budget != nil {
			p.Budget.succeed()
		}
		return nil
	}
	return retries(&r, &p, ferr, fn)
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
	var r runner
	a, err := r.start(ctx, &p)
	if err != nil {
		var zero T
		return zero, err
	}
	defer r.release()
	r.inFn = true
	v, ferr := fn(a)
	r.inFn = false
	if ferr == nil && (r.idleAgain(a) || r.idlePooled(a)) {
		// The success path, written out: each call is a few percent.
		if p.Budget != nil {
			p.Budget.succeed()
		}
		return v, nil
	}
	return retryValue(&r, &p, v, ferr, fn)
}

// retries goes on with a call to Do whose first attempt failed, with ferr
// from its function, or made something, so that Do could not end it,
// until an attempt succeeds or the call gives up. It is apart from Do so that the state of the retries is
// made only when there are some, and apart from retryValue, its copy for
// Value, so that no wrapper adds a call to each attempt.
func retries(r *runner, p *Policy, ferr error, fn func(*Attempt) error) error {
	err := r.end(ferr)
	if err == nil {
		return r.succeed(p)
	}
	f := failure{errs: r.spare()}
	for {
		if !r.again(&f, ferr, err, p) {
			return r.fail(&f)
		}
		a := r.attempt()
		r.inFn = true
		ferr = fn(a)
		r.inFn = false
		if err = r.end(ferr); err == nil {
			r.keep(f.errs)
			return r.succeed(p)
		}
	}
}

// retryValue is retries for Value.
func retryValue[T any](r *runner, p *Policy, v T, ferr error, fn func(*Attempt) (T, error)) (T, error) {
	err := r.end(ferr)
	if err == nil {
		return v, r.succeed(p)
	}
	f := failure{errs: r.spare()}
	for {
		if !r.again(&f, ferr, err, p) {
			var zero T
			return zero, r.fail(&f)
		}
		a := r.attempt()
		r.inFn = true
		v, ferr = fn(a)
		r.inFn = false
		if err = r.end(ferr); err == nil {
			r.keep(f.errs)
			return v, r.succeed(p)
		}
	}
}

// A runner is the state of one call to Do or Value that every call needs.
// It lives in the caller's frame: only the *Attempt handed to fn must be
// on the heap, and it is recycled (see getAttempt). The Policy stays in the
// caller's frame too and is passed to the methods that need it.
type runner struct {
	a       *Attempt   // the current attempt's, or nil until the next one
	from    *cacheSlot // the slot a was claimed from, if any
	slot    *cacheSlot // the goroutine's
	parent  context.Context
	timeout time.Duration
	n       int  // attempts made
	inFn    bool // fn is running: if the call ends now, fn panicked
	started time.Time
	timer   *time.Timer
}

// A failure is the state of a call's retries, in the frame of retries.
type failure struct {
	errs        []error // each attempt's error
	bo          Backoff
	maxAttempts int // 0 until the first retryable error

	// Why the call stopped, for the *Error.
	reason error
	delay  time.Duration
	limit  time.Duration
}

// spare returns the error slice that the Attempt kept from an earlier
// call, for this one's.
func (r *runner) spare() []error {
	var errs []error
	if a := r.a; a != nil {
		errs, a.spare = a.spare, nil
	}
	return errs
}

// start validates p and begins the first attempt, or returns the error of
// a call that makes no attempt.
func (r *runner) start(ctx context.Context, p *Policy) (*Attempt, error) {
	if !p.plain() {
		if err := p.checkFields(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Reason: err, cause: causeOf(ctx, err)}
	}
	r.parent = ctx
	r.timeout = p.AttemptTimeout
	if p.MaxElapsed > 0 {
		r.started = time.Now()
	}
	r.slot = slot()
	r.take()
	r.n = 1
	r.a.begin(1)
	return r.a, nil
}

// attempt begins the next attempt and returns its Attempt.
func (r *runner) attempt() *Attempt {
	r.n++
	if r.a == nil {
		r.take()
	}
	r.a.begin(r.n)
	return r.a
}

// take gets an idle Attempt for the next attempts.
func (r *runner) take() {
	r.a, r.from = getAttempt(r.slot)
	r.a.parent, r.a.timeout = r.parent, r.timeout
}

// end ends the current attempt. An Attempt that made a context or a Scope
// may be referenced from them (a cleanup, a goroutine): it is left behind
// for the garbage collector, and the next attempt gets another one.
func (r *runner) end(ferr error) error {
	if r.a.endRun(r.n) {
		return ferr
	}
	return r.close(ferr)
}

// close is end for an Attempt that made something.
func (r *runner) close(ferr error) error {
	err := r.a.close(r.n, ferr)
	r.drop()
	return err
}

// drop leaves the current Attempt behind, out of the cache.
func (r *runner) drop() {
	dropAttempt(r.from)
	r.a, r.from = nil, nil
}

// again decides what follows the attempt that returned err, after its
// function returned ferr. It returns true, after the delay, when another
// attempt is due; false, with f.reason set, when the call stops.
func (r *runner) again(f *failure, ferr, err error, p *Policy) bool {
	ctx := r.parent
	f.errs = append(f.errs, err)
	if ferr == nil {
		// The attempt succeeded and only its cleanups failed: its side
		// effects (a POST, a commit) happened and must not be repeated.
		if p.Budget != nil {
			p.Budget.succeed()
		}
		f.reason = ErrCleanup
		return false
	}
	// A context error is final only when it is the caller's: a transport
	// timeout (http.Client.Timeout, net.Dialer.Timeout, AttemptTimeout)
	// matches context.DeadlineExceeded too, and is the most common
	// transient failure.
	if cerr := ctx.Err(); cerr != nil {
		f.reason = cerr
		return false
	}
	var t traits
	t.scan(err)
	if t.permanent || (p.Retryable != nil && !p.Retryable(err)) {
		return false
	}
	allowed := p.Budget == nil || p.Budget.fail()
	if f.maxAttempts == 0 {
		p.setBackoff(&f.bo)
		f.maxAttempts = p.maxAttempts()
		if p.OnceWhenNested && InRetry(ctx) {
			f.maxAttempts = 1
		}
	}
	if r.n >= f.maxAttempts {
		f.reason = ErrExhausted
		return false
	}
	d := f.bo.Next()
	if t.hasRetryAfter {
		d = f.bo.cap(t.retryAfter)
	}
	if p.MaxElapsed > 0 && time.Since(r.started) > p.MaxElapsed-d {
		f.reason, f.delay, f.limit = ErrExhausted, d, p.MaxElapsed
		return false
	}
	if d > 0 {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
			f.reason, f.delay = ErrDeadline, d
			return false
		}
	}
	if !allowed {
		f.reason = ErrThrottled
		return false
	}
	if d > 0 || p.OnRetry != nil {
		return r.sleep(f, err, d, p.OnRetry)
	}
	// Retryable, and the errors' methods that traits.scan called, ran
	// since the check above: check again, as sleep does.
	if cerr := ctx.Err(); cerr != nil {
		f.reason = cerr
		return false
	}
	return true
}

// sleep waits d before the next attempt, calling onRetry once the timer
// runs. It returns false, with f.reason set, if the context is done by the
// end of the wait: a wake-up that races a cancellation never starts an
// attempt, nor does a cancellation during Retryable or OnRetry.
func (r *runner) sleep(f *failure, err error, d time.Duration, onRetry func(int, error, time.Duration)) bool {
	ctx := r.parent
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
		f.reason = cerr
		return false
	}
	return true
}

// succeed ends a call whose last attempt succeeded.
func (r *runner) succeed(p *Policy) error {
	if p.Budget != nil {
		p.Budget.succeed()
	}
	if r.timer != nil {
		r.stopTimer()
	}
	r.recycle()
	return nil
}

// fail ends a call that gave up, with its error.
func (r *runner) fail(f *failure) error {
	e := &Error{
		Attempts: r.n,
		Errs:     append([]error(nil), f.errs...),
		Reason:   f.reason,
		delay:    f.delay,
		limit:    f.limit,
	}
	if ctx := r.parent; e.Reason != nil && e.Reason == ctx.Err() {
		e.cause = causeOf(ctx, e.Reason)
	}
	r.keep(f.errs)
	if r.timer != nil {
		r.stopTimer()
	}
	r.recycle()
	return e
}

// causeOf returns ctx's cause if it says more than its error.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != err {
		return cause
	}
	return nil
}

// keep hands the call's error slice, emptied, to its Attempt for the
// calls that recycle it, unless it grew too long.
func (r *runner) keep(errs []error) {
	if a := r.a; a != nil && a.spare == nil && cap(errs) <= maxKeptErrs {
		clear(errs)
		a.spare = errs[:0]
	}
}

// recycle makes the call's Attempt, if it has one, idle again, without
// what refers to the caller's memory. Its slot, or another call, may then
// take it at once: r forgets it.
// idleAgain ends the first run of a, the Attempt of a slot, whose function
// succeeded and made nothing, and makes it idle in the same step: from
// then on another call may claim it, so neither r nor its caller touches
// it again. It keeps its last context until then, or until the next
// garbage collection (see sweepIdle). It reports false, changing nothing,
// if a is not a slot's or made something. (Small enough to inline: the
// Attempts from the pool go to idlePooled.)
func (r *runner) idleAgain(a *Attempt) bool {
	if r.from == nil || !a.st.CompareAndSwap(1<<numShift|running, idle) {
		return false
	}
	r.a, r.from = nil, nil
	return true
}

// idlePooled is idleAgain for an Attempt from the pool, which no other
// call can reach: it ends the run, then recycles a.
func (r *runner) idlePooled(a *Attempt) bool {
	if r.from != nil || !a.endRun(1) {
		return false
	}
	r.recycle()
	return true
}

func (r *runner) recycle() {
	a := r.a
	if a == nil {
		return
	}
	a.parent = nil
	a.st.Store(idle)
	if r.from == nil {
		toPool(a, r.slot)
	}
	r.a, r.from = nil, nil
}

func (r *runner) stopTimer() {
	r.timer.Stop()
	r.timer = nil
}

// release, deferred by Do and Value, cleans up after a call that did not
// finish: it panicked or called runtime.Goexit, in fn, a cleanup,
// Retryable or OnRetry. The timer stops, and the Attempt is dropped, never
// reused; if fn did not return, its Scope closes as failed.
func (r *runner) release() {
	if r.a != nil || r.timer != nil {
		r.abandon()
	}
}

func (r *runner) abandon() {
	if r.timer != nil {
		r.stopTimer()
	}
	if a := r.a; a != nil {
		r.drop()
		if r.inFn {
			a.abandon()
		}
	}
}
