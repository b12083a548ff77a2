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

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// The fuzz target drives a Scope through random registrations, handle runs
// and cancels, releases, closes and cleanups that fail, panic, call
// runtime.Goexit or overrun their CleanupTimeout, and checks it against a
// model: every cleanup runs exactly once unless it was cancelled, or
// (failure-only) released or skipped by a successful close; the run order
// is newest first; the errors are exactly the failing and overrunning
// cleanups', in run order; the latest panic is raised once all ran, or else
// the Goexit goes on; and the scope ends closed.

type fuzzEnd uint8

const (
	fuzzOK fuzzEnd = iota
	fuzzFails
	fuzzPanics
	fuzzGoexit
	fuzzOverruns
)

type fuzzEntry struct {
	id       int
	failOnly bool
	end      fuzzEnd
	handle   scope.Handle
}

type fuzzModel struct {
	t       *testing.T
	s       *scope.Scope
	pending []*fuzzEntry // oldest first, mirrors s
	release chan struct{}

	mu    sync.Mutex // an overrunning cleanup records itself concurrently
	runs  map[int]int
	order []int

	closed bool
	failed bool // the scope closed as failed
	nextID int
}

func (m *fuzzModel) record(id int) {
	m.mu.Lock()
	m.runs[id]++
	m.order = append(m.order, id)
	m.mu.Unlock()
}

func (m *fuzzModel) takeOrder() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.order
	m.order = nil
	return o
}

func (m *fuzzModel) ran(id int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[id]
}

func (m *fuzzModel) register(e *fuzzEntry) scope.Handle {
	fn := func(context.Context) error {
		m.record(e.id)
		return fuzzEnding(e)
	}
	switch {
	case e.failOnly:
		return m.s.OnFailure(func() error { return fn(context.Background()) })
	case e.end == fuzzOverruns:
		return m.s.DeferContext(func(ctx context.Context) error {
			m.record(e.id)
			<-m.release
			return nil
		})
	default:
		return m.s.Defer(func() error { return fn(context.Background()) })
	}
}

func fuzzEnding(e *fuzzEntry) error {
	switch e.end {
	case fuzzFails:
		return fuzzErr(e.id)
	case fuzzPanics:
		panic(e.id)
	case fuzzGoexit:
		runtime.Goexit()
	}
	return nil
}

type fuzzErr int

func (e fuzzErr) Error() string { return fmt.Sprintf("cleanup %d failed", int(e)) }

// errNames names errors for comparison; which cleanup timed out shows in
// the run order.
func errNames(errs []error) []string {
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

// fuzzOutcome is what closing must do.
type fuzzOutcome struct {
	order []int
	errs  []string
	end   string // "returned", "goexit" or "panic <id>"
}

// expectClose computes what closing the modelled entries must do.
func expectClose(pending []*fuzzEntry, failed bool) (o fuzzOutcome, failedAfter bool) {
	o.end = "returned"
	panicked := false
	for i := len(pending) - 1; i >= 0; i-- {
		e := pending[i]
		if e.failOnly && !failed {
			continue
		}
		o.order = append(o.order, e.id)
		switch e.end {
		case fuzzFails:
			o.errs = append(o.errs, fuzzErr(e.id).Error())
		case fuzzOverruns:
			o.errs = append(o.errs, "timeout")
		case fuzzPanics:
			o.end, panicked = fmt.Sprint("panic ", e.id), true // the latest panic wins, as with defer
		case fuzzGoexit:
			if !panicked {
				o.end = "goexit"
			}
		default:
			continue
		}
		failed = true
	}
	return o, failed
}

// closeAndCheck closes s in a goroutine of its own, so that a Goexit ends
// only that one, as failed (through CloseInto with an error) or not.
func (m *fuzzModel) closeAndCheck(s *scope.Scope, pending []*fuzzEntry, asFailed bool) bool {
	want, failedAfter := expectClose(pending, asFailed)
	m.takeOrder()
	var err error
	end := inGoroutine(func() {
		if asFailed {
			err = errors.New("body")
			defer s.CloseInto(&err)
			return
		}
		defer func() { err = s.Close() }()
	})
	if end != want.end {
		m.t.Fatalf("close ended %q, want %q", end, want.end)
	}
	if got := m.takeOrder(); !slices.Equal(got, want.order) {
		m.t.Fatalf("run order %v, want %v", got, want.order)
	}
	if !asFailed && end != "returned" {
		return failedAfter // Close loses its errors to a panic or Goexit, as any function does
	}
	gotErrs := multierr.Errors(err)
	if asFailed {
		if len(gotErrs) == 0 || gotErrs[0].Error() != "body" {
			m.t.Fatalf("CloseInto lost the body's error: %v", err)
		}
		gotErrs = gotErrs[1:]
	}
	if names := errNames(gotErrs); !slices.Equal(names, want.errs) {
		m.t.Fatalf("errors %v, want %v", names, want.errs)
	}
	if s.Close() != nil || s.Len() != 0 {
		m.t.Fatalf("the scope is not closed")
	}
	return failedAfter
}

func FuzzScope(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 8, 9})
	f.Add([]byte{0, 0, 4, 0, 5, 16, 3, 7})
	f.Add([]byte{1, 3, 0, 2, 6, 0, 1, 9, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 21, 5, 14, 8})
	f.Add([]byte{3, 10, 0, 10, 2, 11, 7, 10, 11})
	f.Add([]byte{0, 11, 10, 4, 1, 3, 11, 6, 10, 8, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		synctest.Test(t, func(t *testing.T) { fuzzScope(t, 0, ops) })
	})
}

