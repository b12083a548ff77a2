package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

// An HTTP GET that retries a 503 as soon as its Retry-After says, retries a
// response slower than the client's timeout, closes the body of every
// failed attempt, and keeps the successful response's body readable after
// Value returns.
func ExampleAttempt_Release() {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch requests.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		case 2:
			<-r.Context().Done() // slower than the client's timeout
		default:
			_, _ = io.WriteString(w, "hello")
		}
	}))
	defer srv.Close()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	defer client.CloseIdleConnections()

	policy := retry.Policy{InitialDelay: retry.NoDelay}
	policy.OnRetry = func(attempt int, err error, _ time.Duration) {
		if errors.Is(err, context.DeadlineExceeded) { // the client's Timeout
			fmt.Printf("attempt %d: timed out\n", attempt)
			return
		}
		fmt.Printf("attempt %d: %v\n", attempt, err)
	}
	var release *scope.Scope
	resp, err := retry.Value(context.Background(), policy, func(a *retry.Attempt) (*http.Response, error) {
		req, err := http.NewRequestWithContext(a.Context(), http.MethodGet, srv.URL, nil)
		if err != nil {
			return nil, retry.Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err // a timeout, a reset connection: retried
		}
		// Closed as this attempt ends if it fails; by release if it succeeds.
		a.Scope().DeferClose(resp.Body)
		if resp.StatusCode != http.StatusOK {
			err := errors.New(resp.Status)
			if d, ok := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				return nil, retry.RetryAfter(err, d)
			}
			return nil, err
		}
		// Keep the request's context, and the body, past the attempt.
		release = a.Release()
		return resp, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer release.Close() // closes the body and cancels the request's context
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("%s %v\n", body, err)
	// Output:
	// attempt 1: 503 Service Unavailable
	// attempt 2: timed out
	// hello <nil>
}
