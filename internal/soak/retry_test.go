package soak

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/retry"
)

const retryDeadline = 200 * time.Millisecond

// retryWorkload makes retry.Value calls whose attempts dial the loopback
// server, exchange a byte and then end as the fault model chooses; a failed
// attempt's connection is closed by its Scope's failure-only cleanup, a
// successful one is handed to the caller, who closes it. Retryable,
// OnRetry and a cleanup on the attempt's Scope go through the fault model
// too. The call must return within its deadline, and every error of every
// attempt must reach the caller (in retry.Error's Errs) exactly once.
func retryWorkload(r *run, w *worker, srv *server) {
	prefix, name := site("retry")
	p := retry.Policy{
		MaxAttempts:  1 + w.rng.IntN(4),
		InitialDelay: time.Millisecond,
		MaxDelay:     5 * time.Millisecond,
	}
	if w.rng.IntN(2) == 0 {
		p.AttemptTimeout = 50 * time.Millisecond
	}
	if w.rng.IntN(2) == 0 {
		p.Retryable = func(err error) bool {
			// An injected error here stands for "not retryable".
			if e := w.doWithoutContext(r, name("Retryable")); e != nil {
				r.in.Observe(e)
				return false
			}
			return true
		}
	}
	if w.rng.IntN(2) == 0 {
		p.OnRetry = func(int, error, time.Duration) {
			if e := w.doWithoutContext(r, name("OnRetry")); e != nil {
				r.in.Observe(e) // a hook that cannot return its error logs it
			}
		}
	}
	withCleanup := w.rng.IntN(2) == 0
	releaseFirst := w.rng.IntN(2) == 0
	w.logf("%s: %+v cleanup=%v", prefix, p, withCleanup)

	var conn net.Conn
	var err error
	var succeeded atomic.Int32 // the attempt whose function succeeded
	o := r.within(w, prefix+" Value", retryDeadline+4*perCallback, func() {
		ctx, cancel := context.WithTimeout(context.Background(), retryDeadline)
		defer cancel()
		conn, err = retry.Value(ctx, p, func(a *retry.Attempt) (net.Conn, error) {
			if n := succeeded.Load(); n != 0 {
				r.violate(w.name, "%s: attempt %d started after attempt %d succeeded", prefix, a.Number(), n)
			}
			var d net.Dialer
			c, err := d.DialContext(a.Context(), "tcp", srv.addr())
			if err != nil {
				return nil, err
			}
			// Either order: a discarded connection is closed whatever the
			// place of its release among the attempt's cleanups.
			if !releaseFirst {
				a.Scope().OnFailure(c.Close)
			}
			if withCleanup {
				a.Scope().DeferContext(func(ctx context.Context) error { return w.do(r, ctx, name("cleanup")) })
			}
			if releaseFirst {
				a.Scope().OnFailure(c.Close)
			}
			if _, err := c.Write([]byte{1}); err != nil {
				return nil, err
			}
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil {
				return nil, err
			}
			if err := w.do(r, a.Context(), name("fn")); err != nil {
				return nil, err
			}
			succeeded.Store(int32(a.Number()))
			return c, nil
		})
	})
	w.logf("%s: %s err=%s", prefix, describe(o), oneLine(err))
	if conn != nil {
		_ = conn.Close()
	}
	var re *retry.Error
	switch {
	case err == nil && o == (fault.Outcome{}):
		// The errors of the attempts before the one that succeeded were
		// handled by retrying: that is what Do is for.
		for _, e := range r.in.Pending(func(s string) bool { return strings.HasPrefix(s, prefix+".") }) {
			r.in.Observe(e)
		}
	case errors.As(err, &re):
		for _, e := range re.Errs {
			r.in.Observe(e)
		}
	default:
		r.in.Observe(err)
	}
	r.settle(w, prefix, o)
	if o == (fault.Outcome{}) && err == nil && conn == nil {
		r.violate(w.name, "%s: Value returned neither a connection nor an error", prefix)
	}
}
