package retry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Item 4 of #13: a POST that succeeded is not sent again because a cleanup
// of its attempt failed; the call ends with the cleanup's error.
func TestASucceededAttemptWhoseCleanupsFailIsNotRepeated(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	errFlush := errors.New("flush audit log: disk full")
	budget := retry.NewBudget(10, 1)
	p := retry.Policy{InitialDelay: retry.NoDelay, Budget: budget}
	err := retry.Do(context.Background(), p, func(a *retry.Attempt) error {
		a.Scope().Defer(func() error { return errFlush })
		resp, err := srv.Client().Post(srv.URL, "text/plain", nil)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	})
	assert.Equal(t, int32(1), posts.Load())
	assert.ErrorIs(t, err, retry.ErrCleanup)
	assert.ErrorIs(t, err, errFlush)
	e := asError(t, err)
	assert.Equal(t, 1, e.Attempts)
	assert.Equal(t, []error{errFlush}, e.Errs)
	assert.EqualError(t, err, "retry: attempt 1 succeeded, but its cleanups failed: flush audit log: disk full")
	assert.Equal(t, 10.0, budget.Tokens(), "a success for the budget")
}

// Item 4 of #13: a value that Value discards is released: its attempt's
// failure-only cleanups run, for files on disk.
func TestAValueThatValueDiscardsIsReleased(t *testing.T) {
	dir := t.TempDir()
	errFlush := errors.New("flush failed")
	open := func(a *retry.Attempt) (*os.File, error) {
		f, err := os.CreateTemp(dir, "attempt")
		if err != nil {
			return nil, err
		}
		a.Scope().OnFailure(func() error { return errors.Join(f.Close(), os.Remove(f.Name())) })
		return f, nil
	}

	// Failed attempts, whatever the order of the registrations.
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 2}
	_, err := retry.Value(context.Background(), p, func(a *retry.Attempt) (*os.File, error) {
		a.Scope().DeferFunc(func() {})
		f, err := open(a)
		a.Scope().DeferFunc(func() {})
		return f, errors.Join(err, errTransient)
	})
	require.ErrorIs(t, err, errTransient)
	assertEmpty(t, dir)

	// A successful attempt whose cleanup failed: the scope unwinds as
	// failed from that cleanup on.
	_, err = retry.Value(context.Background(), p, func(a *retry.Attempt) (*os.File, error) {
		f, err := open(a)
		a.Scope().Defer(func() error { return errFlush })
		return f, err
	})
	require.ErrorIs(t, err, retry.ErrCleanup)
	require.ErrorIs(t, err, errFlush)
	assertEmpty(t, dir)

	// The same with the release registered after the cleanup that fails:
	// the unwinding reaches the release first, before anything failed, and
	// must still run it (the "2 opened, 0 closed" order).
	_, err = retry.Value(context.Background(), p, func(a *retry.Attempt) (*os.File, error) {
		a.Scope().Defer(func() error { return errFlush })
		return open(a)
	})
	require.ErrorIs(t, err, retry.ErrCleanup)
	assertEmpty(t, dir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, filepath.Join(dir, e.Name()))
	}
	assert.Empty(t, names, "files left behind")
}

// Item 5 of #13: with NoDelay and no OnRetry, a cancellation during
// Retryable still means no further attempt.
func TestNoAttemptAfterACancelDuringRetryable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := retry.Policy{InitialDelay: retry.NoDelay}
	p.Retryable = func(error) bool { cancel(); return true }
	fn, calls := always(errTransient)
	err := retry.Do(ctx, p, fn)
	assert.Equal(t, 1, *calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, context.Canceled, asError(t, err).Reason)

	// And during the attempt's cleanups, with a delay that never runs out.
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := retry.Do(ctx, retry.Policy{InitialDelay: time.Hour}, func(a *retry.Attempt) error {
			calls++
			a.Scope().DeferFunc(cancel)
			return errTransient
		})
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// Item 8 of #13: a nil context panics, naming the function.
func TestANilContextPanics(t *testing.T) {
	var nilCtx context.Context
	assert.PanicsWithValue(t, "retry: Do called with a nil context", func() {
		_ = retry.Do(nilCtx, retry.Policy{}, func(*retry.Attempt) error { return nil })
	})
	assert.PanicsWithValue(t, "retry: Value called with a nil context", func() {
		_, _ = retry.Value(nilCtx, retry.Policy{}, func(*retry.Attempt) (int, error) { return 0, nil })
	})
}

