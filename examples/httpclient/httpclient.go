// Package httpclient fetches many URLs from a loopback HTTP server that
// fails at random (503 with Retry-After, connection resets, responses
// slower than the client's Timeout), with retry: transient failures are
// retried, Retry-After and the caller's deadline are honoured, every failed
// attempt's response body is closed by its attempt's Scope, and the
// successful responses come back with their bodies still readable, kept
// alive by Attempt.Release until the caller closes them. At the end, the
// server sees no connection left open.
//
// Run it with `go run ./examples/tour httpclient`.
package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

// A Response is a successful response whose body stays readable after
// Fetch returned. Close closes the body and ends the request's context.
type Response struct {
	*http.Response
	release *scope.Scope
}

// Close releases the response.
func (r *Response) Close() error { return r.release.Close() }

// A StatusError is a response that was not 200 OK.
type StatusError struct {
	URL    string
	Status string
}

func (e *StatusError) Error() string { return "GET " + e.URL + ": " + e.Status }

// Fetch gets url, retrying what is transient under policy: a status of 429,
// 502, 503 or 504 (after the Retry-After the server asked for, if any), a
// connection reset, the client's Timeout. Another status is final. The
// caller reads the body and closes the Response.
func Fetch(ctx context.Context, client *http.Client, policy retry.Policy, url string) (*Response, error) {
	return retry.Value(ctx, policy, func(a *retry.Attempt) (*Response, error) {
		req, err := http.NewRequestWithContext(a.Context(), http.MethodGet, url, nil)
		if err != nil {
			return nil, retry.Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err // a reset, a timeout (which is a deadline): retried
		}
		// Closed as the attempt ends if it fails; by Response.Close if not.
		a.Scope().DeferClose(resp.Body)
		switch resp.StatusCode {
		case http.StatusOK:
			return &Response{Response: resp, release: a.Release()}, nil
		case http.StatusTooManyRequests, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			err := &StatusError{URL: url, Status: resp.Status}
			if d, ok := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				return nil, retry.RetryAfter(err, d)
			}
			return nil, err
		}
		return nil, retry.Permanent(&StatusError{URL: url, Status: resp.Status})
	})
}

// retried counts the failures that were retried, by kind.
type retried struct{ unavailable, timeouts, resets atomic.Int64 }

func (c *retried) note(_ int, err error, _ time.Duration) {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		c.unavailable.Add(1)
	case errors.Is(err, context.DeadlineExceeded):
		c.timeouts.Add(1)
	default:
		c.resets.Add(1)
	}
}

// Main fetches 200 flaky pages and three special ones with 8 workers, each
// fetch under a deadline of 3 s, and checks every body and the server's
// connection count.
func Main(w io.Writer) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	srv := StartServer()
	s.DeferFunc(srv.Close)
	transport := &http.Transport{MaxIdleConnsPerHost: 8}
	s.DeferFunc(transport.CloseIdleConnections)
	bodies := &countingTransport{RoundTripper: transport}
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: bodies}

	var counts retried
	policy := retry.Policy{
		MaxAttempts:  6,
		InitialDelay: 5 * time.Millisecond,
		MaxDelay:     5 * time.Second, // a longer Retry-After is cut to it
		OnRetry:      counts.note,
	}
	paths := []string{"/missing", "/busy-for-a-second", "/busy-for-a-minute"}
	for i := range 200 {
		paths = append(paths, fmt.Sprintf("/page/%d", i))
	}

	results := make([]result, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				results[i] = fetchOne(client, policy, srv.URL, paths[i])
			}
		})
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()

	var fetched, bad int
	var final []string
	for _, r := range results {
		switch {
		case r.err == nil && r.body == "page "+r.path+"\n":
			fetched++
		case r.err == nil:
			bad++
		default:
			final = append(final, describe(r.path, r.err))
		}
		if r.path == "/busy-for-a-second" && r.err == nil {
			fmt.Fprintf(w, "/busy-for-a-second: waited %v as its Retry-After asked, then fetched\n", r.elapsed.Truncate(time.Second))
		}
	}
	sort.Strings(final)
	fmt.Fprintf(w, "%d URLs: %d fetched, bodies read after retry.Value returned and checked; %d not fetched:\n", len(paths), fetched, len(final))
	for _, line := range final {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "server faults: %d 503s, %d resets, %d slow responses\n", srv.unavailable.Load(), srv.resets.Load(), srv.slow.Load())
	fmt.Fprintf(w, "retried: %d 503s, %d timeouts, %d resets (the Transport itself retries a reset on a reused connection)\n",
		counts.unavailable.Load(), counts.timeouts.Load(), counts.resets.Load())
	if bad > 0 || fetched != len(paths)-2 {
		return fmt.Errorf("httpclient: %d pages fetched, %d with a wrong body", fetched, bad)
	}
	opened, closed := bodies.opened.Load(), bodies.closed.Load()
	fmt.Fprintf(w, "response bodies: %d opened, %d closed\n", opened, closed)
	if closed != opened {
		return fmt.Errorf("httpclient: %d response bodies left open", opened-closed)
	}

	transport.CloseIdleConnections()
	live := srv.Live(2 * time.Second)
	fmt.Fprintf(w, "server: %d connections accepted, %d live after CloseIdleConnections\n", srv.accepted.Load(), live)
	if live != 0 {
		return fmt.Errorf("httpclient: %d connections still live: a response body was not closed", live)
	}
	return nil
}

// A result is how the fetch of one path ended.
type result struct {
	path    string
	body    string
	err     error
	elapsed time.Duration
}

// fetchOne fetches one path under its own deadline and reads the body
// after Fetch returned.
func fetchOne(client *http.Client, policy retry.Policy, base, path string) (r result) {
	r.path = path
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := Fetch(ctx, client, policy, base+path)
	if err != nil {
		r.err, r.elapsed = err, time.Since(start)
		return r
	}
	body, err := io.ReadAll(resp.Body)
	r.body, r.err = string(body), errors.Join(err, resp.Close())
	r.elapsed = time.Since(start)
	return r
}

// describe says how a fetch ended, the way a gateway would map it.
func describe(path string, err error) string {
	var e *retry.Error
	attempts := 0
	if errors.As(err, &e) {
		attempts = e.Attempts
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", path)
	switch {
	case errors.Is(err, retry.ErrDeadline):
		fmt.Fprintf(&b, "gave up after %d attempt(s), without waiting: the Retry-After would pass the deadline (a 504: errors.Is(err, context.DeadlineExceeded) is %t)",
			attempts, errors.Is(err, context.DeadlineExceeded))
	case e != nil && e.Reason == nil:
		fmt.Fprintf(&b, "not retried after %d attempt(s): %v", attempts, e.Last())
	default:
		fmt.Fprintf(&b, "%v", err)
	}
	return b.String()
}
