package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A Policy says how often and how patiently [Do] and [Value] retry.
//
// Policy is a plain value, passed by copy: keep one in a package variable or
// a struct field and hand it to every call. Its zero value is a sensible
// default: at most 5 attempts, a first delay of 100 ms doubling up to 30 s,
// full jitter, no time limit besides the context's, every error retried
// except [Permanent] ones, until the caller's context is done. A field left at zero takes its
// default; a field set to an invalid value makes the first call return an
// error naming the field, with no attempt made.
//
// A Policy is safe to share between goroutines as long as nobody modifies
// it; the functions and the [Budget] it refers to must be safe for
// concurrent use if it is.
type Policy struct {
	// MaxAttempts bounds the number of attempts, the first one included.
	// Zero means 5; 1 means no retry. Negative is invalid. For no bound
	// besides MaxElapsed and the context, use math.MaxInt.
	MaxAttempts int

	// MaxElapsed bounds the time from the start of the first attempt to the
	// start of the last one: when the next delay would end past it, the call
	// gives up at once with [ErrExhausted]. Zero means no bound. Negative is
	// invalid.
	MaxElapsed time.Duration

	// InitialDelay is the delay before the second attempt, before jitter.
	// Zero means 100 ms. [NoDelay] (or any negative value) means no delay
	// at all between attempts: no timer is ever armed.
	InitialDelay time.Duration

	// MaxDelay caps every delay, jitter and retry-after hints included.
	// Zero means 30 s, or InitialDelay if that is longer; with [NoDelay],
	// zero means no delay, so that retry-after hints are ignored too.
	// Negative, or below InitialDelay, is invalid.
	MaxDelay time.Duration

	// Multiplier is the growth of the delay from one attempt to the next,
	// before jitter. Zero means 2; 1 keeps the delay constant. Below 1, NaN
	// and infinity are invalid. [DecorrelatedJitter] does not use it.
	Multiplier float64

	// Jitter says how delays are randomized. The zero value is [FullJitter].
	Jitter Jitter

	// AttemptTimeout bounds each attempt: [Attempt.Context] is cancelled,
	// with [context.DeadlineExceeded] and the cause [ErrAttemptTimeout],
	// once it has run that long, and such a failure is retried like any
	// other. Zero means no bound besides the caller's context. Negative is
	// invalid.
	AttemptTimeout time.Duration

	// Retryable reports whether a failed attempt's error is worth another
	// attempt. Nil means every error is. It is not consulted for
	// [Permanent] errors, nor once the caller's context is done, and it is
	// called with the error as the attempt returned it, cleanup errors
	// joined. An error matching a context error while the caller's context
	// is alive is a transport timeout, which Retryable sees like any other.
	Retryable func(err error) bool

	// OnRetry, if not nil, is called after a failed attempt that will be
	// retried, with the attempt's number, its error and the delay chosen
	// before the next attempt. The delay's timer is already running:
	// time spent in OnRetry counts toward it. It runs in the goroutine that
	// called Do, and is not called when no further attempt follows.
	OnRetry func(attempt int, err error, delay time.Duration)

	// Budget, if not nil, is a retry budget shared with other calls: when
	// it refuses a retry, the call gives up with [ErrThrottled]. See
	// [Budget].
	Budget *Budget

	// OnceWhenNested, when true, makes a call whose context comes from an
	// enclosing attempt ([Attempt.Context]) make a single attempt: the
	// enclosing call does the retrying, and attempts do not multiply
	// (3 × 3 = 9 calls to a failing backend). See [InRetry].
	OnceWhenNested bool

	// rnd, when set by the tests, replaces the global random source.
	rnd *rand.Rand
}

// NoDelay, as [Policy.InitialDelay], means that attempts follow each other
// without any delay.
const NoDelay time.Duration = -1

// Jitter says how a [Policy] randomizes its delays, which keeps clients that
// failed together from retrying in lockstep. In the formulas below, exp is
// InitialDelay × Multiplier^(n-1) for the n-th delay, capped at MaxDelay.
type Jitter uint8