// FuzzScopeLarge is FuzzScope on a Scope that starts with 64 to 319
// cleanups (the first byte says how many more than 64), so that handles,
// releases and closes work across its chunks of entries.
func FuzzScopeLarge(f *testing.F) {
	f.Add([]byte{10, 5, 0, 4, 9, 5, 72, 4, 140, 8})
	f.Add([]byte{200, 0, 1, 5, 7, 4, 8, 5, 100, 6, 4, 3, 9})
	f.Add([]byte{77, 5, 70, 5, 70, 5, 70, 5, 8, 5, 8, 9, 2, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		synctest.Test(t, func(t *testing.T) { fuzzScope(t, 64+int(ops[0]), ops[1:]) })
	})
}

// fuzzScope runs ops on a Scope holding prefill cleanups that succeed.
func fuzzScope(t *testing.T, prefill int, ops []byte) {
	m := &fuzzModel{t: t, s: scope.New(scope.CleanupTimeout(time.Second)), runs: map[int]int{}, release: make(chan struct{})}
	defer synctest.Wait() // the abandoned cleanups return
	defer close(m.release)
	for range prefill {
		m.nextID++
		e := &fuzzEntry{id: m.nextID}
		e.handle = m.register(e)
		m.pending = append(m.pending, e)
	}
	var released []struct {
		s       *scope.Scope
		pending []*fuzzEntry
	}
	cancelled := map[int]bool{}
	for i := 0; i < len(ops); i++ {
		op := ops[i] % 12
		arg := 0
		if i+1 < len(ops) {
			arg = int(ops[i+1])
		}
		switch op {
		case 0, 1, 2, 3, 10, 11: // register: 1 fails, 2 panics, 3 is failure-only, 10 Goexits, 11 overruns
			m.nextID++
			e := &fuzzEntry{id: m.nextID, failOnly: op == 3}
			e.end = map[byte]fuzzEnd{1: fuzzFails, 2: fuzzPanics, 10: fuzzGoexit, 11: fuzzOverruns}[op]
			if m.closed {
				// runs at once (failure-only: only after a failed close)
				runs := !e.failOnly || m.failed
				end := inGoroutine(func() { e.handle = m.register(e) })
				var err error
				if e.handle != (scope.Handle{}) {
					err = e.handle.Run() // reports the late run's error
				}
				m.checkDirectRun(e, runs, end, err, "late cleanup")
				continue
			}
			e.handle = m.register(e)
			m.pending = append(m.pending, e)
		case 4, 5: // run (4) or cancel (5) a pending entry through its handle
			if len(m.pending) == 0 {
				continue
			}
			i++
			k := arg % len(m.pending)
			e := m.pending[k]
			m.pending = slices.Delete(m.pending, k, k+1)
			if op == 5 {
				if !e.handle.Cancel() {
					t.Fatalf("cancel of pending %d failed", e.id)
				}
				cancelled[e.id] = true
				continue
			}
			var err error
			end := inGoroutine(func() { err = e.handle.Run() })
			m.checkDirectRun(e, true, end, err, "handle run")
			if e.handle.Cancel() || e.handle.Run() != nil {
				t.Fatalf("handle of %d still controls its entry", e.id)
			}
		case 6: // release into a new scope, closed at the end
			if m.closed {
				continue
			}
			var moved []*fuzzEntry
			for _, e := range m.pending {
				if !e.failOnly { // the construction's rollbacks are dropped
					moved = append(moved, e)
				}
			}
			released = append(released, struct {
				s       *scope.Scope
				pending []*fuzzEntry
			}{m.s.Release(), moved})
			m.pending = nil
		case 7, 8: // close as succeeded (7) or failed (8)
			if m.closed {
				m.takeOrder()
				if err := m.s.Close(); err != nil || len(m.takeOrder()) != 0 {
					t.Fatalf("second close returned %v or ran something", err)
				}
				continue
			}
			m.failed = m.closeAndCheck(m.s, m.pending, op == 8)
			m.pending, m.closed = nil, true
		case 9: // Len agrees with the model
			if m.s.Len() != len(m.pending) {
				t.Fatalf("Len %d, want %d", m.s.Len(), len(m.pending))
			}
		}
	}
	if !m.closed {
		m.closeAndCheck(m.s, m.pending, false)
	}
	for _, r := range released {
		m.closeAndCheck(r.s, r.pending, false)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, n := range m.runs {
		if n != 1 {
			t.Fatalf("cleanup %d ran %d times", id, n)
		}
		if cancelled[id] {
			t.Fatalf("cancelled cleanup %d ran", id)
		}
	}
}

// checkDirectRun checks a cleanup run outside of Close (at registration
// after close, or by its handle): it ran if it should, once, and ended the
// way it was told to, a timeout error standing for an overrun.
func (m *fuzzModel) checkDirectRun(e *fuzzEntry, runs bool, end string, err error, what string) {
	if got := m.ran(e.id); runs != (got == 1) {
		m.t.Fatalf("%s %d ran %d times", what, e.id, got)
	}
	want := "returned"
	if runs {
		switch e.end {
		case fuzzPanics:
			want = fmt.Sprint("panic ", e.id)
		case fuzzGoexit:
			want = "goexit"
		}
	}
	if end != want {
		m.t.Fatalf("%s %d ended %q, want %q", what, e.id, end, want)
	}
	if !runs || end != "returned" {
		return
	}
	switch {
	case e.end == fuzzFails && !errors.Is(err, fuzzErr(e.id)),
		e.end == fuzzOverruns && !errors.Is(err, scope.ErrCleanupTimeout),
		(e.end == fuzzOK) != (err == nil):
		m.t.Fatalf("%s %d returned %v", what, e.id, err)
	}
}
