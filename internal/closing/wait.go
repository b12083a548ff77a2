package closing

import (
	"context"
	"time"
)

// Wait waits until done is closed or ctx is done, and reports whether done
// was closed (a nil done counts as closed). When both are ready, done wins.
func Wait(ctx context.Context, done <-chan struct{}) bool {
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// WaitTicking is Wait that calls tick every period while it waits, for a
// Close that must look for work (or report what it waits for) meanwhile.
func WaitTicking(ctx context.Context, done <-chan struct{}, every time.Duration, tick func()) bool {
	if done == nil {
		return true
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return true
		case <-ctx.Done():
			return Wait(ctx, done)
		case <-t.C:
			tick()
		}
	}
}
