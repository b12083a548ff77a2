package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrStarted is returned by [Group.Add], [Group.Start] and [Group.Run]
	// once Start has been called: components are added before the start,
	// and a group starts once.
	ErrStarted = errors.New("lifecycle: group already started")

	// ErrStopped is returned by [Group.Start], [Group.Go] and [Group.Run]
	// once Stop has been called, and by [Group.Add] when Stop came before
	// any Start. Start wraps it when Stop interrupted it. Supervised
	// goroutines see it as the cause of their context's cancellation.
	ErrStopped = errors.New("lifecycle: group stopped")
)

// Ops named in [TimeoutError] and [PanicError].
const (
	opStart     = "start"
	opStop      = "stop"
	opGoroutine = "goroutine"
	opServe     = "serve"
	opRetryable = "Retryable" // a goroutine's restart policy callbacks
	opOnRetry   = "OnRetry"
)

// describe names what failed: `component "db": stop` or
// `goroutine "worker"`.
func describe(op, name string) string {
	switch op {
	case opGoroutine:
		return fmt.Sprintf("goroutine %q", name)
	case opRetryable, opOnRetry:
		return fmt.Sprintf("goroutine %q: restart policy's %s", name, op)
	}
	return fmt.Sprintf("component %q: %s", name, op)
}

// TimeoutError reports a start or stop hook, or a goroutine, that did not
// return in time and was abandoned: the group went on without it, and the
// goroutine running it keeps running until it returns. Its Error message
// includes that goroutine's stack at the moment it was abandoned, which
// shows what it is blocked on. [errors.Is] matches it with
// [context.DeadlineExceeded].
type TimeoutError struct {
	// Name is the component's or the goroutine's name.
	Name string
	// Op is "start" or "stop" for a component's hooks, "serve" for the
	// goroutine of an [HTTPServer], and "goroutine" for a supervised
	// goroutine that did not return after its context was cancelled.
	Op string
	// Timeout is how long the group waited.
	Timeout time.Duration
	// Stack is the stack of the abandoned goroutine, in the format of a
	// panic's traceback, or "" if it could not be found.
	Stack string
}

// Error names the hook or goroutine, says how long it was waited for, and
// appends its stack.
func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("lifecycle: %s did not return within %v and was abandoned", describe(e.Op, e.Name), e.Timeout)
	return withStack(msg, "; its goroutine:\n", e.Stack)
}

// withStack appends a stack, if any, to an error message.
func withStack(msg, sep, stack string) string {
	if stack == "" {
		return msg
	}
	return msg + sep + strings.TrimRight(stack, "\n")
}

// Unwrap returns [context.DeadlineExceeded].
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// PanicError is the error of a hook or a supervised goroutine that
// panicked. The group recovers such panics, since they happen in
// goroutines it started, where nothing else could, and turns them into
// errors that name where they happened.
type PanicError struct {
	// Name is the component's or the goroutine's name.
	Name string
	// Op is "start", "stop", "serve" or "goroutine", as in [TimeoutError],
	// or "Retryable" or "OnRetry" for a callback of a goroutine's
	// [Restart] policy.
	Op string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, from runtime/debug.Stack.
	Stack string
}

// Error names the hook or goroutine, gives the panic's value and appends
// the stack.
func (e *PanicError) Error() string {
	return withStack(fmt.Sprintf("lifecycle: %s panicked: %v", describe(e.Op, e.Name), e.Value), "\n", e.Stack)
}

// Unwrap returns the panic's value if it is an error, so that
// panic(io.ErrUnexpectedEOF) matches with [errors.Is].
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
