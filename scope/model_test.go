package scope_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// An ending is one way a cleanup can end.
type ending uint8

const (
	endOK       ending = iota // returns nil
	endErr                    // returns an error
	endPanic                  // panics with a value
	endPanicNil               // panic(nil)
	endGoexit                 // runtime.Goexit, as t.FailNow does
	endOverrun                // ignores its context past its CleanupTimeout
	endings
)

func (e ending) String() string {
	return [...]string{"ok", "err", "panic", "panic(nil)", "goexit", "overrun"}[e]
}

// outcome is what reached the caller of the unwinding, and what it left.
type outcome struct {
	ran    []int
	end    string // "returned", "goexit" or "panic <value>"
	errs   []string
	closed bool // a later Close returned nil with nothing pending
}

// runLog records which cleanups ran; an abandoned one runs concurrently.
type runLog struct {
	mu  sync.Mutex
	ran []int
}

func (l *runLog) add(i int) { l.mu.Lock(); l.ran = append(l.ran, i); l.mu.Unlock() }

func (l *runLog) all() []int { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.ran) }

// cleanupBody does what ending e says for cleanup i. release unblocks an
// overrunning cleanup once the comparison is done.
func cleanupBody(log *runLog, i int, e ending, release <-chan struct{}) func(context.Context) error {
	return func(context.Context) error {
		log.add(i)
		switch e {
		case endErr:
			return fmt.Errorf("err %d", i)
		case endPanic:
			panic(fmt.Sprintf("panic %d", i))
		case endPanicNil:
			panic(nil)
		case endGoexit:
			runtime.Goexit()
		case endOverrun:
			<-release
		}
		return nil
	}
}

// inGoroutine runs body in a goroutine of its own, so that a Goexit ends
// only that goroutine, and reports how body ended.
func inGoroutine(body func()) string {
	done := make(chan string)
	go func() {
		returned := false
		defer func() {
			r := recover()
			switch {
			case returned:
				done <- "returned"
			case r == nil:
				done <- "goexit"
			default:
				var pn *runtime.PanicNilError
				if err, ok := r.(error); ok && errors.As(err, &pn) {
					r = "panic(nil)"
				}
				done <- fmt.Sprint("panic ", r)
			}
		}()
		body()
		returned = true
	}()
	return <-done
}

func messages(errs []error) []string {
	var out []string
	for _, err := range errs {
		if errors.Is(err, scope.ErrCleanupTimeout) {
			out = append(out, "timeout")
			continue
		}
		out = append(out, err.Error())
	}
	return out
}

// withDefer is the reference: the same cleanups as plain defer statements,
// with an overrun standing for the timeout error a Scope reports.
func withDefer(ends []ending) outcome {
	var o outcome
	var log runLog
	var errs []error
	o.end = inGoroutine(func() {
		for i, e := range ends {
			if e == endOverrun {
				defer func() { log.add(i); errs = append(errs, scope.ErrCleanupTimeout) }()
				continue
			}
			body := cleanupBody(&log, i, e, nil)
			defer func() {
				if err := body(context.Background()); err != nil {
					errs = append(errs, err)
				}
			}()
		}
	})
	o.ran, o.errs, o.closed = log.all(), messages(errs), true
	return o
}

func withScope(ends []ending, closeInto bool) outcome {
	var o outcome
	var log runLog
	release := make(chan struct{})
	s := scope.New(scope.CleanupTimeout(time.Second))
	var err error
	o.end = inGoroutine(func() {
		for i, e := range ends {
			body := cleanupBody(&log, i, e, release)
			if e == endOverrun {
				s.DeferContext(body)
			} else {
				s.Defer(func() error { return body(context.Background()) })
			}
		}
		if closeInto {
			defer s.CloseInto(&err)
		} else {
			defer func() { err = s.Close() }()
		}
	})
	o.ran, o.errs = log.all(), messages(multierr.Errors(err))
	o.closed = s.Close() == nil && s.Len() == 0
	close(release)
	synctest.Wait() // the abandoned cleanups return
	return o
}

// expected is what a Scope must do given what plain defers did: the same,
// except that where a Goexit would drop a panic in flight, the Scope raises
// the latest panic (nothing is swallowed). Close loses its errors to a panic
// or a Goexit, as any function does; CloseInto keeps them.
func expected(ends []ending, ref outcome, closeInto bool) outcome {
	want := ref
	if p := latestPanic(ends); ref.end == "goexit" && p != "" {
		want.end = p
	}
	if !closeInto && want.end != "returned" {
		want.errs = nil
	}
	return want
}

// latestPanic is the panic raised last when every cleanup runs: the oldest
// panicking cleanup's, since cleanups run newest first.
func latestPanic(ends []ending) string {
	for i, e := range ends {
		switch e {
		case endPanic:
			return fmt.Sprintf("panic panic %d", i)
		case endPanicNil:
			return "panic panic(nil)"
		}
	}
	return ""
}

// TestScopeUnwindsLikeDefer compares a Scope with plain defer statements for
// every combination of up to four cleanups, each ending one of the ways in
// the fault model: the same cleanups run in the same order, the same panic
// or Goexit reaches the caller, every error is kept, and the Scope ends
// closed, so that later Closes return.
func TestScopeUnwindsLikeDefer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		combinations := 0
		for n := 1; n <= 4; n++ {
			ends := make([]ending, n)
			for {
				ref := withDefer(ends)
				for _, closeInto := range []bool{false, true} {
					want := expected(ends, ref, closeInto)
					got := withScope(ends, closeInto)
					require.Equal(t, want, got, "cleanups %v (oldest first), CloseInto %v", ends, closeInto)
				}
				combinations++
				if !nextCombination(ends) {
					break
				}
			}
		}
		require.Equal(t, 6+6*6+6*6*6+6*6*6*6, combinations)
	})
}

// nextCombination steps ends through every combination, like an odometer.
func nextCombination(ends []ending) bool {
	for i := range ends {
		ends[i]++
		if ends[i] < endings {
			return true
		}
		ends[i] = 0
	}
	return false
}
