package scope

import (
	"context"
	"time"
)

type ctxResult struct {
	err      error
	pv       any
	panicked bool
}

// runWithTimeout runs a context cleanup in its own goroutine with a deadline
// of d, and stops waiting for it once d has passed, so that one hung cleanup
// (a Shutdown that ignores its context) cannot stall the whole unwinding.
// The abandoned goroutine keeps running until the cleanup returns.
func runWithTimeout(ctx context.Context, e *entry, d time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	f := e.c.(ctxFunc)
	done := make(chan ctxResult, 1)
	go func() {
		var r ctxResult
		defer func() {
			if v := recover(); v != nil {
				r.pv, r.panicked = v, true
			}
			done <- r
		}()
		r.err = f(cctx)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-done:
		return finish(e, r)
	case <-t.C:
		// A cleanup that honoured cctx may have returned just now: prefer
		// its own result over calling it overdue.
		select {
		case r := <-done:
			return finish(e, r)
		default:
			return timeoutError(e, d)
		}
	}
}

func finish(e *entry, r ctxResult) error {
	if r.panicked {
		panic(r.pv) // recovered by run, like a panic in any other cleanup
	}
	return annotate(e, r.err)
}