const (
	// FullJitter, the default, draws each delay uniformly from [0, exp).
	// It spreads retries best and does the least total work in AWS's
	// measurements ("Exponential Backoff And Jitter", 2015).
	FullJitter Jitter = iota
	// EqualJitter draws each delay from [exp/2, exp): never much shorter
	// than planned.
	EqualJitter
	// DecorrelatedJitter draws each delay from [InitialDelay, 3 × the
	// previous delay], capped at MaxDelay; it ignores Multiplier.
	DecorrelatedJitter
	// NoJitter uses exp as it is.
	NoJitter
)

// Defaults of the zero Policy.
const (
	defaultMaxAttempts  = 5
	defaultInitialDelay = 100 * time.Millisecond
	defaultMaxDelay     = 30 * time.Second
	defaultMultiplier   = 2
)

// check returns an error naming the first invalid field of p, if any.
func (p *Policy) check() error {
	if p.plain() {
		return nil
	}
	return p.checkFields()
}

// plain reports whether p is valid at a glance: most policies leave
// MaxDelay and Multiplier at zero, and then only signs and Jitter need a
// look. The OR of integers is negative when one of them is.
func (p *Policy) plain() bool {
	return int64(p.MaxAttempts)|int64(p.MaxElapsed)|int64(p.AttemptTimeout) >= 0 &&
		p.MaxDelay == 0 && p.Multiplier == 0 && p.Jitter <= NoJitter
}

// checkFields is check, field by field.
func (p *Policy) checkFields() error {
	switch {
	case p.MaxAttempts < 0:
		return invalid("MaxAttempts", p.MaxAttempts, "must not be negative")
	case p.MaxElapsed < 0:
		return invalid("MaxElapsed", p.MaxElapsed, "must not be negative")
	case p.MaxDelay < 0:
		return invalid("MaxDelay", p.MaxDelay, "must not be negative")
	case p.AttemptTimeout < 0:
		return invalid("AttemptTimeout", p.AttemptTimeout, "must not be negative")
	case p.Multiplier != 0 && !(p.Multiplier >= 1 && p.Multiplier <= math.MaxFloat64):
		return invalid("Multiplier", p.Multiplier, "must be a finite number >= 1")
	case p.Jitter > NoJitter:
		return invalid("Jitter", int(p.Jitter), "is not one of FullJitter, EqualJitter, DecorrelatedJitter, NoJitter")
	case p.MaxDelay > 0 && p.MaxDelay < p.initialDelay():
		return fmt.Errorf("%w: MaxDelay %v is below InitialDelay %v", ErrInvalidPolicy, p.MaxDelay, p.initialDelay())
	}
	return nil
}

func invalid(field string, v any, why string) error {
	return fmt.Errorf("%w: %s %v %s", ErrInvalidPolicy, field, v, why)
}

// maxAttempts returns the bound on attempts, defaults applied.
func (p *Policy) maxAttempts() int {
	if p.MaxAttempts == 0 {
		return defaultMaxAttempts
	}
	return p.MaxAttempts
}

// initialDelay returns InitialDelay, defaults applied: 0 for NoDelay.
func (p *Policy) initialDelay() time.Duration {
	switch {
	case p.InitialDelay == 0:
		return defaultInitialDelay
	case p.InitialDelay < 0:
		return 0
	}
	return p.InitialDelay
}

// setBackoff sets *b, a zero Backoff, to the Backoff of a valid p. It
// writes in place: a Backoff built aside and copied makes the CPU wait for
// the copy (stores of 8 bytes read back 16 at a time).
func (p *Policy) setBackoff(b *Backoff) {
	b.initial = p.initialDelay()
	b.max = p.MaxDelay
	b.mult = p.Multiplier
	b.jitter = p.Jitter
	b.rnd = p.rnd
	if b.max == 0 && b.initial > 0 {
		b.max = max(defaultMaxDelay, b.initial)
	}
	if b.mult == 0 {
		b.mult = defaultMultiplier
	}
}
