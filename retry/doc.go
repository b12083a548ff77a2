// Package retry calls a function again when it fails: with exponential
// backoff and jitter, within the limits of a context, a [Policy] and a
// shared [Budget], and with each attempt owning a [scope.Scope], so that
// what a failed attempt half-built is closed before the next one starts.
//
//	err := retry.Do(ctx, retry.Policy{}, func(a *retry.Attempt) error {
//		return client.Ping(a.Context())
//	})
//
// It replaces the copy-pasted retry loop, and what such loops get wrong:
// sleeping past the caller's deadline, calling once more after a
// cancellation, giving up on a transport timeout as if the caller had
// cancelled, repeating an attempt that succeeded, multiplying attempts when
// retries nest, and leaking the connection a failed attempt opened.
//
// # Policy
//
// A [Policy] is a plain struct whose zero value is ready to use: at most 5
// attempts; delays of 100 ms doubling up to 30 s, with [FullJitter]; every
// error retried except [Permanent] ones. A field left at zero takes its
// default. For attempts without any delay between them, set
// InitialDelay to [NoDelay]: then no timer is ever armed. An invalid field
// (negative MaxAttempts, a Multiplier below 1, a MaxDelay below
// InitialDelay, ...) makes the first call return an error naming it, which
// wraps [ErrInvalidPolicy], with no attempt made. The delay arithmetic saturates: no multiplier or number of
// attempts makes a delay overflow, go negative or exceed MaxDelay.
// [Policy.Backoff] exposes the delays to callers that pace something else.
//
// # Attempts
//
// The function receives an [*Attempt]: its number, its context and its
// Scope. When the attempt returns, its context is cancelled, so goroutines
// it started are told to stop, and then its Scope closes: as failed if the
// attempt failed, which runs the [scope.Scope.OnFailure] cleanups, before
// any delay. Cleanup errors join the attempt's error. The attempt's own
// cleanups may still use the Attempt: they get its cancelled context and
// its closing Scope. After that, the Attempt is dead: its methods panic, and
// it never leads to another attempt's or another call's state.
//
// An attempt that succeeded is never repeated, since its side effects (a
// POST, a commit) happened: if its cleanups fail, the call ends with
// [ErrCleanup] and their errors. [Attempt.Release] keeps a successful
// attempt's context and cleanups alive past its end, until the caller
// closes the Scope it returns: for an *http.Response whose body is read
// after [Value] returns.
//
// # When the call stops
//
// Do and [Value] stop at the first success, and give up:
//   - when the error is not retryable: it is [Permanent], or refused by
//     [Policy.Retryable]. An error that matches a context error is final
//     only when the caller's context is done: otherwise it comes from a
//     transport's own timeout (http.Client.Timeout, net.Dialer.Timeout,
//     [Policy.AttemptTimeout]) and is retried like any other;
//   - when the context is done. The context is checked before every
//     attempt: no attempt is made with a context that was done before the
//     call, and none is started once it is done, even if the delay's timer
//     fired at the same moment, or the cancellation came from Retryable,
//     OnRetry or a cleanup. Cancelling during a delay returns at once;
//   - when MaxAttempts attempts were made, or the next delay would end past
//     MaxElapsed ([ErrExhausted]);
//   - when the next delay would end past the context's deadline: the call
//     returns the last error at once instead of sleeping into
//     [context.DeadlineExceeded] ([ErrDeadline], which matches
//     context.DeadlineExceeded too);
//   - when the [Budget] refuses a retry ([ErrThrottled]);
//   - when an attempt succeeded but its cleanups failed ([ErrCleanup]).
//
// The error is then an [*Error] with the number of attempts, every
// attempt's error and the reason. [errors.Is] sees the last attempt's error
// and the reason through it: after a cancellation during a delay, both
// errors.Is(err, ctx.Err()) and errors.Is(err, lastErr) hold. An attempt
// cut off by AttemptTimeout fails with an error that matches
// context.DeadlineExceeded and [ErrAttemptTimeout].
//
// A panic or a runtime.Goexit in the function, a cleanup, Retryable or
// OnRetry goes up to the caller after the attempt's cleanups ran; the
// call's state is dropped, not reused.
//
// An error can ask for a delay: [RetryAfter] wraps one with the delay a
// server asked for, which [ParseRetryAfter] reads from an HTTP Retry-After
// header. The delay replaces the policy's next one, capped by MaxDelay, and
// the call gives up rather than sleep past the deadline.
//
// # Nested retries
//
// A call given an attempt's context knows that it runs inside a retry
// ([InRetry]). With [Policy.OnceWhenNested] it then makes a single attempt,
// leaving the retrying to the enclosing call, so that three layers of three
// attempts do not make 27 calls to a failing backend.
//
// # Cost
//
// Do and Value start no goroutine. They sleep on one timer per call, made
// at the first delay that is not zero, reused, and stopped before they
// return. A call whose first attempt succeeds allocates nothing, nor does a
// call whose failed attempts need no delay, when the attempts do not use
// their Context or Scope: the call's state stays in the caller's frame, the
// Attempt is recycled, and an attempt's context and Scope are made only
// when asked for. Idle Attempts wait in a cache of 64 slots, one picked by
// the calling goroutine, with a [sync.Pool] behind it for the calls that
// find their slot empty or busy: the slots keep at most 64 Attempts with a
// few error slots each, a few tens of KiB that the garbage collector does
// not take back; the context of the call that last used one is let go at
// the next garbage collection. An Attempt that made a context or a Scope is not
// recycled, since they may refer to it: the next attempt, or call, gets
// another one. A call that gives up allocates its [*Error].
package retry
