package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/reclaim-go/reclaim/retry"
	goretry "github.com/sethvargo/go-retry"
)

// RetrySuccess: one retry call whose first attempt succeeds, under each
// library's usual exponential backoff (never slept on).
// RetryFail3: three failed attempts, then success, with no delay between
// attempts. The failing operation returns a preallocated error, so every
// allocation reported is the library's.

var errBench = errors.New("bench: transient failure")

// failing returns an operation that fails n times out of n+1 calls, cycling.
func failing(n int) func() error {
	calls := 0
	return func() error {
		calls++
		if calls%(n+1) != 0 {
			return errBench
		}
		return nil
	}
}

// handrolled is the loop a careful programmer writes without a library:
// bounded attempts, a context check before each, no retry of a context
// error, exponential delays on a timer that is stopped when the context is
// done.
func handrolled(ctx context.Context, attempts int, delay time.Duration, op func(context.Context) error) error {
	var err error
	for i := range attempts {
		if i > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return errors.Join(ctx.Err(), err)
			}
			delay *= 2
		}
		if cerr := ctx.Err(); cerr != nil {
			return errors.Join(cerr, err)
		}
		if err = op(ctx); err == nil {
			return nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return err
}

func BenchmarkRetrySuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("reclaim", func(b *testing.B) {
		b.ReportAllocs()
		var p retry.Policy // 5 attempts, 100 ms doubling, full jitter
		op := func(*retry.Attempt) error { return nil }
		for b.Loop() {
			if err := retry.Do(ctx, p, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handrolled", func(b *testing.B) {
		b.ReportAllocs()
		op := func(context.Context) error { return nil }
		for b.Loop() {
			if err := handrolled(ctx, 5, 100*time.Millisecond, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backoff", func(b *testing.B) {
		b.ReportAllocs()
		op := func() (struct{}, error) { return struct{}{}, nil }
		for b.Loop() {
			if _, err := backoff.Retry(ctx, op, backoff.WithMaxTries(5)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("retrygo", func(b *testing.B) {
		b.ReportAllocs()
		op := func() error { return nil }
		for b.Loop() {
			if err := retrygo.Do(op, retrygo.Context(ctx), retrygo.Attempts(5)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goretry", func(b *testing.B) {
		b.ReportAllocs()
		op := func(context.Context) error { return nil }
		for b.Loop() {
			bo := goretry.WithMaxRetries(4, goretry.NewExponential(100*time.Millisecond))
			if err := goretry.Do(ctx, bo, op); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRetryFail3(b *testing.B) {
	ctx := context.Background()
	b.Run("reclaim", func(b *testing.B) {
		b.ReportAllocs()
		p := retry.Policy{MaxAttempts: 4, InitialDelay: retry.NoDelay}
		fail := failing(3)
		op := func(*retry.Attempt) error { return fail() }
		for b.Loop() {
			if err := retry.Do(ctx, p, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handrolled", func(b *testing.B) {
		b.ReportAllocs()
		fail := failing(3)
		op := func(context.Context) error { return fail() }
		for b.Loop() {
			if err := handrolled(ctx, 4, 0, op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backoff", func(b *testing.B) {
		b.ReportAllocs()
		fail := failing(3)
		op := func() (struct{}, error) { return struct{}{}, fail() }
		for b.Loop() {
			_, err := backoff.Retry(ctx, op, backoff.WithMaxTries(4), backoff.WithBackOff(&backoff.ZeroBackOff{}))
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("retrygo", func(b *testing.B) {
		b.ReportAllocs()
		fail := failing(3)
		for b.Loop() {
			err := retrygo.Do(fail, retrygo.Context(ctx), retrygo.Attempts(4),
				retrygo.Delay(0), retrygo.DelayType(retrygo.FixedDelay))
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goretry", func(b *testing.B) {
		b.ReportAllocs()
		fail := failing(3)
		op := func(context.Context) error {
			if err := fail(); err != nil {
				return goretry.RetryableError(err)
			}
			return nil
		}
		noDelay := goretry.BackoffFunc(func() (time.Duration, bool) { return 0, false })
		for b.Loop() {
			if err := goretry.Do(ctx, goretry.WithMaxRetries(3, noDelay), op); err != nil {
				b.Fatal(err)
			}
		}
	})
}
