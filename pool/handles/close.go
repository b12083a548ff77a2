package handles

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/internal/stack"
)

// Close shuts the cache down. In order, it:
//
//  1. makes every later Get return [ErrClosed];
//  2. closes the idle handles;
//  3. waits until every reference is closed (each handle is closed as its
//     last reference is), the Opens in flight have returned and the janitor
//     has exited, or until ctx is done;
//  4. if ctx is done first, closes the handles still held, and reports each
//     reference still held as a [*HeldError].
//
// Close returns nil when everything was closed cleanly. Otherwise it
// returns, combined with multierr: an error wrapping ctx.Err() when it
// stopped waiting, one [*HeldError] per late reference, every error from
// the closes it made or waited for, and the background close errors that no
// [Config.OnCloseError] or Logger has seen. Closing a Ref after Close
// returned is harmless; the handle is already closed. An Open still in
// flight when Close gives up closes its handle when it returns, and its Get
// returns ErrClosed.
//
// A second call waits until the first has returned, or until its own ctx is
// done, and returns nil (or ctx.Err()).
//
// A Close callback that panics or calls runtime.Goexit under Close goes on
// up Close's caller's stack once the other resources it was closing are
// closed; the next call of Close then does the work again, rather than
// return at once.
func (h *Cache[K, V]) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed.Load() && !h.closeAgain {
		done := h.closeDone
		h.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.closed.Store(true)
	h.closeAgain = false
	h.closeDone = make(chan struct{})
	normal := false
	defer func() {
		if !normal { // a Close callback panicked: the next Close starts over
			h.mu.Lock()
			h.closeAgain, h.drained = true, nil
			h.mu.Unlock()
		}
		close(h.closeDone)
	}()
	var idle []*handleEntry[K, V]
	for e := h.popIdleLocked(time.Time{}); e != nil; e = h.popIdleLocked(time.Time{}) {
		h.removeLocked(e)
		idle = append(idle, e)
	}
	var janitor chan struct{}
	if h.janitor {
		janitor = h.janitorDone
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()

	errs := h.closeAll(idle, closedShutdown)

	h.mu.Lock()
	var drained chan struct{}
	if h.open.Load() > 0 {
		drained = make(chan struct{})
		h.drained = drained
	}
	h.mu.Unlock()
	timedOut := !h.closeWait(ctx, drained) || !closing.Wait(ctx, janitor)

	if timedOut {
		errs = append(errs, h.closeHeld(ctx)...)
	}
	h.mu.Lock()
	// The last Take: from here on a failure is logged, not kept (in the
	// same critical section, so that none falls in between).
	errs = append(errs, h.kept.TakeFinal("handles", "handle close errors")...)
	h.mu.Unlock()
	normal = true
	return multierr.Combine(errs...)
}

// closeReportEvery is how often a Close waiting without a deadline logs
// the references still held.
const closeReportEvery = 10 * time.Second

// closeWait waits until drained is closed or ctx is done, and reports
// whether drained was closed. When ctx has no deadline, it logs the
// references still held every closeReportEvery, to the Logger or else
// slog.Default().
func (h *Cache[K, V]) closeWait(ctx context.Context, drained chan struct{}) bool {
	if _, ok := ctx.Deadline(); ok || drained == nil {
		return closing.Wait(ctx, drained)
	}
	return closing.WaitTicking(ctx, drained, closeReportEvery, func() {
		h.mu.Lock()
		var out []string
		now := time.Now()
		for _, e := range h.entries {
			if e.state != entryOpen {
				continue
			}
			e.slots.each(func(s *holder[K, V]) {
				if s.inUse() {
					out = append(out, h.heldError(e, s, now).Error())
				}
			})
		}
		h.mu.Unlock()
		logger := h.cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("handles: Cache.Close is waiting for references still held",
			"refs", len(out), "each", strings.Join(out, "\n"))
	})
}

// heldError describes the reference held through s. Caller must hold h.mu.
func (h *Cache[K, V]) heldError(e *handleEntry[K, V], s *holder[K, V], now time.Time) *HeldError {
	he := &HeldError{Key: e.key, trace: s.trace.String()}
	if !s.since.IsZero() {
		he.Held = now.Sub(s.since)
	}
	return he
}

// closeHeld closes the handles still held once Close's ctx is done, and
// returns the errors that say so.
func (h *Cache[K, V]) closeHeld(ctx context.Context) []error {
	h.mu.Lock()
	var held []*handleEntry[K, V]
	opening := 0
	var late []*HeldError
	now := time.Now()
	for _, e := range h.entries {
		switch e.state {
		case entryOpen:
			held = append(held, e)
			e.slots.each(func(s *holder[K, V]) {
				if !s.inUse() {
					return
				}
				late = append(late, h.heldError(e, s, now))
			})
		case entryOpening:
			opening++
		}
	}
	for _, e := range held {
		h.removeLocked(e)
	}
	h.mu.Unlock()

	msg := fmt.Sprintf("%d references still held", len(late))
	if opening > 0 {
		msg += fmt.Sprintf(", %d handles still opening", opening)
	}
	errs := []error{fmt.Errorf("handles: Cache.Close gave up waiting (%s): %w", msg, ctx.Err())}
	for _, he := range late {
		errs = append(errs, he)
	}
	return append(errs, h.closeAll(held, closedShutdown)...)
}

// HeldError reports a reference that was still held when [Cache.Close]
// stopped waiting; its handle was closed under its holder. Close returns one
// per late reference, combined with its other errors: multierr.Errors lists
// them, and errors.As finds the first.
type HeldError struct {
	// Key is the key of the handle.
	Key any
	// Held is how long the reference had been held, or zero when
	// [Config.TrackHolders] is off.
	Held time.Duration

	trace string // where Get was called, "" unless TrackHolders
}

// Stack returns the call stack of the Get that took the reference, one
// "function\n\tfile:line" pair per frame, or "" when
// [Config.TrackHolders] is off.
func (e *HeldError) Stack() string { return e.trace }

// Error describes the late reference and where it was taken.
func (e *HeldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "handles: handle %v still held", e.Key)
	if e.Held > 0 {
		fmt.Fprintf(&b, " after %v", e.Held)
	}
	stack.WriteAcquiredAt(&b, e.trace, "Config.TrackHolders")
	return b.String()
}