// Item 7 of #13: a panic or a runtime.Goexit in any callback reaches the
// caller after the attempt's cleanups ran, and the next call starts afresh.
func TestPanicsInCallbacksReachTheCallerAfterTheCleanups(t *testing.T) {
	type ending func()
	endings := map[string]ending{
		"panic":      func() { panic("boom") },
		"panic(nil)": func() { panic(nil) },
	}
	for name, end := range endings {
		places := map[string]func(p *retry.Policy) func(*retry.Attempt) error{
			"fn": func(p *retry.Policy) func(*retry.Attempt) error {
				return func(a *retry.Attempt) error { a.Context(); end(); return nil }
			},
			"Retryable": func(p *retry.Policy) func(*retry.Attempt) error {
				p.Retryable = func(error) bool { end(); return true }
				return func(*retry.Attempt) error { return errTransient }
			},
			"OnRetry": func(p *retry.Policy) func(*retry.Attempt) error {
				p.OnRetry = func(int, error, time.Duration) { end() }
				return func(*retry.Attempt) error { return errTransient }
			},
			"cleanup": func(p *retry.Policy) func(*retry.Attempt) error {
				return func(a *retry.Attempt) error {
					a.Scope().DeferFunc(end)
					return errTransient
				}
			},
		}
		for place, build := range places {
			t.Run(name+" in "+place, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := retry.Policy{InitialDelay: time.Second}
					fn := build(&p)
					cleaned := false
					func() {
						defer func() {
							r := recover()
							assert.NotNil(t, r, "the panic reached the caller")
							assert.True(t, cleaned, "after the attempt's cleanups")
						}()
						_ = retry.Do(t.Context(), p, func(a *retry.Attempt) error {
							a.Scope().DeferFunc(func() { cleaned = true })
							return fn(a)
						})
					}()
					checkAFreshCall(t)
				})
			})
		}
	}
}

func TestGoexitInCallbacksEndsTheCallAfterTheCleanups(t *testing.T) {
	for place, set := range map[string]func(p *retry.Policy) func(*retry.Attempt) error{
		"fn": func(p *retry.Policy) func(*retry.Attempt) error {
			return func(*retry.Attempt) error { runtime.Goexit(); return nil }
		},
		"Retryable": func(p *retry.Policy) func(*retry.Attempt) error {
			p.Retryable = func(error) bool { runtime.Goexit(); return true }
			return func(*retry.Attempt) error { return errTransient }
		},
		"OnRetry": func(p *retry.Policy) func(*retry.Attempt) error {
			p.OnRetry = func(int, error, time.Duration) { runtime.Goexit() }
			return func(*retry.Attempt) error { return errTransient }
		},
	} {
		t.Run(place, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := retry.Policy{InitialDelay: time.Second}
				fn := set(&p)
				cleaned, returned := false, false
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = retry.Do(t.Context(), p, func(a *retry.Attempt) error {
						a.Scope().DeferFunc(func() { cleaned = true })
						return fn(a)
					})
					returned = true
				}()
				<-done
				assert.False(t, returned)
				assert.True(t, cleaned)
				checkAFreshCall(t)
			})
		})
	}
}

// checkAFreshCall checks that a call after an abandoned one starts from
// attempt 1, with its own context, an empty Scope and no leftover error.
func checkAFreshCall(t *testing.T) {
	t.Helper()
	for range 4 {
		ctx := context.WithValue(t.Context(), callKey{}, "fresh")
		v, err := retry.Value(ctx, fast, func(a *retry.Attempt) (int, error) {
			assert.Equal(t, "fresh", a.Context().Value(callKey{}))
			assert.Zero(t, a.Scope().Len())
			return a.Number(), nil
		})
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		fn, calls := script(errTransient)
		require.NoError(t, retry.Do(ctx, fast, fn))
		assert.Equal(t, 2, *calls)
	}
}
