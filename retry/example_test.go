package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// The examples use NoDelay to run fast; in production, keep the default
// delays (100 ms doubling, with jitter) or set your own.

func ExampleDo() {
	ctx := context.Background()
	policy := retry.Policy{MaxAttempts: 3, InitialDelay: retry.NoDelay}

	err := retry.Do(ctx, policy, func(a *retry.Attempt) error {
		fmt.Println("attempt", a.Number())
		if a.Number() < 2 {
			return errors.New("connection refused")
		}
		return nil
	})
	fmt.Println("err:", err)

	err = retry.Do(ctx, policy, func(a *retry.Attempt) error {
		return errors.New("connection refused")
	})
	fmt.Println("err:", err)
	// Output:
	// attempt 1
	// attempt 2
	// err: <nil>
	// err: retry: all 3 attempts failed: connection refused
}

func ExampleValue() {
	ctx := context.Background()
	quotes := []string{"", "", "EUR/USD 1.08"} // the service warms up
	quote, err := retry.Value(ctx, retry.Policy{InitialDelay: retry.NoDelay},
		func(a *retry.Attempt) (string, error) {
			if q := quotes[a.Number()-1]; q != "" {
				return q, nil
			}
			return "", errors.New("503 service unavailable")
		})
	fmt.Println(quote, err)
	// Output:
	// EUR/USD 1.08 <nil>
}

func ExamplePermanent() {
	errNotFound := errors.New("404 not found")
	calls := 0
	err := retry.Do(context.Background(), retry.Policy{}, func(a *retry.Attempt) error {
		calls++
		// Asking again will not make it exist.
		return retry.Permanent(fmt.Errorf("GET /users/42: %w", errNotFound))
	})
	fmt.Println(calls, errors.Is(err, errNotFound))
	fmt.Println(err)
	// Output:
	// 1 true
	// retry: gave up after 1 attempt on an error that is not retried: GET /users/42: 404 not found
}

func ExampleBudget() {
	// One budget shared by every call to a backend, from any goroutine: when
	// most calls fail, retrying stops instead of multiplying the load.
	budget := retry.NewBudget(10, 0.1)
	policy := retry.Policy{MaxAttempts: 3, InitialDelay: retry.NoDelay, Budget: budget}
	outage := errors.New("503 service unavailable")

	for i := 1; i <= 4; i++ {
		attempts := 0
		err := retry.Do(context.Background(), policy, func(*retry.Attempt) error {
			attempts++
			return outage
		})
		fmt.Printf("call %d: %d attempt(s), throttled: %t, tokens left: %v\n",
			i, attempts, errors.Is(err, retry.ErrThrottled), budget.Tokens())
	}
	// Output:
	// call 1: 3 attempt(s), throttled: false, tokens left: 7
	// call 2: 2 attempt(s), throttled: true, tokens left: 5
	// call 3: 1 attempt(s), throttled: true, tokens left: 4
	// call 4: 1 attempt(s), throttled: true, tokens left: 3
}

func ExampleParseRetryAfter() {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, header := range []string{"120", "Wed, 21 Oct 2015 07:28:30 GMT", "soon"} {
		d, ok := retry.ParseRetryAfter(header, now)
		fmt.Println(d, ok)
	}
	// In an HTTP client's attempt:
	//
	//	if resp.StatusCode == http.StatusServiceUnavailable {
	//		err := fmt.Errorf("GET %s: %s", url, resp.Status)
	//		if d, ok := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
	//			return retry.RetryAfter(err, d)
	//		}
	//		return err
	//	}

	// Output:
	// 2m0s true
	// 30s true
	// 0s false
}

func ExampleInRetry() {
	outer := retry.Policy{MaxAttempts: 3, InitialDelay: retry.NoDelay}
	// A client library's own policy: when its caller already retries, try
	// once and let the caller decide.
	inner := retry.Policy{MaxAttempts: 3, InitialDelay: retry.NoDelay, OnceWhenNested: true}

	backendCalls := 0
	_ = retry.Do(context.Background(), outer, func(a *retry.Attempt) error {
		fmt.Println("nested:", retry.InRetry(a.Context()))
		return retry.Do(a.Context(), inner, func(*retry.Attempt) error {
			backendCalls++
			return errors.New("503 service unavailable")
		})
	})
	fmt.Println("backend calls:", backendCalls)
	// Output:
	// nested: true
	// nested: true
	// nested: true
	// backend calls: 3
}
