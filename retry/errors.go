package retry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reasons, found in [Error.Reason], for which a call stopped retrying.
var (
	// ErrExhausted means that the policy's MaxAttempts were all made, or
	// that the next delay would have ended past MaxElapsed.
	ErrExhausted = errors.New("retry: attempts exhausted")

	// ErrDeadline means that the next delay would have outlived the
	// context's deadline: rather than sleep into [context.DeadlineExceeded]
	// and fail then, the call returned the last error at once. It is a
	// deadline all the same: errors.Is(ErrDeadline,
	// context.DeadlineExceeded) holds, so that code mapping timeouts to a
	// 504 or to DEADLINE_EXCEEDED keeps working.
	ErrDeadline error = deadlineError{}

	// ErrThrottled means that the policy's [Budget] refused a retry.
	ErrThrottled = errors.New("retry: throttled by the retry budget")

	// ErrCleanup means that the last attempt succeeded but the cleanups of
	// its Scope failed. The attempt is not repeated, since its side
	// effects happened; the cleanups' errors are the last error.
	ErrCleanup = errors.New("retry: the successful attempt's cleanups failed")
)

// ErrAttemptTimeout is the cause ([context.Cause]) of an attempt's context
// that reached [Policy.AttemptTimeout]. It wraps
// [context.DeadlineExceeded], so the error of an attempt that timed out
// looks like a timeout to the caller, to Retryable and to OnRetry, even
// from clients that return the context's cause, as net/http does.
var ErrAttemptTimeout = fmt.Errorf("retry: attempt exceeded Policy.AttemptTimeout: %w", context.DeadlineExceeded)

// ErrInvalidPolicy is wrapped by the error of a call made with an invalid
// [Policy], whose message names the field.
var ErrInvalidPolicy = errors.New("retry: invalid Policy")

var errAttemptPanicked = errors.New("retry: attempt panicked")

// deadlineError is ErrDeadline: a distinct reason that is also a deadline.
type deadlineError struct{}

func (deadlineError) Error() string {
	return "retry: the next delay would outlive the context deadline"
}
func (deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }
func (deadlineError) Timeout() bool        { return true }

// Error is the error of a call to [Do] or [Value] that did not succeed,
// always returned as a *Error (an invalid Policy aside). [errors.Is] and
// [errors.As] see through it to the last attempt's error and to Reason, so
// that when the context was cancelled during a delay, both
// errors.Is(err, ctx.Err()) and errors.Is(err, lastErr) hold. The errors
// of the earlier attempts are in Errs.
type Error struct {
	// Attempts is the number of attempts made: 0 when the context was done
	// before the first.
	Attempts int

	// Errs holds the error of each attempt, oldest first, with the errors
	// of its Scope's cleanups joined (see [Attempt.Scope]).
	Errs []error

	// Reason says why no further attempt was made: [ErrExhausted],
	// [ErrDeadline], [ErrThrottled], [ErrCleanup], or the context's error
	// when it was done. It is nil when the last error was not retryable:
	// [Permanent], or refused by [Policy.Retryable].
	Reason error

	cause error         // context.Cause, when it differs from Reason
	delay time.Duration // the delay that was not taken, for ErrExhausted and ErrDeadline
	limit time.Duration // MaxElapsed, when it was the limit
}

// Last returns the last attempt's error, or nil if no attempt was made.
func (e *Error) Last() error {
	if len(e.Errs) == 0 {
		return nil
	}
	return e.Errs[len(e.Errs)-1]
}

// Error says how many attempts were made, why the call stopped, and the
// last attempt's error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("retry: ")
	attempts := strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		attempts += "s"
	}
	switch {
	case e.Attempts == 0:
		b.WriteString(e.Reason.Error())
		e.writeCause(&b)
		b.WriteString(" before the first attempt")
		return b.String()
	case e.Reason == nil:
		b.WriteString("gave up after " + attempts + " on an error that is not retried")
	case e.Reason == ErrExhausted && e.limit > 0:
		b.WriteString("gave up after " + attempts + ": the next delay (" + e.delay.String() +
			") would pass MaxElapsed (" + e.limit.String() + ")")
	case e.Reason == ErrExhausted:
		b.WriteString("all " + attempts + " failed")
	case e.Reason == ErrDeadline:
		b.WriteString("gave up after " + attempts + ": the next delay (" + e.delay.String() +
			") would outlive the context deadline")
	case e.Reason == ErrCleanup:
		b.WriteString("attempt " + strconv.Itoa(e.Attempts) + " succeeded, but its cleanups failed")
	case e.Reason == ErrThrottled:
		b.WriteString("gave up after " + attempts + ": throttled by the retry budget")
	default:
		b.WriteString(e.Reason.Error())
		e.writeCause(&b)
		b.WriteString(" after " + attempts)
	}
	if last := e.Last(); last != nil {
		b.WriteString(": ")
		b.WriteString(last.Error())
	}
	return b.String()
}

func (e *Error) writeCause(b *strings.Builder) {
	if e.cause != nil {
		b.WriteString(" (")
		b.WriteString(e.cause.Error())
		b.WriteString(")")
	}
}

// Unwrap returns the last attempt's error, Reason and the context's cause,
// those that are not nil.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range [...]error{e.Last(), e.Reason, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Permanent wraps err so that it is not retried: the call stops at once
// and returns it, as the last error of an [*Error]. The result's message
// is err's, and [errors.Is] and [errors.As] see err through it. The marker
// works anywhere in err's chain, so an error wrapping a Permanent one
// (with fmt.Errorf and %w) is permanent too, even when it comes out of a
// nested call. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// traits are what a failed attempt's error says about retrying it.
type traits struct {
	permanent     bool
	hasRetryAfter bool
	retryAfter    time.Duration
}

// scan walks err's tree once, depth first, in the order of [errors.Is].
// A single walk without reflection, and a single type switch for each
// error in it, keep a failed attempt cheap.
func (t *traits) scan(err error) {
	for err != nil {
		switch e := err.(type) {
		case *permanentError:
			t.permanent = true
			err = e.err
		case *retryAfterError:
			t.hint(e)
			err = e.err
		case interface {
			retryAfterer
			Unwrap() error
		}:
			t.hint(e)
			err = e.Unwrap()
		case interface {
			retryAfterer
			Unwrap() []error
		}:
			t.hint(e)
			t.scanAll(e.Unwrap())
			return
		case retryAfterer:
			t.hint(e)
			return
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			t.scanAll(e.Unwrap())
			return
		default:
			return
		}
	}
}

func (t *traits) scanAll(errs []error) {
	for _, err := range errs {
		t.scan(err)
	}
}

// hint takes the first retry-after delay found, asking only that error.
func (t *traits) hint(e retryAfterer) {
	if !t.hasRetryAfter {
		t.hasRetryAfter, t.retryAfter = true, e.RetryAfter()
	}
}
