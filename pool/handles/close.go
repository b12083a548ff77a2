package handles

import (
	"context"
	"fmt"
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
func (h *Cache[K, V]) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed.Load() {
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
	h.closeDone = make(chan struct{})
	defer close(h.closeDone)
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

	var errs []error
	for _, e := range idle {
		errs = append(errs, h.closeEntry(e, closedShutdown))
	}

	h.mu.Lock()
	var drained chan struct{}
	if h.open.Load() > 0 {
		drained = make(chan struct{})
		h.drained = drained
	}
	h.mu.Unlock()
	timedOut := !closing.Wait(ctx, drained) || !closing.Wait(ctx, janitor)

	if timedOut {
		errs = append(errs, h.closeHeld(ctx)...)
	}
	h.mu.Lock()
	errs = append(errs, h.kept.Take("handles", "handle close errors")...)
	h.mu.Unlock()
	return multierr.Combine(errs...)
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
				he := &HeldError{Key: e.key, trace: s.trace.String()}
				if !s.since.IsZero() {
					he.Held = now.Sub(s.since)
				}
				late = append(late, he)
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
	for _, e := range held {
		errs = append(errs, h.closeEntry(e, closedShutdown))
	}
	return errs
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
