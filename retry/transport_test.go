package retry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run on real loopback HTTP and TCP, where the transports
// make their own timeout errors. Their timeouts are real but never raced:
// a slow request waits for its client to go away, so each timeout fires
// exactly once, whatever the machine's speed.

// slowFirst serves "ok", except that its first n requests hang until the
// client gives up.
func slowFirst(t *testing.T, n int32) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= n {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", retry.Permanent(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// Item 1 of #13: http.Client.Timeout is a transport timeout, retried.
func TestHTTPClientTimeoutsAreRetried(t *testing.T) {
	srv, requests := slowFirst(t, 2)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	defer client.CloseIdleConnections()
	var seen []error
	p := retry.Policy{InitialDelay: retry.NoDelay}
	p.OnRetry = func(_ int, err error, _ time.Duration) { seen = append(seen, err) }
	body, err := retry.Value(context.Background(), p, func(a *retry.Attempt) (string, error) {
		return get(a.Context(), client, srv.URL)
	})
	require.NoError(t, err)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int32(3), requests.Load())
	require.Len(t, seen, 2)
	for _, err := range seen {
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the client's timeout looks like one")
	}
}

// Item 1 of #13: the README's DialContext pattern, with a dialer whose
// Timeout expires, is retried.
func TestDialerTimeoutsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var errs []error
	p := retry.Policy{InitialDelay: retry.NoDelay}
	p.OnRetry = func(_ int, err error, _ time.Duration) { errs = append(errs, err) }
	conn, err := retry.Value(context.Background(), p, func(a *retry.Attempt) (net.Conn, error) {
		d := net.Dialer{Timeout: time.Nanosecond} // expired before the handshake
		if a.Number() > 1 {
			d.Timeout = time.Minute
		}
		conn, err := d.DialContext(a.Context(), "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		a.Scope().OnFailure(conn.Close)
		return conn, nil
	})
	require.NoError(t, err)
	defer conn.Close()
	(<-accepted).Close()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, errs[0], &ne)
	assert.True(t, ne.Timeout())
}

// Items 1 and 2 of #13: an attempt that reached AttemptTimeout fails, through
// net/http (which returns the context's cause), with an error that is a
// deadline for Retryable, OnRetry and the caller, and it is retried.
func TestAttemptTimeoutOverHTTPLooksLikeADeadlineAndIsRetried(t *testing.T) {
	srv, requests := slowFirst(t, 10)
	defer srv.Client().CloseIdleConnections()
	var retryable, onRetry []error
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 3, AttemptTimeout: 50 * time.Millisecond}
	p.Retryable = func(err error) bool { retryable = append(retryable, err); return true }
	p.OnRetry = func(_ int, err error, _ time.Duration) { onRetry = append(onRetry, err) }
	_, err := retry.Value(context.Background(), p, func(a *retry.Attempt) (string, error) {
		return get(a.Context(), srv.Client(), srv.URL)
	})
	assert.Equal(t, int32(3), requests.Load())
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, retry.ErrAttemptTimeout)
	require.Len(t, retryable, 3)
	require.Len(t, onRetry, 2)
	for _, err := range append(retryable, onRetry...) {
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

// Item 2 of #13: a call that gives up because the next delay would pass the
// caller's deadline still reads as a deadline to code that maps timeouts
// to 504 Gateway Timeout.
func TestGivingUpBeforeTheDeadlineMapsToGatewayTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	errBusy := errors.New("503")
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		p := retry.Policy{InitialDelay: time.Minute, Jitter: retry.NoJitter}
		err := retry.Do(ctx, p, func(a *retry.Attempt) error {
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errBusy
			}
			return nil
		})
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			w.WriteHeader(http.StatusGatewayTimeout)
		case err != nil:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	rec := httptest.NewRecorder()
	gateway.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
}

// Item 6 of #13: an *http.Response returned from Value is cut off with the
// attempt's context, unless the attempt kept it with Release; then its
// body reads in full after Value returned, until the caller releases it.
func TestAResponseKeptWithReleaseIsReadAfterValue(t *testing.T) {
	body := strings.Repeat("reclaim ", 1<<17)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("hold") {
			// Half a body, then nothing until the client goes away: the
			// body can only end by the client's cancellation, whatever the
			// socket buffers hold (a whole body written at once may have
			// arrived before the attempt ended).
			_, _ = io.WriteString(w, body[:len(body)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	get := func(keep bool) (*http.Response, *scope.Scope, context.Context, error) {
		var kept *scope.Scope
		var ctx context.Context
		resp, err := retry.Value(context.Background(), fast, func(a *retry.Attempt) (*http.Response, error) {
			ctx = a.Context()
			url := srv.URL
			if !keep {
				url += "?hold=1"
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			if err != nil {
				return nil, err
			}
			if keep {
				a.Scope().DeferClose(resp.Body)
				kept = a.Release()
			}
			return resp, nil
		})
		return resp, kept, ctx, err
	}

	resp, _, _, err := get(false)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, context.Canceled, "cut off as the attempt ended")
	require.NoError(t, resp.Body.Close())

	resp, kept, ctx, err := get(true)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, len(body), len(got))
	assert.NoError(t, ctx.Err())
	require.NoError(t, kept.Close())
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	_, err = resp.Body.Read(make([]byte, 1))
	assert.Error(t, err, "closed by the release")
}
