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
// cancellation, retrying a cancelled context, multiplying attempts when
// retries nest, and leaking the connection a failed attempt opened.
//
// # Policy
//
// A [Policy] is a plain struct whose zero value is ready to use: at most 5
// attempts; delays of 100 ms doubling up to 30 s, with [FullJitter]; every
// error retried except [Permanent] ones and context errors. A field left at
// zero takes its default. For attempts without any delay between them, set
// InitialDelay to [NoDelay]: then no timer is ever armed. An invalid field
// (negative MaxAttempts, a Multiplier below 1, a MaxDelay below
// InitialDelay, ...) makes the first call return an error naming it, with no
// attempt made. The delay arithmetic saturates: no multiplier or number of
// attempts makes a delay overflow, go negative or exceed MaxDelay.
// [Policy.Backoff] exposes the delays to callers that pace something else.
//
// # Attempts
//
// The function receives an [*Attempt]: its number, its context and its
// Scope. When the attempt returns, its context is cancelled, so goroutines
// it started are told to stop, and then its Scope closes: as failed if the
// attempt failed, which runs the [scope.Scope.OnFailure] cleanups, before
// any delay. Cleanup errors join the attempt's error. The Attempt must not
// be kept after the function returns.
//
// # When the call stops
//
// Do and [Value] stop at the first success, and give up:
//   - when the error is not retryable: it is [Permanent], a context error
//     (but for a deadline set by [Policy.AttemptTimeout]), or refused by
//     [Policy.Retryable];
//   - when the context is done. No attempt is made with a context that was
//     done before the call, and none is started once it is done, even if
//     the delay's timer fired at the same moment. Cancelling during a delay
//     returns at once;
//   - when MaxAttempts attempts were made, or the next delay would end past
//     MaxElapsed ([ErrExhausted]);
//   - when the next delay would end past the context's deadline: the call
//     returns the last error at once instead of sleeping into
//     [context.DeadlineExceeded] ([ErrDeadline]);
//   - when the [Budget] refuses a retry ([ErrThrottled]).
//
// The error is then an [*Error] with the number of attempts, every
// attempt's error and the reason. [errors.Is] sees the last attempt's error
// and the reason through it: after a cancellation during a delay, both
// errors.Is(err, ctx.Err()) and errors.Is(err, lastErr) hold.
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
// their Context or Scope: the Attempt and the call's state are recycled
// through a [sync.Pool], and an attempt's context and Scope are made only
// when asked for. A call that gives up allocates its [*Error].
package retry
